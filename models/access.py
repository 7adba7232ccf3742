"""The access epoch: one counter that moves whenever anyone's roles, positions, homes or name change.

A process keeps the principals it has read (`auth.backend.PrincipalCache`) with the epoch they were
read at; the compiled read path answers only while that epoch is still the current one, inside the
same statement, so a cached principal costs no statement and can never be acted on once stale. The
counter is a row, not a sequence: it moves when the change commits, in the same snapshot as the
change, never before. Triggers (migration 0005) move it, once per statement.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlmodel import Field, SQLModel


class AccessEpoch(SQLModel, table=True):
    __tablename__ = "access_epoch"
    __table_args__ = (sa.CheckConstraint("id", name="access_epoch_one_row"),)
    #: a single row (the only id is true)
    id: bool = Field(default=True, sa_column=sa.Column(sa.Boolean, primary_key=True))
    epoch: int = Field(default=0, sa_column=sa.Column(sa.BigInteger, nullable=False))


def current_epoch() -> sa.ScalarSelect:
    """The epoch now, as a sub-select."""
    table = AccessEpoch.__table__
    return sa.select(table.c.epoch).where(table.c.id.is_(True)).scalar_subquery()
