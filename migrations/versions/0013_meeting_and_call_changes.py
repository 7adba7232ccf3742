"""Meetings and volunteer calls may be cancelled or moved: when, by whom, why, and the time replaced

A cancelled meeting or call stays on the record; the task's timeline keeps every change.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-03 17:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CHANGES = {"meeting": "previous_held_at", "volunteer_call": "previous_starts_at"}


def upgrade() -> None:
    for table, previous in CHANGES.items():
        op.add_column(table, sa.Column("cancelled_at", sa.DateTime(timezone=True), nullable=True))
        op.add_column(table, sa.Column("cancelled_by", sa.Uuid(), nullable=True))
        op.add_column(table, sa.Column("cancel_reason", sa.Text(), nullable=True))
        op.add_column(table, sa.Column("rescheduled_at", sa.DateTime(timezone=True), nullable=True))
        op.add_column(table, sa.Column("reschedule_reason", sa.Text(), nullable=True))
        op.add_column(table, sa.Column(previous, sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    # a cancelled meeting or call would look as if it were still on: refuse rather than revive it
    op.execute(
        "DO $$ BEGIN IF EXISTS (SELECT 1 FROM meeting WHERE cancelled_at IS NOT NULL)"
        " OR EXISTS (SELECT 1 FROM volunteer_call WHERE cancelled_at IS NOT NULL) THEN"
        " RAISE EXCEPTION 'cancelled meetings or volunteer calls exist: this downgrade would revive them';"
        " END IF; END $$"
    )
    for table, previous in CHANGES.items():
        for column in (
            previous,
            "reschedule_reason",
            "rescheduled_at",
            "cancel_reason",
            "cancelled_by",
            "cancelled_at",
        ):
            op.drop_column(table, column)
