"""Photos on reports, comments, resolutions and meeting minutes: recording an upload, attaching
uploads and WeChat cloud files to an object, and reading an object's photos with their URLs.

Who may see a photo is decided by its object's own read policy, and nowhere else: photos are read
only for objects the caller has already been given through the policy-filtered read, and a URL is
minted only there. A URL is signed and short-lived (`models.photos.file_signature`), so it cannot be
guessed and stops working; the file endpoint checks the signature alone, and never the database.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from strawberry.dataloader import DataLoader

from auth.principal import PersonPrincipal
from auth.wechat import WeChatClient
from models.errors import BadUserInputError, QilijiaError
from models.person import Person
from models.photos import (
    CLOUD_PREFIX,
    PDF,
    PHOTOS_MAX,
    AttachedTo,
    Attachment,
    Upload,
    UploadStatus,
    attach_problem,
    cloud_file_problem,
    file_signature,
    kind_problem,
    shown_to,
    url_expiry,
)
from resolvers.context import Context
from resolvers.ids import decode, encode
from resolvers.loaders import Loader

#: a held photo WeChat was never asked about (it was down or slow at the upload) is asked about
#: again from a minute after its upload, for a day
RECHECK_AFTER_SECONDS = 60
RECHECK_WITHIN_SECONDS = 24 * 3600
#: a verdict not pushed this long after WeChat was asked is asked for again (a push lost)
VERDICT_AWAITED_SECONDS = 3600
RECHECK_BATCH = 20
#: how long one ask may take before the round stops (WeChat still away: the next round asks)
RECHECK_TIMEOUT_SECONDS = 5

# --- links ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PhotoLinks:
    """Mints the signed URLs of uploaded files (`GET /files/<id>?exp=…&sig=…[&thumb=1]`)."""

    key: bytes
    ttl_seconds: int
    #: the server's public address; None: the address the request came to
    public_url: str | None = None

    def base(self, request: Any) -> str:
        if self.public_url:
            return self.public_url.rstrip("/")
        if request is None or not hasattr(request, "base_url"):
            return ""
        base = str(request.base_url).rstrip("/")  # a WebSocket's (a subscription) is ws:// or wss://
        return "http" + base[2:] if base.startswith(("ws://", "wss://")) else base

    def mint(self, base: str, upload_id: uuid.UUID, now: float | None = None) -> tuple[str, str]:
        """The file's URL and its thumbnail's: one signature for both."""
        expires = url_expiry(time.time() if now is None else now, self.ttl_seconds)
        url = f"{base}/files/{upload_id}?exp={expires}&sig={file_signature(self.key, upload_id, expires)}"
        return url, url + "&thumb=1"


@dataclass(frozen=True)
class PhotoView:
    """A photo as a reader is shown it."""

    url: str
    thumbnail_url: str
    width: int | None
    height: int | None
    status: UploadStatus
    #: an upload's type (None for a link or a cloud file), and a file's name and size
    media_type: str | None = None
    file_name: str | None = None
    size_bytes: int | None = None

    @property
    def is_file(self) -> bool:
        """A file that is not a photo (a PDF on a notice)."""
        return self.media_type == PDF


def link_photos(urls: Sequence[str]) -> list[PhotoView]:
    """A report's photos given as https links (`photoUrls`): shown as they are."""
    return [PhotoView(u, u, None, None, UploadStatus.PASSED) for u in urls]


# --- references -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class PhotoRef:
    """One photo a client attaches: an upload of ours (its global id) or a WeChat cloud file id."""

    upload_id: uuid.UUID | None = None
    cloud_file_id: str | None = None
    #: attached as a file that is not a photo (a PDF on a notice)
    as_file: bool = False


def parse_refs(
    values: Sequence[str] | None, *, field: str = "photos", besides: int = 0, as_file: bool = False
) -> list[PhotoRef]:
    """The photos (or, `as_file`, the files) a client named, in its order, each once; at most nine
    with the `besides` the object has already."""
    refs: list[PhotoRef] = []
    for raw in values or []:
        value = raw.strip()
        if as_file:
            try:
                ref = PhotoRef(upload_id=decode(value, "Upload")[1], as_file=True)
            except BadUserInputError:
                raise BadUserInputError(
                    "文件编号格式不正确：请填写上传文件得到的编号。", field=field
                ) from None
        elif value.startswith(CLOUD_PREFIX):
            problem = cloud_file_problem(value)
            if problem is not None:
                raise BadUserInputError(problem, field=field)
            ref = PhotoRef(cloud_file_id=value)
        else:
            try:
                ref = PhotoRef(upload_id=decode(value, "Upload")[1])
            except BadUserInputError:
                raise BadUserInputError(
                    "照片编号格式不正确：请填写上传照片得到的编号，或 cloud:// 开头的云文件 ID。", field=field
                ) from None
        if ref not in refs:
            refs.append(ref)
    if len(refs) + besides > PHOTOS_MAX:
        raise BadUserInputError(f"最多 {PHOTOS_MAX} 张照片。", field=field)
    return refs


async def attach(
    session: AsyncSession,
    who: PersonPrincipal,
    object_type: AttachedTo,
    object_id: uuid.UUID,
    refs: Sequence[PhotoRef],
    *,
    field: str = "photos",
    replace: bool = False,
) -> None:
    """Attach photos to an object, in the mutation's transaction (a refused photo writes nothing).
    Only its uploader attaches an upload, and not one WeChat's image check has failed; when the
    attachments are replaced, those the object has already stay whoever replaces them."""
    wanted = [r.upload_id for r in refs if r.upload_id is not None]
    already: set[uuid.UUID] = set()
    if replace:
        a = Attachment.__table__
        current = await session.execute(
            sa.select(a.c.upload_id).where(
                a.c.object_type == object_type.value, a.c.object_id == object_id, a.c.upload_id.is_not(None)
            )
        )
        already = set(current.scalars())
    if wanted:
        found = {
            row.id: row
            for row in await session.execute(
                sa.select(Upload.id, Upload.owner_id, Upload.status, Upload.media_type, Upload.private).where(
                    Upload.id.in_(wanted)
                )
            )
        }
        for ref in refs:
            if ref.upload_id is None:
                continue
            row = found.get(ref.upload_id)
            if row is None:
                raise BadUserInputError("没有找到这张照片，请重新上传。", field=field)
            mine = ref.upload_id in already or attach_problem(row.owner_id, row.status, who.person_id) is None
            problem = (
                attach_problem(row.owner_id, row.status, who.person_id)
                if not mine
                else kind_problem(row.media_type, object_type, ref.as_file, row.private)
            )
            if problem is not None:
                raise BadUserInputError(problem, field="files" if ref.as_file else field)
    if replace:
        await session.execute(
            sa.delete(Attachment).where(
                Attachment.object_type == object_type, Attachment.object_id == object_id
            )
        )
    for position, ref in enumerate(refs):
        session.add(
            Attachment(
                object_type=object_type,
                object_id=object_id,
                position=position,
                upload_id=ref.upload_id,
                cloud_file_id=ref.cloud_file_id,
            )
        )
    try:
        await session.flush()
    except sa.exc.IntegrityError:
        # an upload forgotten by the clean-up (a day unattached) at this very moment
        raise BadUserInputError("没有找到这张照片，请重新上传。", field=field) from None


@dataclass(frozen=True)
class Attached:
    """An object's attachments as a client names them: photos (upload ids, cloud files), files."""

    photos: list[str]
    files: list[str]


async def attached_refs(session: AsyncSession, object_type: AttachedTo, object_id: uuid.UUID) -> Attached:
    """What is attached to an object now, in order, as the refs a client would give."""
    a, u = Attachment.__table__, Upload.__table__
    rows = await session.execute(
        sa.select(a.c.upload_id, a.c.cloud_file_id, u.c.media_type)
        .select_from(a.outerjoin(u, u.c.id == a.c.upload_id))
        .where(a.c.object_type == object_type.value, a.c.object_id == object_id)
        .order_by(a.c.position)
    )
    found = Attached([], [])
    for r in rows:
        if r.cloud_file_id is not None:
            found.photos.append(r.cloud_file_id)
        else:
            (found.files if r.media_type == PDF else found.photos).append(global_id(r.upload_id))
    return found


# --- reading --------------------------------------------------------------------------------------


def _loader(ctx: Context) -> DataLoader[tuple[AttachedTo, uuid.UUID], list[PhotoView]]:
    def build() -> DataLoader[tuple[AttachedTo, uuid.UUID], list[PhotoView]]:
        links: PhotoLinks | None = ctx.services.photo_links
        reader = getattr(ctx.principal, "person_id", None)

        async def load(keys: Sequence[tuple[AttachedTo, uuid.UUID]]) -> list[list[PhotoView]]:
            a, u = Attachment.__table__, Upload.__table__
            statement = (
                sa.select(
                    a.c.object_type,
                    a.c.object_id,
                    a.c.cloud_file_id,
                    u.c.id,
                    u.c.owner_id,
                    u.c.status,
                    u.c.width,
                    u.c.height,
                    u.c.media_type,
                    u.c.file_name,
                    u.c.size_bytes,
                )
                .select_from(a.outerjoin(u, u.c.id == a.c.upload_id))
                .where(sa.tuple_(a.c.object_type, a.c.object_id).in_([(str(t), i) for t, i in keys]))
                .order_by(a.c.object_type, a.c.object_id, a.c.position)
            )
            async with ctx.sessions() as session:
                rows = (await session.execute(statement)).all()
            base = links.base(ctx.request) if links is not None else ""
            now = time.time()
            found: dict[tuple[str, uuid.UUID], list[PhotoView]] = defaultdict(list)
            for row in rows:
                if not shown_to(row.owner_id, row.status, reader):
                    continue
                if row.cloud_file_id is not None:
                    view = PhotoView(row.cloud_file_id, row.cloud_file_id, None, None, UploadStatus.PASSED)
                elif links is None:
                    continue
                else:
                    url, thumb = links.mint(base, row.id, now)
                    view = PhotoView(
                        url,
                        thumb,
                        row.width,
                        row.height,
                        UploadStatus(row.status),
                        row.media_type,
                        row.file_name,
                        row.size_bytes,
                    )
                found[(row.object_type, row.object_id)].append(view)
            return [found.get((str(t), i), []) for t, i in keys]

        return Loader(load_fn=load)

    return ctx.loaders.cached("photos", build)


async def photos_of(ctx: Context, object_type: AttachedTo, object_id: uuid.UUID) -> list[PhotoView]:
    """The photos of an object the caller has been given (so may read), in their order; batched
    across every object of a screen (one statement)."""
    return await _loader(ctx).load((object_type, object_id))


def forget(ctx: Context, object_type: AttachedTo, object_id: uuid.UUID) -> None:
    ctx.loaders.forget("photos", (object_type, object_id))


# --- uploads --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class NewUpload:
    id: uuid.UUID
    owner_id: uuid.UUID
    sha256: str
    size_bytes: int
    media_type: str
    width: int
    height: int
    status: UploadStatus
    file_name: str | None = None
    private: bool = False


#: an upload attached to nothing a day after it was made is forgotten, row and files
UNATTACHED_FOR_SECONDS = 24 * 3600


async def forget_unattached(
    sessions: async_sessionmaker[AsyncSession], *, limit: int = 200
) -> list[uuid.UUID]:
    """Delete the rows of uploads attached to nothing a day after they were made (a photo taken
    and never sent with a report); returns their ids, whose files the caller deletes next. An
    attachment made at the same moment keeps its upload: the row is deleted only if none refers to
    it when the deletion commits (the reference's key lock waits for it, or it for the reference)."""
    u, a = Upload.__table__, Attachment.__table__
    old = (
        sa.select(u.c.id)
        .where(
            u.c.created_at < sa.func.now() - sa.func.make_interval(0, 0, 0, 0, 0, 0, UNATTACHED_FOR_SECONDS),
            ~sa.exists().where(a.c.upload_id == u.c.id),
        )
        .order_by(u.c.created_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    async with sessions() as session, session.begin():
        gone = await session.execute(sa.delete(u).where(u.c.id.in_(old.scalar_subquery())).returning(u.c.id))
        return list(gone.scalars())


async def uploaded_lately(sessions: async_sessionmaker[AsyncSession], person_id: uuid.UUID) -> int:
    """How many files a person uploaded in the last hour (their upload budget is counted here)."""
    async with sessions() as session:
        counted = await session.execute(
            sa.select(sa.func.count()).where(
                Upload.owner_id == person_id, Upload.created_at > sa.func.now() - sa.text("interval '1 hour'")
            )
        )
        return int(counted.scalar_one())


async def record(sessions: async_sessionmaker[AsyncSession], new: NewUpload) -> None:
    """The upload's row, committed (its files are already stored)."""
    async with sessions() as session, session.begin():
        session.add(
            Upload(
                id=new.id,
                owner_id=new.owner_id,
                sha256=new.sha256,
                size_bytes=new.size_bytes,
                media_type=new.media_type,
                width=new.width,
                height=new.height,
                status=new.status,
                file_name=new.file_name,
                private=new.private,
            )
        )


def global_id(upload_id: uuid.UUID) -> str:
    return encode("Upload", upload_id)


async def openid_of(sessions: async_sessionmaker[AsyncSession], person_id: uuid.UUID) -> str | None:
    async with sessions() as session:
        return (await session.execute(sa.select(Person.wechat_openid).where(Person.id == person_id))).scalar()


async def await_check(
    sessions: async_sessionmaker[AsyncSession], upload_id: uuid.UUID, trace_id: str
) -> None:
    """Remember which image check's verdict decides an upload, and when it was asked for."""
    async with sessions() as session, session.begin():
        await session.execute(
            sa.update(Upload)
            .where(Upload.id == upload_id)
            .values(check_trace_id=trace_id, check_asked_at=sa.func.now())
        )


async def decide(sessions: async_sessionmaker[AsyncSession], trace_id: str, *, passed: bool) -> bool | None:
    """Apply WeChat's verdict to the upload its check named: passed is shown, failed is refused for
    good. True when applied, False when it was decided already (a repeated push), None when no
    upload waits for this check (yet: WeChat may push before we stored its trace id)."""
    status = UploadStatus.PASSED if passed else UploadStatus.REJECTED
    async with sessions() as session, session.begin():
        applied = (
            await session.execute(
                sa.update(Upload)
                .where(Upload.check_trace_id == trace_id, Upload.status == UploadStatus.HELD)
                .values(status=status, checked_at=sa.func.now())
                .returning(Upload.id)
            )
        ).first()
        if applied is not None:
            return True
        known = (await session.execute(sa.select(Upload.id).where(Upload.check_trace_id == trace_id))).first()
    return False if known is not None else None


async def recheck_held(
    sessions: async_sessionmaker[AsyncSession], wechat: WeChatClient | None, links: PhotoLinks | None
) -> int:
    """Ask WeChat's image check again about held photos: those it could not be asked about at the
    upload (down, slow), from a minute later, and those whose verdict never came (a push lost), an
    hour after they were asked; for a day after the upload. Otherwise such a photo would stay held,
    seen by its uploader only, for good. WeChat fetches the photo from its signed URL, so the
    server's public address must be set (`QILIJIA_PUBLIC_URL`).

    Each is claimed in a short transaction (SKIP LOCKED; `check_asked_at` keeps it from the next
    claims), WeChat is called with no transaction open, and its answer is stored in another, so
    that a verdict pushed at once finds its photo. Returns how many were asked; the first failure
    ends the round."""
    if wechat is None or links is None or not links.public_url:
        return 0
    u, p = Upload.__table__, Person.__table__
    now = sa.func.now()

    def ago(seconds: int) -> Any:
        return now - sa.func.make_interval(0, 0, 0, 0, 0, 0, seconds)

    due = (
        sa.select(u.c.id)
        .join(p, p.c.id == u.c.owner_id)
        .where(
            u.c.status == UploadStatus.HELD.value,
            u.c.created_at > ago(RECHECK_WITHIN_SECONDS),
            p.c.wechat_openid.is_not(None),
            sa.or_(
                sa.and_(
                    u.c.check_trace_id.is_(None),
                    u.c.check_asked_at.is_(None),
                    u.c.created_at < ago(RECHECK_AFTER_SECONDS),
                ),
                u.c.check_asked_at < ago(VERDICT_AWAITED_SECONDS),
            ),
        )
        .order_by(u.c.created_at)
        .limit(RECHECK_BATCH)
        .with_for_update(of=u, skip_locked=True)
    )
    async with sessions() as session, session.begin():
        claimed = (
            await session.execute(
                sa.update(u)
                .where(u.c.id.in_(due.scalar_subquery()))
                .values(check_asked_at=now)
                .returning(u.c.id, u.c.owner_id)
            )
        ).all()
        openids = {
            r.id: r.wechat_openid
            for r in await session.execute(
                sa.select(p.c.id, p.c.wechat_openid).where(p.c.id.in_({c.owner_id for c in claimed}))
            )
        }
    asked = 0
    for index, row in enumerate(claimed):
        url, _ = links.mint(links.base(None), row.id)
        try:
            async with asyncio.timeout(RECHECK_TIMEOUT_SECONDS):
                trace_id = await wechat.media_check_async(openids[row.owner_id], url)
        except (TimeoutError, QilijiaError):
            # WeChat still away: those never asked are claimed again next round
            rest = [r.id for r in claimed[index:]]
            async with sessions() as session, session.begin():
                await session.execute(
                    sa.update(u)
                    .where(u.c.id.in_(rest), u.c.check_trace_id.is_(None))
                    .values(check_asked_at=None)
                )
            break
        async with sessions() as session, session.begin():
            await session.execute(sa.update(u).where(u.c.id == row.id).values(check_trace_id=trace_id))
        asked += 1
    return asked
