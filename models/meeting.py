"""Topical meetings (专题会议) about a task and who attended them."""

from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlmodel import Field, SQLModel

from models.base import created_at, fk, uuid_pk


class Meeting(SQLModel, table=True):
    """A topical meeting: when, what, who came, what was decided."""

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
    #: called off, by whom and why (shown to everyone who sees the meeting)
    cancelled_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    cancelled_by: uuid.UUID | None = Field(default=None, sa_type=sa.Uuid)
    cancel_reason: str | None = Field(default=None, sa_type=sa.Text)
    #: the last move: when it was made, why, and the time it replaced
    rescheduled_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    reschedule_reason: str | None = Field(default=None, sa_type=sa.Text)
    previous_held_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))


class MeetingAttendee(SQLModel, table=True):
    __tablename__ = "meeting_attendee"
    __table_args__ = (sa.Index("meeting_attendee_person", "person_id"),)
    meeting_id: uuid.UUID = Field(
        sa_column=sa.Column(sa.Uuid, sa.ForeignKey("meeting.id", ondelete="CASCADE"), primary_key=True)
    )
    person_id: uuid.UUID = Field(
        sa_column=sa.Column(sa.Uuid, sa.ForeignKey("person.id", ondelete="CASCADE"), primary_key=True)
    )
    compound_id: uuid.UUID = fk("compound.id", index=False)
