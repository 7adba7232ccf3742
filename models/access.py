"""The access epoch: one counter that moves whenever anyone's roles, positions, homes or name change,
and with it the day (terms begin and end on days).

A process keeps the principals it has read (`auth.backend.PrincipalCache`) with the epoch they were
read at; the compiled read path answers only while that epoch is still the current one, inside the
same statement, so a cached principal costs no statement and can never be acted on once stale. The
counter is a row, not a sequence: it moves when the change commits, in the same snapshot as the
change, never before. Triggers (migration 0005) move it, once per statement.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from models.terms import EPOCH_DAY_ZERO, today_sql


class AccessEpoch(SQLModel, table=True):
    __tablename__ = "access_epoch"
    __table_args__ = (sa.CheckConstraint("id", name="access_epoch_one_row"),)
    #: a single row (the only id is true)
    id: bool = Field(default=True, sa_column=sa.Column(sa.Boolean, primary_key=True))
    epoch: int = Field(default=0, sa_column=sa.Column(sa.BigInteger, nullable=False))


#: days fit below the counter: a principal read yesterday is stale today
DAYS = 100_000


def current_epoch() -> sa.ColumnElement[int]:
    """The epoch now: the counter and the Beijing day, in one number.

    Homes, roles and positions begin and end on days (`models.terms`) without anyone writing a
    row, so a principal read before midnight must not be acted on after it: the day is part of
    the epoch a principal is read at."""
    table = AccessEpoch.__table__
    counter = sa.select(table.c.epoch).where(table.c.id.is_(True)).scalar_subquery()
    day = today_sql() - sa.literal(EPOCH_DAY_ZERO, sa.Date)
    return counter * DAYS + sa.cast(day, sa.BigInteger)
