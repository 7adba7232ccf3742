"""Disputes (矛盾纠纷): how mediation ended. Parties and mediators are `TaskMember` rows."""

from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from models.base import created_at, fk


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
