"""Where uploaded files are kept: one small interface (`Storage`), a directory under
`QILIJIA_DATA_DIR` by default, an S3-compatible bucket (COS, OSS, MinIO, S3) when configured.

Files are named by keys the server makes (`uploads/<uuid>`, `uploads/<uuid>.thumb`), never by what a
client sent, and are reached only through the signed `/files/…` URLs: a bucket needs no public
access.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import tempfile
from pathlib import Path
from typing import Any, Protocol

from app.settings import Settings

_KEY = re.compile(r"^[a-z]+/[0-9a-f-]{36}(\.thumb)?$")


class Storage(Protocol):
    """A store of whole files by key."""

    async def put(self, key: str, content: bytes, media_type: str) -> None: ...

    async def get(self, key: str) -> bytes | None:
        """The file's content, or None when there is none under the key."""
        ...

    async def delete(self, key: str) -> None:
        """Forget the file; a key that holds none is no error."""
        ...


def original_key(upload_id: object) -> str:
    return f"uploads/{upload_id}"


def thumbnail_key(upload_id: object) -> str:
    return f"uploads/{upload_id}.thumb"


def _checked(key: str) -> str:
    if not _KEY.match(key):
        raise ValueError(f"not a storage key: {key!r}")
    return key


class DirectoryStorage:
    """Files in a directory: written to a temporary name and renamed, so that a reader never sees
    half a file, and readable by the server's user only."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, key: str) -> Path:
        return self.root / _checked(key)

    async def put(self, key: str, content: bytes, media_type: str) -> None:
        await asyncio.to_thread(self._write, self._path(key), content)

    @staticmethod
    def _write(path: Path, content: bytes) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".part-")
        try:
            with os.fdopen(handle, "wb") as out:
                out.write(content)
            os.chmod(temporary, 0o600)
            os.replace(temporary, path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temporary)
            raise

    async def get(self, key: str) -> bytes | None:
        path = self._path(key)
        try:
            return await asyncio.to_thread(path.read_bytes)
        except FileNotFoundError:
            return None

    async def delete(self, key: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            await asyncio.to_thread(self._path(key).unlink)


class S3Storage:
    """Files in an S3-compatible bucket, through boto3 (its blocking calls run in a thread)."""

    def __init__(self, client: Any, bucket: str, prefix: str = "") -> None:
        self.client = client
        self.bucket = bucket
        self.prefix = prefix

    def _key(self, key: str) -> str:
        return self.prefix + _checked(key)

    async def put(self, key: str, content: bytes, media_type: str) -> None:
        await asyncio.to_thread(
            self.client.put_object,
            Bucket=self.bucket,
            Key=self._key(key),
            Body=content,
            ContentType=media_type,
        )

    async def get(self, key: str) -> bytes | None:
        def read() -> bytes | None:
            try:
                answer = self.client.get_object(Bucket=self.bucket, Key=self._key(key))
            except self.client.exceptions.NoSuchKey:
                return None
            return bytes(answer["Body"].read())

        return await asyncio.to_thread(read)

    async def delete(self, key: str) -> None:
        await asyncio.to_thread(self.client.delete_object, Bucket=self.bucket, Key=self._key(key))


def storage_from(settings: Settings) -> Storage:
    """The bucket when `QILIJIA_S3_BUCKET` is set, else `<QILIJIA_DATA_DIR>/files`."""
    if not settings.s3_bucket:
        return DirectoryStorage(settings.data_dir / "files")
    import boto3  # only a deployment with a bucket pays for importing it

    client = boto3.client(
        "s3",
        endpoint_url=settings.s3_endpoint or None,
        region_name=settings.s3_region or None,
        aws_access_key_id=settings.s3_access_key_id or None,
        aws_secret_access_key=settings.s3_secret_access_key.get_secret_value()
        if settings.s3_secret_access_key
        else None,
    )
    return S3Storage(client, settings.s3_bucket, settings.s3_prefix)
