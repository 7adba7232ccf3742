"""Team positions held are entries of the participation record, one per position and period

A Party member who holds a team position during a period of their community (a quarter or a year)
earns one POSITION entry for it; an index keeps it one whichever process writes it. Evaluations
carry the number of such periods, kept with the rest of a confirmed evaluation.

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-07 04:00:00
"""

import importlib
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0025"
down_revision: str | None = "0024"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

evaluations = importlib.import_module("migrations.versions.0023_party_evaluations")
KINDS = ("VOLUNTEER", "MEETING", "TASK", "DISPUTE")


def _kinds(kinds: Sequence[str]) -> str:
    return "kind IN (" + ", ".join(f"'{k}'" for k in kinds) + ")"


def upgrade() -> None:
    op.drop_constraint("participation_kind", "participation", type_="check")
    op.create_check_constraint("participation_kind", "participation", _kinds((*KINDS, "POSITION")))
    op.create_index(
        "participation_position_once",
        "participation",
        ["ref_id", "occurred_at"],
        unique=True,
        postgresql_where=sa.text("kind = 'POSITION' AND reverses_id IS NULL"),
    )
    op.add_column(
        "party_evaluation", sa.Column("positions", sa.Integer(), server_default="0", nullable=False)
    )
    op.execute(evaluations.stays_function((*evaluations.KEPT, "positions"), replace=True))


def downgrade() -> None:
    op.execute(evaluations.stays_function(evaluations.KEPT, replace=True))
    op.drop_column("party_evaluation", "positions")
    op.drop_index("participation_position_once", table_name="participation")
    # the record is append-only: its position entries go with the kind
    op.execute("ALTER TABLE participation DISABLE TRIGGER USER")
    op.execute("DELETE FROM participation WHERE kind = 'POSITION'")
    op.execute("ALTER TABLE participation ENABLE TRIGGER USER")
    op.drop_constraint("participation_kind", "participation", type_="check")
    op.create_check_constraint("participation_kind", "participation", _kinds(KINDS))
