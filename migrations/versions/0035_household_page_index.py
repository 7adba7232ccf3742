"""A building's households are found in the order their pages show them

The home screen and every building's household list read the first page of each building's
households by (number, id): an index on (building_id, number, id) reads that page in order instead
of sorting all of the building's households for each building shown. It replaces the index on
building_id alone, which it covers.

Revision ID: 0035
Revises: 0034
Create Date: 2026-12-08 10:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0035"
down_revision: str | None = "0034"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("household_building_page", "household", ["building_id", "number", "id"])
    op.drop_index("ix_household_building_id", table_name="household")


def downgrade() -> None:
    op.create_index("ix_household_building_id", "household", ["building_id"])
    op.drop_index("household_building_page", table_name="household")
