"""Photos as GraphQL sees them: the `Photo` type shown on reports, timeline records and meetings,
and the `photos` argument their mutations take (upload ids from `POST /uploads`, or WeChat cloud
file ids)."""

from __future__ import annotations

import uuid
from typing import Annotated

import strawberry
from strawberry.types import Info

from models.photos import AttachedTo
from models.photos import UploadStatus as UploadStatusEnum
from resolvers import photos as photo_resolvers
from resolvers.context import Context
from resolvers.photos import PhotoView
from schema import docs

PhotoStatus = docs.enum(
    UploadStatusEnum,
    "照片的审核状态（微信图片安全检查）。",
    {
        "PASSED": "已通过（或无需检查），能看到该内容的人都能看到。",
        "HELD": "等待微信图片安全检查，通过前只有上传人能看到。",
        "REJECTED": "未通过微信图片安全检查，只有上传人能看到，且不能再使用。",
    },
    name="PhotoStatus",
)

PHOTOS_ARGUMENT = (
    "照片（最多 9 张，按顺序）：上传照片（`POST /uploads`）得到的编号，或 `cloud://` 开头的微信云存储文件 ID。"
    "只能使用自己上传的照片。"
)
Photos = Annotated[list[str] | None, strawberry.argument(description=PHOTOS_ARGUMENT)]


@strawberry.type(description="一张照片：链接短时有效（约一小时），请每次显示前重新读取，不要保存链接。")
class Photo:
    url: str = strawberry.field(
        description="原图链接（已去除拍摄地点等 EXIF 信息）；云文件为其 cloud:// ID。"
    )
    thumbnail_url: str = strawberry.field(description="缩略图链接（长边 480 像素）。")
    width: int | None = strawberry.field(description="宽度（像素）；外部链接和云文件为空。")
    height: int | None = strawberry.field(description="高度（像素）；外部链接和云文件为空。")
    status: PhotoStatus = strawberry.field(description="审核状态。")

    @classmethod
    def from_view(cls, view: PhotoView) -> Photo:
        return cls(
            url=view.url,
            thumbnail_url=view.thumbnail_url,
            width=view.width,
            height=view.height,
            status=UploadStatusEnum(view.status),
        )


async def photos_of(info: Info[Context, None], object_type: AttachedTo, object_id: uuid.UUID) -> list[Photo]:
    """The photos an object shows (an object the caller has been given, so may read)."""
    views = await photo_resolvers.photos_of(info.context, object_type, object_id)
    return [Photo.from_view(v) for v in views if not v.is_file]


@strawberry.type(description="一个附件文件（PDF）：链接短时有效（约一小时），请每次打开前重新读取。")
class AttachedFile:
    url: str = strawberry.field(
        description="文件链接（小程序用 wx.downloadFile 下载后 wx.openDocument 打开）。"
    )
    name: str | None = strawberry.field(description="上传时的文件名。")
    size_bytes: int | None = strawberry.field(description="大小（字节）。")
    media_type: str = strawberry.field(description="类型，目前只有 application/pdf。")


async def files_of(
    info: Info[Context, None], object_type: AttachedTo, object_id: uuid.UUID
) -> list[AttachedFile]:
    """The files (not photos) an object shows; read with its photos, in one statement."""
    views = await photo_resolvers.photos_of(info.context, object_type, object_id)
    return [
        AttachedFile(url=v.url, name=v.file_name, size_bytes=v.size_bytes, media_type=v.media_type or "")
        for v in views
        if v.is_file
    ]
