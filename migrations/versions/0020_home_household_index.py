"""An index on a home's household

Until the terms of migration 0017, the unique constraint on (household_id, person_id) also served
"who lives in this household"; its replacement holds open terms only (`WHERE ends_on IS NULL`),
which a term in force today (`ends_on IS NULL OR ends_on > today`) does not imply, so every
household's occupants were read by scanning all homes: a screen of 160 households scanned them
160 times. This index serves that question again, whatever the term.

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-06 23:50:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_home_household_id", "home", ["household_id"])


def downgrade() -> None:
    op.drop_index("ix_home_household_id", table_name="home")
