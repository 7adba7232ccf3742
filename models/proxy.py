"""Written proxies (书面委托): an owner appoints another person to vote for them, in one vote or in
every vote of the compound opened within a period, with the signed 委托书 attached; the owners'
committee or the community committee checks it before it may be used; the owner may revoke it.

A proxy casts for the owner's households of a vote, never as a head of their own: the ballot is
the owner's (their households, their headcount group), with the appointment it was cast under on
the record. Revoking an appointment stops further ballots; one already cast stays counted.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from models.base import created_at, fk, uuid_pk
from models.enums import check_in

#: the longest period an appointment for every vote may cover
LONGEST_PERIOD = timedelta(days=3 * 366)
REASON_MAX = 200


class ProxyStatus(StrEnum):
    #: waiting for the owners' committee or the community committee to check the 委托书
    PENDING = "PENDING"
    #: checked: the proxy may vote for the owner
    VERIFIED = "VERIFIED"
    #: refused, with the reason
    REJECTED = "REJECTED"


class VoteProxy(SQLModel, table=True):
    __tablename__ = "vote_proxy"
    __table_args__ = (
        sa.CheckConstraint(check_in("status", ProxyStatus), name="vote_proxy_status_valid"),
        sa.CheckConstraint("owner_id <> proxy_id", name="vote_proxy_not_oneself"),
        sa.CheckConstraint(
            "(vote_id IS NULL) = (valid_from IS NOT NULL AND valid_until IS NOT NULL AND valid_until > valid_from)",
            name="vote_proxy_one_vote_or_a_period",
        ),
        sa.CheckConstraint(
            "(status = 'PENDING') = (decided_by IS NULL)", name="vote_proxy_decided_iff_not_pending"
        ),
        sa.CheckConstraint(
            "status <> 'REJECTED' OR reject_reason IS NOT NULL", name="vote_proxy_rejected_why"
        ),
        sa.Index("vote_proxy_proxy", "proxy_id"),
        sa.Index("vote_proxy_compound", "compound_id", "created_at"),
    )
    id: uuid.UUID = uuid_pk()
    compound_id: uuid.UUID = fk("compound.id", index=False)
    owner_id: uuid.UUID = fk("person.id", index=True, ondelete="RESTRICT")
    proxy_id: uuid.UUID = fk("person.id", index=False, ondelete="RESTRICT")
    #: the proxy's name as the owner wrote it on the 委托书 (the person's own name may differ: the
    #: checker compares them); NULL for appointments made before it was asked
    proxy_name: str | None = Field(default=None, sa_type=sa.Text)
    #: the one vote it is for; NULL: every vote of the compound opened within the period
    vote_id: uuid.UUID | None = fk("vote.id", nullable=True, index=False, ondelete="RESTRICT")
    valid_from: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    valid_until: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    status: ProxyStatus = Field(default=ProxyStatus.PENDING, sa_type=sa.Text)
    decided_by: uuid.UUID | None = fk("person.id", nullable=True, index=False, ondelete="RESTRICT")
    decided_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    reject_reason: str | None = Field(default=None, sa_type=sa.Text)
    revoked_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    created_at: datetime = created_at()


def in_force(proxy: Any, vote: Any) -> Any:
    """SQL: the appointment `proxy` (a `vote_proxy` row) may be used in `vote` (a `vote` row):
    checked, not revoked, of the vote's compound, for that vote or for a period in which it opened.
    The one definition, used by the policy's binding and by the ballot it allows."""
    return sa.and_(
        proxy.c.status == ProxyStatus.VERIFIED.value,
        proxy.c.revoked_at.is_(None),
        proxy.c.compound_id == vote.c.compound_id,
        sa.or_(
            proxy.c.vote_id == vote.c.id,
            sa.and_(
                proxy.c.vote_id.is_(None),
                proxy.c.valid_from <= sa.func.coalesce(vote.c.opens_at, vote.c.created_at),
                sa.func.coalesce(vote.c.opens_at, vote.c.created_at) < proxy.c.valid_until,
            ),
        ),
    )


def period_problem(valid_from: datetime | None, valid_until: datetime | None, now: datetime) -> str | None:
    """Why an appointment for every vote of a period cannot cover it, or None."""
    if valid_from is None or valid_until is None:
        return "请指定委托的表决（voteId），或委托期间的开始和结束（validFrom、validUntil）。"
    if valid_from.tzinfo is None or valid_until.tzinfo is None:
        return "委托期间须带时区，例如 2026-12-31T18:00:00+08:00。"
    if valid_until <= valid_from or valid_until <= now:
        return "委托期间的结束须晚于开始，且晚于现在。"
    if valid_until - valid_from > LONGEST_PERIOD:
        return "委托期间最长三年。"
    return None


def decision_problem(approve: bool, reason: str | None) -> str | None:
    if not approve and not reason:
        return "不予认可时请写明理由（例如委托书未签字），业主会看到。"
    return None
