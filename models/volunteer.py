"""Volunteer calls (接龙) and their sign-ups: a capped list and a waitlist that moves up."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from models.base import created_at, fk, uuid_pk
from models.enums import check_in


class SignupStatus(StrEnum):
    SIGNED = "SIGNED"
    WAITLIST = "WAITLIST"
    WITHDRAWN = "WITHDRAWN"


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
    #: called off, by whom and why (shown on the call to everyone signed up)
    cancelled_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    cancelled_by: uuid.UUID | None = Field(default=None, sa_type=sa.Uuid)
    cancel_reason: str | None = Field(default=None, sa_type=sa.Text)
    #: the last move: when it was made, why, and the start it replaced
    rescheduled_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    reschedule_reason: str | None = Field(default=None, sa_type=sa.Text)
    previous_starts_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))


class VolunteerSignup(SQLModel, table=True):
    __tablename__ = "volunteer_signup"
    __table_args__ = (
        sa.CheckConstraint(check_in("status", SignupStatus), name="volunteer_signup_status"),
        sa.Index("volunteer_signup_person", "person_id"),
    )
    call_id: uuid.UUID = Field(
        sa_column=sa.Column(sa.Uuid, sa.ForeignKey("volunteer_call.id", ondelete="CASCADE"), primary_key=True)
    )
    person_id: uuid.UUID = Field(
        sa_column=sa.Column(sa.Uuid, sa.ForeignKey("person.id", ondelete="CASCADE"), primary_key=True)
    )
    compound_id: uuid.UUID = fk("compound.id", index=False)
    status: SignupStatus = Field(sa_type=sa.Text)
    #: queue order: the waitlist moves up by it
    position: int | None = Field(
        default=None, sa_column=sa.Column(sa.BigInteger, sa.Identity(always=False), nullable=False)
    )
    checked_in_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    created_at: datetime = created_at()
