"""Terms for homes, roles and team positions: each holds from one day until another

A home, a role and a team position now hold from `starts_on` until `ends_on` (the first Beijing day
they no longer hold) and are ended, never deleted: each keeps its history. What is there already
began on the day it was recorded. One term per person and place may be open (no end) at a time, so
the old uniqueness holds for open terms only.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-04 18:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TODAY = "(timezone('Asia/Shanghai', now()))::date"
#: (table, its old unique constraint, the columns of one term, whether NULLs count as equal)
TERMED = (
    ("home", "home_household_id_person_id_key", ("household_id", "person_id"), False),
    (
        "role_assignment",
        "role_assignment_person_id_role_community_id_grid_id_compoun_key",
        ("person_id", "role", "community_id", "grid_id", "compound_id"),
        True,
    ),
    (
        "team_position",
        "team_position_compound_id_person_id_position_building_id_key",
        ("compound_id", "person_id", "position", "building_id"),
        True,
    ),
)


def upgrade() -> None:
    for table, old_unique, columns, nulls_equal in TERMED:
        op.add_column(table, sa.Column("starts_on", sa.Date(), server_default=sa.text(TODAY), nullable=True))
        op.execute(f"UPDATE {table} SET starts_on = (timezone('Asia/Shanghai', created_at))::date")
        op.alter_column(table, "starts_on", nullable=False)
        op.add_column(table, sa.Column("ends_on", sa.Date(), nullable=True))
        op.add_column(table, sa.Column("ended_by", sa.Uuid(), nullable=True))
        op.create_foreign_key(
            f"{table}_ended_by_fkey", table, "person", ["ended_by"], ["id"], ondelete="SET NULL"
        )
        op.create_check_constraint(f"{table}_term_valid", table, "ends_on IS NULL OR ends_on >= starts_on")
        op.drop_constraint(old_unique, table, type_="unique")
        op.create_index(
            f"{table}_open_term",
            table,
            list(columns),
            unique=True,
            postgresql_where=sa.text("ends_on IS NULL"),
            postgresql_nulls_not_distinct=nulls_equal,
        )


def downgrade() -> None:
    for table, old_unique, columns, nulls_equal in TERMED:
        op.execute(f"DELETE FROM {table} WHERE ends_on IS NOT NULL")
        op.drop_index(f"{table}_open_term", table_name=table)
        op.create_unique_constraint(
            old_unique, table, list(columns), postgresql_nulls_not_distinct=nulls_equal
        )
        op.drop_constraint(f"{table}_term_valid", table, type_="check")
        op.drop_constraint(f"{table}_ended_by_fkey", table, type_="foreignkey")
        for column in ("ended_by", "ends_on", "starts_on"):
            op.drop_column(table, column)
