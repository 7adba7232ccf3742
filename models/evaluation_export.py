"""Exports of confirmed evaluations to the Party organisation of the members' employers
(评价鉴定反馈至所在单位党组织).

Each export is one organisation's members for one community and period: the workbook and the PDF
as they were sent, kept byte for byte, the evaluation versions they hold, and a verification code
printed on both, by which the organisation checks them without an account. Nothing of an export
changes afterwards but the record that the organisation acknowledged it (a trigger refuses the
rest).
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from models.base import created_at, fk, uuid_pk

#: Crockford's base32: no I, L, O or U, so that a code read aloud or typed from paper survives
ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
#: 16 symbols: 80 bits, not to be guessed by anyone calling the public check
CODE_SYMBOLS = 16
PREFIX = "QLJ"
#: what a person may have typed in place of a symbol
_READ_AS = str.maketrans({"O": "0", "I": "1", "L": "1"})
#: the longest acknowledgement note
NOTE_MAX = 200


def new_code() -> str:
    """A fresh verification code, written in groups of four: `QLJ-7K2M-9XQ4-ABCD-EFGH`."""
    symbols = "".join(secrets.choice(ALPHABET) for _ in range(CODE_SYMBOLS))
    return "-".join([PREFIX, *(symbols[i : i + 4] for i in range(0, CODE_SYMBOLS, 4))])


def normalize_code(text: str) -> str | None:
    """The code a person typed, as it is stored, or None when it cannot be one: case, spaces,
    dashes and the look-alikes O, I and L are forgiven."""
    if len(text) > 64:
        return None
    compact = "".join(ch for ch in text.upper() if ch not in " -\t\u3000").translate(_READ_AS)
    if compact.startswith(PREFIX.translate(_READ_AS)):
        compact = compact[len(PREFIX) :]
    if len(compact) != CODE_SYMBOLS or any(ch not in ALPHABET for ch in compact):
        return None
    return "-".join([PREFIX, *(compact[i : i + 4] for i in range(0, CODE_SYMBOLS, 4))])


def digest(content: bytes) -> str:
    """The SHA-256 of a file as sent, in hex: the organisation compares it with the file it holds."""
    return hashlib.sha256(content).hexdigest()


def file_stem(period: str, party_org: str) -> str:
    """A file name for one organisation's export, safe on any disk: `2026Q4-某某公司党委`."""
    kept = "".join(ch if ch.isalnum() or ch in "-_（）()" else "_" for ch in party_org.strip())
    return f"{period}-{kept[:60] or '党组织'}"


class EvaluationExport(SQLModel, table=True):
    __tablename__ = "evaluation_export"
    __table_args__ = (sa.Index("evaluation_export_by_community", "community_id", "period", "made_at"),)
    id: uuid.UUID = uuid_pk()
    code: str = Field(sa_column=sa.Column(sa.Text, nullable=False, unique=True))
    community_id: uuid.UUID = fk("community.id", index=False)
    period: str
    #: the employer's Party organisation, as the members' registrations name it
    party_org: str
    members: int
    #: who made it: a committee member (NULL when the command line made it, or they were deleted),
    #: and their name as it stood then, which is what the check answers
    made_by: uuid.UUID | None = fk("person.id", nullable=True, index=False, ondelete="SET NULL")
    made_by_name: str
    made_at: datetime = Field(sa_type=sa.DateTime(timezone=True))
    workbook: bytes = Field(sa_type=sa.LargeBinary)
    pdf: bytes = Field(sa_type=sa.LargeBinary)
    workbook_sha256: str
    pdf_sha256: str
    acknowledged_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    acknowledged_by: uuid.UUID | None = fk("person.id", nullable=True, index=False, ondelete="SET NULL")
    #: how the organisation said it received it (a call, a letter), as the staff member noted
    acknowledgement: str | None = None
    created_at: datetime = created_at()


class EvaluationExportItem(SQLModel, table=True):
    """One member as an export holds them: the evaluation version, and the masked name and grade
    the public check answers, as they were when it was sent (append-only, like the export)."""

    __tablename__ = "evaluation_export_item"
    export_id: uuid.UUID = Field(
        sa_column=sa.Column(
            sa.Uuid, sa.ForeignKey("evaluation_export.id", ondelete="CASCADE"), primary_key=True
        )
    )
    #: the member's place in the files
    ordinal: int = Field(sa_column=sa.Column(sa.Integer, primary_key=True))
    #: NULL once the evaluation is gone (its person deleted): what was sent stays answerable
    evaluation_id: uuid.UUID | None = fk("party_evaluation.id", nullable=True, ondelete="SET NULL")
    masked_name: str
    grade: str
    version: int
