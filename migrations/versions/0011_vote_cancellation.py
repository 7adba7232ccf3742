"""A vote may be cancelled: status CANCELLED, when, by whom and the published reason

Its electorate, ballots and tally stay as they were (the tally sealed, as at a close); a cancelled
vote has no result.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03 13:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("vote", sa.Column("cancelled_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("vote", sa.Column("cancelled_by", sa.Uuid(), nullable=True))
    op.add_column("vote", sa.Column("cancel_reason", sa.Text(), nullable=True))
    op.drop_constraint("vote_status_valid", "vote", type_="check")
    op.create_check_constraint("vote_status_valid", "vote", "status IN ('OPEN', 'CLOSED', 'CANCELLED')")
    op.create_check_constraint(
        "vote_cancelled_iff_cancelled_at", "vote", "(status = 'CANCELLED') = (cancelled_at IS NOT NULL)"
    )


def downgrade() -> None:
    # a cancelled vote cannot be told apart from a closed one without these columns: refuse rather
    # than invent a result for it
    op.execute(
        "DO $$ BEGIN IF EXISTS (SELECT 1 FROM vote WHERE status = 'CANCELLED') THEN"
        " RAISE EXCEPTION 'cancelled votes exist: this downgrade would lose them'; END IF; END $$"
    )
    op.drop_constraint("vote_cancelled_iff_cancelled_at", "vote", type_="check")
    op.drop_constraint("vote_status_valid", "vote", type_="check")
    op.create_check_constraint("vote_status_valid", "vote", "status IN ('OPEN', 'CLOSED')")
    op.drop_column("vote", "cancel_reason")
    op.drop_column("vote", "cancelled_by")
    op.drop_column("vote", "cancelled_at")
