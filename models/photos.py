"""Photos: the files people upload (`upload`), what they are attached to (`attachment`), and the
pure rules around them — which attachment is whose to give, what a WeChat cloud file id looks like,
and the signature of a file's short-lived URL.

An upload is stored once and attached by its uploader to reports, comments, resolutions,
meeting minutes and notices; a WeChat cloud file id (`cloud://…`) is attached as it is, its file being
WeChat's. Until WeChat's image check has passed an upload (`HELD`), or after it failed one
(`REJECTED`), only its uploader sees it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import uuid
from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from models.base import created_at, fk, uuid_pk
from models.enums import check_in

#: photos on one report, comment, resolution or set of minutes (links included)
PHOTOS_MAX = 9
CLOUD_PREFIX = "cloud://"
CLOUD_ID_MAX = 500


class UploadStatus(StrEnum):
    #: shown to whoever may read what it is attached to
    PASSED = "PASSED"
    #: waiting for WeChat's image check: shown to its uploader only
    HELD = "HELD"
    #: WeChat's image check failed it: shown to its uploader only, and never attached again
    REJECTED = "REJECTED"


class AttachedTo(StrEnum):
    """The kinds of object a photo is attached to; each object's own read policy decides who sees it."""

    TASK = "TASK"
    #: a comment or a resolution on a task's timeline
    TASK_EVENT = "TASK_EVENT"
    MEETING = "MEETING"
    NOTICE = "NOTICE"
    #: the photo or scan of a paper ballot, seen only by those who enter paper ballots
    PAPER_BALLOT = "PAPER_BALLOT"
    #: the signed 委托书 of a written proxy, seen by its owner, its proxy and those who check it
    PROXY = "PROXY"
    #: the evidence of an objection to an entry of a vote's owner roll
    VOTE_OBJECTION = "VOTE_OBJECTION"
    #: a signed 同意书 of a household directly affected by works
    WORKS_CONSENT = "WORKS_CONSENT"


#: the image formats accepted (Pillow's names) and the media type each is served as
MEDIA_TYPES = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp", "HEIF": "image/heic"}
#: files that are not photos (a notice's 通知 as a PDF): kept as they came, attached to notices only
PDF = "application/pdf"
#: where files that are not photos may be attached
FILES_ON = frozenset({AttachedTo.NOTICE})
#: the `purpose` of an upload that is a paper record (a ballot, a signed 委托书 or 同意书, evidence
#: for the owner roll): never sent to WeChat's image check, attached only to `RECORDS_ON`
RECORD_PURPOSE = "record"
#: what only its owner and the committees see, where a record may be attached
RECORDS_ON = frozenset(
    {AttachedTo.PAPER_BALLOT, AttachedTo.PROXY, AttachedTo.VOTE_OBJECTION, AttachedTo.WORKS_CONSENT}
)
FILE_NAME_MAX = 100


class Upload(SQLModel, table=True):
    """One uploaded image as it is stored: re-encoded without its EXIF, with a thumbnail beside it."""

    __tablename__ = "upload"
    __table_args__ = (
        sa.CheckConstraint(check_in("status", UploadStatus), name="upload_status_valid"),
        sa.Index("upload_check_trace", "check_trace_id", unique=True),
        # the jobs' scans: held photos to ask about again, uploads attached to nothing
        sa.Index("upload_held", "created_at", postgresql_where=sa.text("status = 'HELD'")),
        sa.Index("upload_created", "created_at"),
    )
    id: uuid.UUID = uuid_pk()
    owner_id: uuid.UUID = fk("person.id")
    #: of the stored (cleaned) file
    sha256: str = Field(sa_type=sa.Text)
    size_bytes: int
    media_type: str = Field(sa_type=sa.Text)
    width: int
    height: int
    status: UploadStatus = Field(sa_type=sa.Text)
    #: the name it was uploaded under, shown with a file that is not a photo (a PDF)
    file_name: str | None = Field(default=None, sa_type=sa.Text)
    #: a paper record (`RECORD_PURPOSE`): not sent to WeChat, attached to `RECORDS_ON` only
    private: bool = Field(default=False, sa_column_kwargs={"server_default": sa.false()})
    #: WeChat's `trace_id` of the image check (`mediaCheckAsync`), whose callback names it
    check_trace_id: str | None = Field(default=None, sa_type=sa.Text)
    #: when WeChat was last asked (or a job claimed it to ask), so that a verdict that never came is
    #: asked for again, once, an hour later
    check_asked_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    checked_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    created_at: datetime = created_at()


class Attachment(SQLModel, table=True):
    """A photo in its place on an object: an upload of ours or a WeChat cloud file, never both."""

    __tablename__ = "attachment"
    __table_args__ = (
        sa.CheckConstraint(check_in("object_type", AttachedTo), name="attachment_object_type_valid"),
        sa.CheckConstraint(
            "(upload_id IS NULL) <> (cloud_file_id IS NULL)", name="attachment_upload_or_cloud_file"
        ),
        sa.CheckConstraint(f"position >= 0 AND position < {PHOTOS_MAX}", name="attachment_position_range"),
        sa.UniqueConstraint("object_type", "object_id", "position", name="attachment_place"),
    )
    id: uuid.UUID = uuid_pk()
    object_type: AttachedTo = Field(sa_type=sa.Text)
    object_id: uuid.UUID = Field(sa_type=sa.Uuid)
    position: int = Field(sa_type=sa.SmallInteger)
    upload_id: uuid.UUID | None = fk("upload.id", nullable=True, ondelete="RESTRICT")
    cloud_file_id: str | None = Field(default=None, sa_type=sa.Text)
    created_at: datetime = created_at()


# --- rules ----------------------------------------------------------------------------------------


def cloud_file_problem(value: str) -> str | None:
    """What is wrong with a WeChat cloud file id (`cloud://<env>.<bucket>/<path>`), or None."""
    rest = value[len(CLOUD_PREFIX) :] if value.startswith(CLOUD_PREFIX) else None
    if rest is None or len(value) > CLOUD_ID_MAX or any(c.isspace() or ord(c) < 32 for c in value):
        return "云文件编号格式不正确（应为 cloud:// 开头的微信云存储文件 ID）。"
    env, _, path = rest.partition("/")
    if not env or not path or ".." in path.split("/"):
        return "云文件编号格式不正确（应为 cloud:// 开头的微信云存储文件 ID）。"
    return None


def attach_problem(owner_id: uuid.UUID, status: str, who: uuid.UUID) -> str | None:
    """Why a person may not attach an upload, or None: only its uploader attaches it, and never
    once WeChat's image check has failed it."""
    if owner_id != who:
        return "只能使用您自己上传的照片。"
    if status == UploadStatus.REJECTED:
        return "这张照片未通过微信图片安全检查，不能使用。"
    return None


def kind_problem(
    media_type: str, object_type: AttachedTo, as_file: bool, private: bool = False
) -> str | None:
    """Why an upload may not be attached as asked, or None: photos as photos, PDFs as files, files
    on notices only, records where only their owner and the committees see them."""
    if private and object_type not in RECORDS_ON:
        return "这是书面材料（purpose=record）的照片，只能用于选票、委托书、同意书和名册异议。"
    if media_type == PDF:
        if not as_file:
            return "这是文件，不是照片：请作为附件文件添加。"
        if object_type not in FILES_ON:
            return "只有公告可以附带文件；事项、评论和会议请上传照片。"
        return None
    return "附件文件只能是 PDF；照片请作为照片添加。" if as_file else None


def clean_file_name(name: str | None) -> str | None:
    """An uploaded file's name as it is shown: its last path part, printable, at most 100 characters."""
    if not name:
        return None
    last = name.replace("\\", "/").rsplit("/", 1)[-1]
    kept = "".join(c for c in last if c.isprintable()).strip()
    return kept[:FILE_NAME_MAX] or None


def shown_to(owner_id: uuid.UUID | None, status: str | None, who: uuid.UUID | None) -> bool:
    """Whether an attached photo is shown to a reader of its object: a cloud file (no upload) and a
    passed upload always, a held or rejected upload to its uploader only."""
    return status is None or status == UploadStatus.PASSED or (who is not None and owner_id == who)


def file_signature(key: bytes, upload_id: uuid.UUID, expires: int) -> str:
    """The signature of a file's URL: an HMAC of the upload and the moment the URL stops working.
    It covers the file and its thumbnail alike, so that a photo costs one computation."""
    digest = hmac.new(key, f"{upload_id}.{expires}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest[:18]).decode()


def signature_valid(key: bytes, upload_id: uuid.UUID, expires: int, signature: str, now: float) -> bool:
    """Whether a URL's signature is ours and has not expired."""
    if expires < now:
        return False
    return hmac.compare_digest(file_signature(key, upload_id, expires), signature)


def url_expiry(now: float, ttl_seconds: int, step: int = 600) -> int:
    """When a URL minted now stops working: at least `ttl_seconds` from now, rounded up to `step`,
    so that the same photo read again within minutes has the same URL (and stays in the client's
    image cache)."""
    return (int(now + ttl_seconds) // step + 1) * step
