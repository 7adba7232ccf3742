"""Opaque global IDs (`node(id:)` resolves any of them) and page sizes (cursors: `resolvers.pages`)."""

from __future__ import annotations

import base64
import binascii
import uuid

from models.errors import BadUserInputError


def encode(type_name: str, ident: uuid.UUID) -> str:
    return base64.urlsafe_b64encode(f"{type_name}:{ident}".encode()).decode().rstrip("=")


def decode(global_id: str, expected: str | None = None, *, field: str = "id") -> tuple[str, uuid.UUID]:
    """(type name, UUID) of a global ID; `BAD_USER_INPUT` on `field` for anything malformed or of
    the wrong type. Which type names exist is the schema's business (`schema.relay.NODES`)."""
    try:
        raw = base64.urlsafe_b64decode(global_id + "=" * (-len(global_id) % 4)).decode()
        type_name, _, ident = raw.partition(":")
        parsed = uuid.UUID(ident)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise BadUserInputError("编号格式不正确。", field=field) from None
    if not type_name.isalnum() or (expected is not None and type_name != expected):
        raise BadUserInputError("编号格式不正确。", field=field)
    return type_name, parsed


MAX_PAGE = 100
DEFAULT_PAGE = 20
