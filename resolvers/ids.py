"""Opaque global IDs (`node(id:)` resolves any of them) and pagination cursors."""

from __future__ import annotations

import base64
import binascii
import uuid

from models.errors import BadUserInputError


def encode(type_name: str, ident: uuid.UUID) -> str:
    return base64.urlsafe_b64encode(f"{type_name}:{ident}".encode()).decode().rstrip("=")


def decode(global_id: str, expected: str | None = None) -> tuple[str, uuid.UUID]:
    """(type name, UUID) of a global ID; `BAD_USER_INPUT` for anything malformed or of the wrong type.
    Which type names exist is the schema's business (`schema.relay.NODES`)."""
    try:
        raw = base64.urlsafe_b64decode(global_id + "=" * (-len(global_id) % 4)).decode()
        type_name, _, ident = raw.partition(":")
        parsed = uuid.UUID(ident)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise BadUserInputError("编号格式不正确。", field="id") from None
    if not type_name.isalnum() or (expected is not None and type_name != expected):
        raise BadUserInputError("编号格式不正确。", field="id")
    return type_name, parsed


MAX_PAGE = 100
DEFAULT_PAGE = 20
#: no list is this long; a larger offset would not fit PostgreSQL's OFFSET (a bigint) anyway
MAX_OFFSET = 2**31


def encode_cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(f"o:{offset}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> int:
    """The offset after which a page starts (0 for the first page)."""
    if cursor is None:
        return 0
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        tag, _, number = raw.partition(":")
        offset = int(number)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise BadUserInputError("分页游标不正确，请从第一页重新加载。", field="after") from None
    if tag != "o" or not 0 <= offset < MAX_OFFSET:
        raise BadUserInputError("分页游标不正确，请从第一页重新加载。", field="after")
    return offset + 1


def page_size(first: int | None) -> int:
    if first is None:
        return DEFAULT_PAGE
    if first < 0 or first > MAX_PAGE:
        raise BadUserInputError(f"每页数量 first 必须在 0 到 {MAX_PAGE} 之间。", field="first")
    return first
