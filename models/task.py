"""Tasks (事项): the task, its append-only timeline, and the people attached to it.

Every row carries its compound key. The timeline is the task's history: nothing updates or deletes
an event (a database trigger refuses it), and each event's `seq` orders it within the whole table.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlmodel import Field, SQLModel

from models.base import created_at, fk, uuid_pk
from models.base import created_at as timestamp_now
from models.enums import check_in
from models.task_rules import MemberRole, Moderation, TaskCategory, TaskKind, TaskStatus, TaskVisibility


class Task(SQLModel, table=True):
    __tablename__ = "task"
    __table_args__ = (
        sa.CheckConstraint(check_in("kind", TaskKind), name="task_kind_valid"),
        sa.CheckConstraint(check_in("category", TaskCategory), name="task_category_valid"),
        sa.CheckConstraint(check_in("status", TaskStatus), name="task_status_valid"),
        sa.CheckConstraint(check_in("visibility", TaskVisibility), name="task_visibility_valid"),
        sa.CheckConstraint("rating_stars IS NULL OR rating_stars BETWEEN 1 AND 5", name="task_rating_range"),
        sa.Index("task_compound_recent", "compound_id", sa.text("created_at DESC"), "id"),
        sa.Index("task_resolved_due", "resolved_at", postgresql_where=sa.text("status = 'RESOLVED'")),
        # the tasks still being worked on, by age: the overdue reminders read them every round
        sa.Index(
            "task_working_since",
            "created_at",
            postgresql_where=sa.text("status IN ('ACCEPTED', 'IN_PROGRESS')"),
        ),
        sa.Index("task_held", "compound_id", postgresql_where=sa.text("review_hold = 'HELD'")),
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
    visibility: TaskVisibility = Field(default=TaskVisibility.PUBLIC, sa_type=sa.Text)
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
    __table_args__ = (
        sa.Index("task_event_timeline", "task_id", "seq"),
        sa.Index("task_event_actor", "actor_id"),
    )
    id: uuid.UUID = uuid_pk()
    seq: int | None = Field(
        default=None,
        sa_column=sa.Column(sa.BigInteger, sa.Identity(always=True), nullable=False, unique=True),
    )
    task_id: uuid.UUID = fk("task.id", index=False)
    compound_id: uuid.UUID = fk("compound.id", index=False)
    #: a `models.task_rules.EventKind`
    kind: str = Field(sa_type=sa.Text)
    actor_id: uuid.UUID | None = Field(default=None, sa_type=sa.Uuid)
    #: the standing the actor acted in: a `models.task_rules.Standing`
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
        sa.CheckConstraint(check_in("role", MemberRole), name="task_member_role"),
        sa.Index("task_member_person", "person_id"),
    )
    task_id: uuid.UUID = Field(
        sa_column=sa.Column(sa.Uuid, sa.ForeignKey("task.id", ondelete="CASCADE"), primary_key=True)
    )
    person_id: uuid.UUID = Field(
        sa_column=sa.Column(sa.Uuid, sa.ForeignKey("person.id", ondelete="CASCADE"), primary_key=True)
    )
    role: MemberRole = Field(sa_column=sa.Column(sa.Text, primary_key=True))
    compound_id: uuid.UUID = fk("compound.id", index=False)
    created_at: datetime = created_at()


class ModerationDecision(SQLModel, table=True):
    """A person's decision on text held for review (a task's report or edit, a comment): approved
    for everyone to read, or removed with a reason. Append-only: a decision is never changed."""

    __tablename__ = "moderation_decision"
    __table_args__ = (
        sa.CheckConstraint(check_in("decision", Moderation), name="moderation_decision_valid"),
        sa.CheckConstraint("decision = 'APPROVED' OR reason IS NOT NULL", name="moderation_removal_reason"),
        sa.Index("moderation_decision_event", "event_id"),
    )
    id: uuid.UUID = uuid_pk()
    task_id: uuid.UUID = fk("task.id")
    #: the comment decided on; NULL: the task's own text
    event_id: uuid.UUID | None = Field(default=None, sa_type=sa.Uuid)
    compound_id: uuid.UUID = fk("compound.id", index=False)
    decision: Moderation = Field(sa_type=sa.Text)
    reason: str | None = Field(default=None, sa_type=sa.Text)
    decided_by: uuid.UUID = fk("person.id", index=False, ondelete="RESTRICT")
    decided_at: datetime = created_at()
