"""vote_tally.closed: set when the vote closes, checked by each ballot on the row it moves

A ballot records itself in one statement that moves the tally only while the tally is not closed;
the close sets the flag on the same row, so whichever commits second sees the other.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 14:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("vote_tally", sa.Column("closed", sa.Boolean(), nullable=False, server_default=sa.false()))
    op.execute(
        "UPDATE vote_tally t SET closed = true FROM vote v WHERE v.id = t.vote_id AND v.status <> 'OPEN'"
    )


def downgrade() -> None:
    op.drop_column("vote_tally", "closed")
