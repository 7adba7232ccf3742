"""Search: the characters of a person's name, for names searched by two characters

A trigram index serves a text of three characters or more; a Chinese given name (燕秀) or a short
full name (张三) is two. This GIN index over the characters of the lower-cased name finds the
people whose name holds both, which the ILIKE then checks for the two in a row; it needs no
extension, so the embedded server has it too.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-06 23:30:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("CREATE INDEX person_name_chars ON person USING gin (string_to_array(lower(name), NULL))")


def downgrade() -> None:
    op.execute("DROP INDEX IF EXISTS person_name_chars")
