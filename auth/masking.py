"""Masking of personal data (PIPL: show the minimum): `138****1234`, `李*`.

Each mask exists twice, as a Python function and as the same function in SQL, so that a list is
masked inside PostgreSQL exactly as one object is in Python (a test compares them on generated
names and phones).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

COMPOUND_SURNAMES = frozenset(
    [
        "欧阳",
        "司马",
        "上官",
        "诸葛",
        "东方",
        "皇甫",
        "尉迟",
        "公孙",
        "慕容",
        "长孙",
        "宇文",
        "司徒",
        "夏侯",
        "令狐",
    ]
)


def mask_phone(phone: str | None) -> str | None:
    """A mobile number (11 digits or more) keeps its first 3 and last 4: `138****1234`; a shorter
    one (a landline) only its last 2, and one shorter than 7 nothing."""
    if not phone:
        return None
    if len(phone) < 7:
        return "*" * len(phone)
    if len(phone) < 11:
        return "*" * (len(phone) - 2) + phone[-2:]
    return f"{phone[:3]}****{phone[-4:]}"


def mask_name(name: str | None) -> str | None:
    """Keep the surname (the first character; two for common compound surnames), star the rest."""
    if not name:
        return name
    surname_length = 2 if name[:2] in COMPOUND_SURNAMES and len(name) > 2 else 1
    return name[:surname_length] + "*" * max(1, len(name) - surname_length)


def mask_phone_sql(phone: Any) -> Any:
    length = sa.func.char_length(phone)
    return sa.case(
        (sa.or_(phone.is_(None), phone == ""), sa.null()),
        (length < 7, sa.func.repeat("*", length)),
        (length < 11, sa.func.concat(sa.func.repeat("*", length - 2), sa.func.right(phone, 2))),
        else_=sa.func.concat(sa.func.left(phone, 3), "****", sa.func.right(phone, 4)),
    )


def mask_name_sql(name: Any) -> Any:
    length = sa.func.char_length(name)
    compound = sa.and_(length > 2, sa.func.left(name, 2).in_(sorted(COMPOUND_SURNAMES)))
    return sa.case(
        (sa.or_(name.is_(None), name == ""), name),
        (
            compound,
            sa.func.concat(sa.func.left(name, 2), sa.func.repeat("*", sa.func.greatest(1, length - 2))),
        ),
        else_=sa.func.concat(sa.func.left(name, 1), sa.func.repeat("*", sa.func.greatest(1, length - 1))),
    )


@dataclass(frozen=True)
class Mask:
    python: Callable[[Any], Any]
    sql: Callable[[Any], Any]


NAME = Mask(mask_name, mask_name_sql)
PHONE = Mask(mask_phone, mask_phone_sql)
