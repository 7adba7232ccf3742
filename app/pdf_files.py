"""Files that are not photos: a PDF (a notice's 通知 as the office printed it), recognised by its
content, kept as it came (it is the document), and shown with a plain page as its thumbnail.

WeChat's image check takes images only, so a PDF is not held for it; a PDF attaches to notices
only, which only the people who run a community or a compound post (`models.photos.kind_problem`).
"""

from __future__ import annotations

import functools
import io

from PIL import Image, ImageDraw

from app.images import CleanImage
from models.errors import BadUserInputError
from models.photos import PDF

MAGIC = b"%PDF-"
#: where a whole PDF says it ends: its last `%%EOF` lies within its last bytes
TAIL = 2048


def is_pdf(data: bytes) -> bool:
    return data.startswith(MAGIC)


def checked(data: bytes) -> CleanImage:
    """A PDF as it is kept; a `BadUserInputError` when it is cut short."""
    if b"%%EOF" not in data[-TAIL:]:
        raise BadUserInputError("PDF 文件不完整，请重新导出后再上传。", field="file")
    return CleanImage(content=data, media_type=PDF, width=0, height=0, thumbnail=page_icon())


@functools.cache
def page_icon() -> bytes:
    """A page with a red band, as a file's thumbnail (the same for every PDF)."""
    image = Image.new("RGB", (120, 160), (245, 245, 245))
    draw = ImageDraw.Draw(image)
    draw.rectangle((8, 8, 111, 151), outline=(180, 180, 180), width=2)
    draw.rectangle((8, 110, 111, 140), fill=(200, 40, 40))
    for y in range(24, 100, 12):
        draw.line((20, y, 100, y), fill=(200, 200, 200), width=3)
    out = io.BytesIO()
    image.save(out, "JPEG", quality=80)
    return out.getvalue()
