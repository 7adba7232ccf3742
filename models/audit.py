"""The audit trail: an append-only, hash-chained record of every privileged action (DESIGN §5).

Each record is a canonical JSON text (`payload`) and the sha256 of the previous record's hash
followed by that text (`hash`), so that editing, deleting or reordering any record breaks the
chain from there on (`verify`). Records are numbered without gaps (`seq`), and the newest one's
hash is what an operator keeps elsewhere to notice the newest records being cut off.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

import orjson
import sqlalchemy as sa
from sqlmodel import Field, SQLModel


class AuditRecord(SQLModel, table=True):
    __tablename__ = "audit_record"
    seq: int = Field(sa_column=sa.Column(sa.BigInteger, primary_key=True, autoincrement=False))
    at: datetime = Field(sa_type=sa.DateTime(timezone=True))
    #: whose records they are: the community committee of this community reads them
    community_id: uuid.UUID | None = Field(default=None, sa_column=sa.Column(sa.Uuid, index=True))
    payload: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    prev_hash: str | None = Field(default=None, sa_column=sa.Column(sa.Text))
    hash: str = Field(sa_column=sa.Column(sa.Text, nullable=False))


def canonical(entry: dict[str, object]) -> str:
    """The one text of a record: keys sorted, no spaces, UTF-8."""
    return orjson.dumps(entry, option=orjson.OPT_SORT_KEYS).decode()


def chain_hash(previous: str | None, payload: str) -> str:
    return hashlib.sha256(((previous or "") + payload).encode()).hexdigest()


@dataclass(frozen=True)
class Link:
    seq: int
    at: datetime
    community_id: uuid.UUID | None
    payload: str
    prev_hash: str | None
    hash: str


def first_broken(
    links: Iterable[Link], previous: str | None = None, expected: int = 1
) -> tuple[int, str] | None:
    """(seq, why) of the first record that does not follow from the ones before it, or None; a
    part of the chain is checked from the record before it (its hash, the next number)."""
    for link in links:
        if link.seq != expected:
            return link.seq, f"记录 {expected} 缺失（紧接着的是 {link.seq}）"
        if link.prev_hash != previous:
            return link.seq, "与前一条记录的哈希不相连"
        if chain_hash(previous, link.payload) != link.hash:
            return link.seq, "内容与哈希不符（记录被改动过）"
        try:
            entry = orjson.loads(link.payload)
        except orjson.JSONDecodeError:
            return link.seq, "内容不是有效的记录"
        community = entry.get("community_id")
        if (
            entry.get("seq") != link.seq
            or (str(link.community_id) if link.community_id else None) != community
        ):
            return link.seq, "记录的编号或所属社区与内容不符"
        if entry.get("at") != link.at.isoformat():
            return link.seq, "记录的时间与内容不符"
        previous = link.hash
        expected += 1
    return None
