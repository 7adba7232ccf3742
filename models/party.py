"""Party members (在职党员): their profile and what they did for the compound.

Both are sensitive (DESIGN §5) and read only through the policy's Party-data rules.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from models.base import created_at, fk, uuid_pk
from models.enums import check_in


class ParticipationKind(StrEnum):
    VOLUNTEER = "VOLUNTEER"  # a served volunteer shift
    MEETING = "MEETING"  # a topical meeting attended
    TASK = "TASK"  # a task handled


class PartyProfile(SQLModel, table=True):
    """Sensitive (DESIGN §5): read only through the policy's Party-data rules."""

    __tablename__ = "party_profile"
    person_id: uuid.UUID = Field(
        sa_column=sa.Column(sa.Uuid, sa.ForeignKey("person.id", ondelete="CASCADE"), primary_key=True)
    )
    work_unit: str
    registered_on: date | None = None
    created_at: datetime = created_at()


class Participation(SQLModel, table=True):
    """What a person did for the compound (a served shift, a meeting attended): feeds evaluation."""

    __tablename__ = "participation"
    __table_args__ = (
        sa.UniqueConstraint("person_id", "kind", "ref_id"),
        sa.CheckConstraint(check_in("kind", ParticipationKind), name="participation_kind"),
    )
    id: uuid.UUID = uuid_pk()
    person_id: uuid.UUID = fk("person.id")
    compound_id: uuid.UUID = fk("compound.id", index=False)
    kind: ParticipationKind = Field(sa_type=sa.Text)
    ref_id: uuid.UUID = Field(sa_type=sa.Uuid)
    hours: Decimal = Field(default=Decimal(0), sa_type=sa.Numeric(6, 2))
    occurred_at: datetime = Field(sa_type=sa.DateTime(timezone=True))
    created_at: datetime = created_at()
