"""Tasks (事项) and what happens around them: the append-only timeline, assignees and working
groups, volunteer calls with their sign-ups, and participation records.

Every row carries its compound key. The timeline is the task's history: nothing updates or deletes
an event (a database trigger refuses it), and each event's `seq` orders it within the whole table.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlmodel import Field, SQLModel

from models.base import created_at, fk, uuid_pk
from models.base import created_at as timestamp_now
from models.enums import check_in
from models.task_rules import TaskCategory, TaskKind, TaskStatus


class Task(SQLModel, table=True):
    __tablename__ = "task"
    __table_args__ = (
        sa.CheckConstraint(check_in("kind", TaskKind), name="task_kind_valid"),
        sa.CheckConstraint(check_in("category", TaskCategory), name="task_category_valid"),
        sa.CheckConstraint(check_in("status", TaskStatus), name="task_status_valid"),
        sa.CheckConstraint("visibility IN ('PUBLIC', 'INTERNAL')", name="task_visibility_valid"),
        sa.CheckConstraint("rating_stars IS NULL OR rating_stars BETWEEN 1 AND 5", name="task_rating_range"),
        sa.Index("task_compound_recent", "compound_id", sa.text("created_at DESC"), "id"),
        sa.Index("task_resolved_due", "resolved_at", postgresql_where=sa.text("status = 'RESOLVED'")),
    )
    id: uuid.UUID = uuid_pk()
    compound_id: uuid.UUID = fk("compound.id", index=False)
    building_id: uuid.UUID | None = Field(default=None, sa_type=sa.Uuid)
    kind: TaskKind = Field(sa_type=sa.Text)
    category: TaskCategory = Field(sa_type=sa.Text)
    title: str
    description: str
    photo_urls: list[str] = Field(
        default_factory=list,
        sa_column=sa.Column(postgresql.ARRAY(sa.Text), nullable=False, server_default="{}"),
    )
    visibility: str = Field(default="PUBLIC", sa_type=sa.Text)
    status: TaskStatus = Field(default=TaskStatus.SUBMITTED, sa_type=sa.Text)
    reporter_id: uuid.UUID = fk("person.id", ondelete="RESTRICT")
    #: the role the task is assigned to (e.g. the compound's property staff), besides people
    assigned_role: str | None = Field(default=None, sa_type=sa.Text)
    resolution: str | None = None
    reopen_count: int = 0
    resolved_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    closed_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    rating_stars: int | None = None
    rating_comment: str | None = None
    #: NULL when the content check passed; `HELD` when it could not be reached (held for review)
    review_hold: str | None = Field(default=None, sa_type=sa.Text)
    created_at: datetime = created_at()
    updated_at: datetime = timestamp_now()


class TaskEvent(SQLModel, table=True):
    __tablename__ = "task_event"
    __table_args__ = (sa.Index("task_event_timeline", "task_id", "seq"),)
    id: uuid.UUID = uuid_pk()
    seq: int | None = Field(
        default=None,
        sa_column=sa.Column(sa.BigInteger, sa.Identity(always=True), nullable=False, unique=True),
    )
    task_id: uuid.UUID = fk("task.id", index=False)
    compound_id: uuid.UUID = fk("compound.id", index=False)
    kind: str = Field(sa_type=sa.Text)
    actor_id: uuid.UUID | None = Field(default=None, sa_type=sa.Uuid)
    #: the standing the actor acted in (REPORTER, TEAM, GRID_WORKER, PROPERTY_STAFF, SYSTEM, …)
    actor_role: str = Field(sa_type=sa.Text)
    payload: dict[str, Any] = Field(
        default_factory=dict, sa_column=sa.Column(postgresql.JSONB, nullable=False, server_default="{}")
    )
    created_at: datetime = Field(
        default=None,
        sa_type=sa.DateTime(timezone=True),
        sa_column_kwargs={"server_default": sa.func.clock_timestamp(), "nullable": False},
    )


class TaskMember(SQLModel, table=True):
    """People attached to a task: assignees and their working group, a dispute's parties and
    mediators."""

    __tablename__ = "task_member"
    __table_args__ = (
        sa.CheckConstraint(
            "role IN ('ASSIGNEE', 'LEAD', 'MEMBER', 'PARTY', 'MEDIATOR')", name="task_member_role"
        ),
        sa.Index("task_member_person", "person_id"),
    )
    task_id: uuid.UUID = Field(
        sa_column=sa.Column(sa.Uuid, sa.ForeignKey("task.id", ondelete="CASCADE"), primary_key=True)
    )
    person_id: uuid.UUID = Field(
        sa_column=sa.Column(sa.Uuid, sa.ForeignKey("person.id", ondelete="CASCADE"), primary_key=True)
    )
    role: str = Field(sa_column=sa.Column(sa.Text, primary_key=True))
    compound_id: uuid.UUID = fk("compound.id", index=False)
    created_at: datetime = created_at()


class VolunteerCall(SQLModel, table=True):
    __tablename__ = "volunteer_call"
    __table_args__ = (
        sa.CheckConstraint("needed BETWEEN 1 AND 1000", name="volunteer_call_needed_range"),
        sa.CheckConstraint("ends_at > starts_at", name="volunteer_call_times"),
    )
    id: uuid.UUID = uuid_pk()
    task_id: uuid.UUID = fk("task.id")
    compound_id: uuid.UUID = fk("compound.id", index=False)
    title: str
    needed: int
    starts_at: datetime = Field(sa_type=sa.DateTime(timezone=True))
    ends_at: datetime = Field(sa_type=sa.DateTime(timezone=True))
    created_by: uuid.UUID = fk("person.id", index=False, ondelete="RESTRICT")
    #: kept equal to the number of SIGNED sign-ups, under the call's row lock
    signed_count: int = 0
    created_at: datetime = created_at()


class VolunteerSignup(SQLModel, table=True):
    __tablename__ = "volunteer_signup"
    __table_args__ = (
        sa.CheckConstraint("status IN ('SIGNED', 'WAITLIST', 'WITHDRAWN')", name="volunteer_signup_status"),
    )
    call_id: uuid.UUID = Field(
        sa_column=sa.Column(sa.Uuid, sa.ForeignKey("volunteer_call.id", ondelete="CASCADE"), primary_key=True)
    )
    person_id: uuid.UUID = Field(
        sa_column=sa.Column(sa.Uuid, sa.ForeignKey("person.id", ondelete="CASCADE"), primary_key=True)
    )
    compound_id: uuid.UUID = fk("compound.id", index=False)
    status: str = Field(sa_type=sa.Text)
    #: queue order: the waitlist moves up by it
    position: int | None = Field(
        default=None, sa_column=sa.Column(sa.BigInteger, sa.Identity(always=False), nullable=False)
    )
    checked_in_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    created_at: datetime = created_at()


class Participation(SQLModel, table=True):
    """What a person did for the compound (a served shift, a meeting attended): feeds evaluation."""

    __tablename__ = "participation"
    __table_args__ = (
        sa.UniqueConstraint("person_id", "kind", "ref_id"),
        sa.CheckConstraint("kind IN ('VOLUNTEER', 'MEETING', 'TASK')", name="participation_kind"),
    )
    id: uuid.UUID = uuid_pk()
    person_id: uuid.UUID = fk("person.id")
    compound_id: uuid.UUID = fk("compound.id", index=False)
    kind: str = Field(sa_type=sa.Text)
    ref_id: uuid.UUID = Field(sa_type=sa.Uuid)
    hours: Decimal = Field(default=Decimal(0), sa_type=sa.Numeric(6, 2))
    occurred_at: datetime = Field(sa_type=sa.DateTime(timezone=True))
    created_at: datetime = created_at()


class Meeting(SQLModel, table=True):
    """A topical meeting (专题会议) about a task: when, what, who came, what was decided."""

    __tablename__ = "meeting"
    id: uuid.UUID = uuid_pk()
    task_id: uuid.UUID = fk("task.id")
    compound_id: uuid.UUID = fk("compound.id", index=False)
    topic: str
    held_at: datetime = Field(sa_type=sa.DateTime(timezone=True))
    location: str | None = None
    decisions: list[str] = Field(
        default_factory=list,
        sa_column=sa.Column(postgresql.ARRAY(sa.Text), nullable=False, server_default="{}"),
    )
    created_by: uuid.UUID = fk("person.id", index=False, ondelete="RESTRICT")
    created_at: datetime = created_at()


class MeetingAttendee(SQLModel, table=True):
    __tablename__ = "meeting_attendee"
    meeting_id: uuid.UUID = Field(
        sa_column=sa.Column(sa.Uuid, sa.ForeignKey("meeting.id", ondelete="CASCADE"), primary_key=True)
    )
    person_id: uuid.UUID = Field(
        sa_column=sa.Column(sa.Uuid, sa.ForeignKey("person.id", ondelete="CASCADE"), primary_key=True)
    )
    compound_id: uuid.UUID = fk("compound.id", index=False)


class CostDisclosure(SQLModel, table=True):
    """A published cost disclosure (公示). Immutable: a correction is a new version of the task's
    disclosure, and every version stays visible."""

    __tablename__ = "cost_disclosure"
    __table_args__ = (
        sa.UniqueConstraint("task_id", "version"),
        sa.CheckConstraint("split IN ('EQUAL', 'AREA')", name="cost_disclosure_split"),
        sa.CheckConstraint("subsidy >= 0 AND subsidy <= total", name="cost_disclosure_subsidy"),
    )
    id: uuid.UUID = uuid_pk()
    task_id: uuid.UUID = fk("task.id")
    compound_id: uuid.UUID = fk("compound.id", index=False)
    version: int
    title: str
    #: [{"description": str, "amount": "123.45"}], amounts in yuan as decimal strings
    line_items: list[dict[str, str]] = Field(sa_column=sa.Column(postgresql.JSONB, nullable=False))
    total: Decimal = Field(sa_type=sa.Numeric(14, 2))
    subsidy: Decimal = Field(sa_type=sa.Numeric(14, 2))
    split: str = Field(sa_type=sa.Text)
    attachment_urls: list[str] = Field(
        default_factory=list,
        sa_column=sa.Column(postgresql.ARRAY(sa.Text), nullable=False, server_default="{}"),
    )
    note: str | None = None
    created_by: uuid.UUID = fk("person.id", index=False, ondelete="RESTRICT")
    published_at: datetime = created_at()


class CostShare(SQLModel, table=True):
    __tablename__ = "cost_share"
    disclosure_id: uuid.UUID = Field(
        sa_column=sa.Column(
            sa.Uuid, sa.ForeignKey("cost_disclosure.id", ondelete="CASCADE"), primary_key=True
        )
    )
    household_id: uuid.UUID = Field(sa_column=sa.Column(sa.Uuid, primary_key=True))
    compound_id: uuid.UUID = fk("compound.id", index=False)
    number: str
    area: Decimal = Field(sa_type=sa.Numeric(10, 2))
    share: Decimal = Field(sa_type=sa.Numeric(14, 2))


class DisputeOutcome(SQLModel, table=True):
    __tablename__ = "dispute_outcome"
    task_id: uuid.UUID = Field(
        sa_column=sa.Column(sa.Uuid, sa.ForeignKey("task.id", ondelete="CASCADE"), primary_key=True)
    )
    compound_id: uuid.UUID = fk("compound.id", index=False)
    agreed: bool
    agreement: str | None = None
    recorded_by: uuid.UUID = fk("person.id", index=False, ondelete="RESTRICT")
    recorded_at: datetime = created_at()
