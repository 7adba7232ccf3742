"""Search: trigram indexes on names, phones, household numbers and task text, where pg_trgm exists

`search(text:)` matches substrings with ILIKE. With the pg_trgm extension (PostgreSQL's contrib,
present in every packaged server) these GIN indexes make that fast on a city-sized world; where it
is not installed (the embedded development server) or may not be created by this role, search
still answers, by scanning, and the migration says so in a notice.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-03 18:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: index name → (table, column); the names end in `_trgm`, which the model comparison leaves out
INDEXES = {
    "person_name_trgm": ("person", "name"),
    "person_phone_trgm": ("person", "phone"),
    "household_number_trgm": ("household", "number"),
    "task_title_trgm": ("task", "title"),
    "task_description_trgm": ("task", "description"),
}


def upgrade() -> None:
    creates = " ".join(
        f"CREATE INDEX IF NOT EXISTS {name} ON {table} USING gin ({column} gin_trgm_ops);"
        for name, (table, column) in INDEXES.items()
    )
    op.execute(
        "DO $$ BEGIN"
        " IF NOT EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'pg_trgm') THEN"
        "  RAISE NOTICE 'pg_trgm is not available: search will scan instead of using trigram indexes';"
        "  RETURN;"
        " END IF;"
        " BEGIN CREATE EXTENSION IF NOT EXISTS pg_trgm;"
        " EXCEPTION WHEN insufficient_privilege THEN"
        "  RAISE NOTICE 'pg_trgm may not be created by this role: search will scan'; RETURN;"
        " END;"
        f" {creates}"
        " END $$"
    )


def downgrade() -> None:
    for name in INDEXES:
        op.execute(f"DROP INDEX IF EXISTS {name}")
