"""Cost disclosures (公示) and each household's share of them (the split rules: `cost_split`)."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlmodel import Field, SQLModel

from models.base import created_at, fk, uuid_pk
from models.cost_split import SplitMethod
from models.enums import check_in


class CostDisclosure(SQLModel, table=True):
    """A published cost disclosure. Immutable: a correction is a new version of the task's
    disclosure, and every version stays visible."""

    __tablename__ = "cost_disclosure"
    __table_args__ = (
        sa.UniqueConstraint("task_id", "version"),
        sa.CheckConstraint(check_in("split", SplitMethod), name="cost_disclosure_split"),
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
    split: SplitMethod = Field(sa_type=sa.Text)
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
