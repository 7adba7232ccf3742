"""What an uploaded photo becomes before it is stored: its type read from its content, its EXIF
(the phone's GPS position above all) dropped, and a thumbnail made — all with Pillow.

A photo is never stored as it came: it is decoded and encoded again, which keeps its pixels (turned
upright as the camera said) and its colour profile, and nothing else a phone writes into a file.
A file Pillow cannot read as one of the accepted formats is refused whatever its name says.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

from PIL import Image, ImageOps, UnidentifiedImageError

from models.errors import BadUserInputError
from models.photos import MEDIA_TYPES

#: more pixels than any phone camera takes (8000 × 8000); refused before they are decoded
MAX_PIXELS = 64_000_000
#: a JPEG is decoded at its own 1/2, 1/4 or 1/8 scale while both its sides stay at least this long
KEPT_SIDE = 2048
#: the longer side of a thumbnail, in pixels
THUMBNAIL_SIDE = 480
#: formats kept as they are; any other accepted one (HEIC) is stored as JPEG, which every screen shows
KEPT = {"JPEG", "PNG", "WEBP"}


@dataclass(frozen=True)
class CleanImage:
    content: bytes
    media_type: str
    width: int
    height: int
    thumbnail: bytes


def readable_formats() -> list[str]:
    """The accepted formats this Pillow can decode: HEIC only where a plugin taught it how."""
    Image.init()
    return [name for name in MEDIA_TYPES if name in Image.OPEN]


def wrong_type_message() -> str:
    names = "、".join("HEIC" if f == "HEIF" else "WebP" if f == "WEBP" else f for f in readable_formats())
    return f"只能上传 {names} 格式的照片（按文件内容判断，与文件名无关）。"


def clean(data: bytes) -> CleanImage:
    """The photo re-encoded without its metadata, and its thumbnail; a `BadUserInputError` with a
    sentence for the uploader when it is not a photo we take. CPU-bound: run it in a thread."""
    try:
        image = Image.open(io.BytesIO(data), formats=readable_formats())
    except (UnidentifiedImageError, Image.DecompressionBombError):
        raise BadUserInputError(wrong_type_message(), field="file") from None
    source_format = image.format or ""
    width, height = image.size
    if width * height > MAX_PIXELS:
        raise BadUserInputError("照片尺寸过大（最多 6400 万像素），请缩小后再上传。", field="file")
    if source_format == "JPEG":
        # decoded at a reduced scale where it is larger than any screen needs: a 64-megapixel JPEG
        # costs the memory of a 16-megapixel one, a phone's 12-megapixel photo (4000 × 3000) is
        # kept whole
        image.draft("RGB", (KEPT_SIDE, KEPT_SIDE))
    try:
        image.load()
        upright = ImageOps.exif_transpose(image)
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError):
        raise BadUserInputError("照片文件已损坏，无法读取，请重新拍摄或选择。", field="file") from None
    icc = image.info.get("icc_profile")
    upright.info = {}  # EXIF, XMP, comments, text chunks: none of it goes on
    target = source_format if source_format in KEPT else "JPEG"
    content = _encode(upright, target, icc)
    return CleanImage(
        content=content,
        media_type=MEDIA_TYPES[target],
        width=upright.width,
        height=upright.height,
        thumbnail=_thumbnail(upright),
    )


def _encode(image: Image.Image, target: str, icc: bytes | None) -> bytes:
    out = io.BytesIO()
    options: dict[str, object] = {"exif": b""}
    if icc:
        options["icc_profile"] = icc
    if target == "JPEG":
        if image.mode not in ("RGB", "L", "CMYK"):
            image = _flattened(image)
        image.save(out, "JPEG", quality=90, **options)
    elif target == "PNG":
        image.save(out, "PNG", optimize=False, **options)
    else:
        if image.mode not in ("RGB", "RGBA"):
            image = image.convert("RGBA" if "A" in image.getbands() else "RGB")
        image.save(out, "WEBP", quality=90, **options)
    return out.getvalue()


def _flattened(image: Image.Image) -> Image.Image:
    """RGB, transparency laid on white (a thumbnail and a JPEG have no alpha)."""
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        white = Image.new("RGB", rgba.size, (255, 255, 255))
        white.paste(rgba, mask=rgba.getchannel("A"))
        return white
    return image.convert("RGB")


def _thumbnail(image: Image.Image) -> bytes:
    small = image.copy()
    small.thumbnail((THUMBNAIL_SIDE, THUMBNAIL_SIDE))
    if small.mode != "RGB":
        small = _flattened(small)
    out = io.BytesIO()
    small.save(out, "JPEG", quality=80)
    return out.getvalue()
