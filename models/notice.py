"""Notices (公告): what the people who run a community or a compound post for its residents.

A notice reaches a community (every compound in it), a compound, or some buildings of a compound.
It is published at once or at a set time, may expire, may be pinned, and an urgent one is told to
every resident it reaches as a message (`models.message`), whatever else they follow. Its text is
never overwritten: a correction is a new version beside the old ones, and a withdrawal keeps the
notice, its versions and who read it, with the reason.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlmodel import Field, SQLModel

from models.base import created_at, fk, uuid_pk
from models.enums import check_in

TITLE_MAX = 60
BODY_MAX = 5000
REASON_MAX = 200
#: the most versions a notice has (the first and its corrections): beyond, withdraw and post anew
VERSIONS_MAX = 21
#: how far back a notice's publication time may be set (a clock a little behind), no further: a
#: notice is not backdated
BEHIND_MAX = timedelta(minutes=5)
#: the most buildings one notice names (a compound rarely has more)
BUILDINGS_MAX = 100
#: how far ahead a notice may be scheduled, and how long it may run
AHEAD_MAX = timedelta(days=90)
RUN_MAX = timedelta(days=366)


class NoticeKind(StrEnum):
    NORMAL = "NORMAL"
    #: always told to everyone it reaches, as a message
    URGENT = "URGENT"


class NoticeStatus(StrEnum):
    """Where a notice stands now: computed from its times, never stored."""

    SCHEDULED = "SCHEDULED"
    PUBLISHED = "PUBLISHED"
    EXPIRED = "EXPIRED"
    WITHDRAWN = "WITHDRAWN"


def status(
    publish_at: datetime, expires_at: datetime | None, withdrawn_at: datetime | None, now: datetime
) -> NoticeStatus:
    if withdrawn_at is not None:
        return NoticeStatus.WITHDRAWN
    if publish_at > now:
        return NoticeStatus.SCHEDULED
    if expires_at is not None and expires_at <= now:
        return NoticeStatus.EXPIRED
    return NoticeStatus.PUBLISHED


def schedule_problem(
    publish_at: datetime, expires_at: datetime | None, now: datetime
) -> tuple[str, str] | None:
    """(field, what is wrong) with a notice's times, or None."""
    if publish_at.tzinfo is None or (expires_at is not None and expires_at.tzinfo is None):
        field = "publishAt" if publish_at.tzinfo is None else "expiresAt"
        return field, "时间必须带时区，例如 2026-12-31T18:00:00+08:00。"
    if publish_at > now + AHEAD_MAX:
        return "publishAt", "定时发布最多提前 90 天。"
    if publish_at < now - BEHIND_MAX:
        return "publishAt", "发布时间不能早于现在（公告不能倒签日期）。"
    if expires_at is not None:
        if expires_at <= max(publish_at, now):
            return "expiresAt", "到期时间必须晚于发布时间和现在。"
        if expires_at - publish_at > RUN_MAX:
            return "expiresAt", "公告最长展示一年，请缩短到期时间或不设到期时间。"
    return None


def withdraw_problem(withdrawn_at: datetime | None) -> str | None:
    return "这条公告已经撤回。" if withdrawn_at is not None else None


class Notice(SQLModel, table=True):
    __tablename__ = "notice"
    __table_args__ = (
        sa.CheckConstraint(check_in("kind", NoticeKind), name="notice_kind_valid"),
        # buildings are named only within a compound
        sa.CheckConstraint(
            "compound_id IS NOT NULL OR cardinality(building_ids) = 0", name="notice_buildings_in_compound"
        ),
        sa.CheckConstraint("expires_at IS NULL OR expires_at > publish_at", name="notice_times"),
        # the feeds: a community's and a compound's notices, newest first
        sa.Index("notice_community_feed", "community_id", sa.text("publish_at DESC"), "id"),
        sa.Index("notice_compound_feed", "compound_id", sa.text("publish_at DESC"), "id"),
        # urgent notices whose residents have not been told yet (the job tells scheduled ones)
        sa.Index(
            "notice_untold", "publish_at", postgresql_where=sa.text("kind = 'URGENT' AND told_at IS NULL")
        ),
    )
    id: uuid.UUID = uuid_pk()
    community_id: uuid.UUID = fk("community.id", index=False)
    #: None: every compound of the community
    compound_id: uuid.UUID | None = fk("compound.id", nullable=True, index=False)
    #: empty: the whole compound (or community)
    building_ids: list[uuid.UUID] = Field(
        default_factory=list,
        sa_column=sa.Column(postgresql.ARRAY(sa.Uuid), nullable=False, server_default="{}"),
    )
    kind: NoticeKind = Field(default=NoticeKind.NORMAL, sa_type=sa.Text)
    #: the text in force: that of its latest version (`NoticeVersion`)
    title: str
    body: str
    version: int = Field(default=1)
    pinned: bool = Field(default=False)
    publish_at: datetime = Field(sa_type=sa.DateTime(timezone=True))
    expires_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    author_id: uuid.UUID = fk("person.id", index=False, ondelete="RESTRICT")
    #: in which role or position it was published (`resolvers.audit.held`), shown with it
    author_role: str
    withdrawn_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    withdrawn_by: uuid.UUID | None = Field(default=None, sa_type=sa.Uuid)
    withdraw_reason: str | None = None
    #: when an urgent notice's residents were told (at publication, or by the job when scheduled)
    told_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    created_at: datetime = created_at()


class NoticeVersion(SQLModel, table=True):
    """One version of a notice's text, as it was published: never changed (a trigger)."""

    __tablename__ = "notice_version"
    notice_id: uuid.UUID = Field(
        sa_column=sa.Column(sa.Uuid, sa.ForeignKey("notice.id", ondelete="CASCADE"), primary_key=True)
    )
    version: int = Field(sa_column=sa.Column(sa.Integer, primary_key=True))
    title: str
    body: str
    #: why it was corrected (None for the first version)
    note: str | None = None
    written_by: uuid.UUID = fk("person.id", index=False, ondelete="RESTRICT")
    created_at: datetime = created_at()


class NoticeRead(SQLModel, table=True):
    """That a person opened a notice, and which version they read last."""

    __tablename__ = "notice_read"
    __table_args__ = (sa.Index("notice_read_person", "person_id"),)
    notice_id: uuid.UUID = Field(
        sa_column=sa.Column(sa.Uuid, sa.ForeignKey("notice.id", ondelete="CASCADE"), primary_key=True)
    )
    person_id: uuid.UUID = Field(
        sa_column=sa.Column(sa.Uuid, sa.ForeignKey("person.id", ondelete="CASCADE"), primary_key=True)
    )
    version: int
    read_at: datetime = created_at()
