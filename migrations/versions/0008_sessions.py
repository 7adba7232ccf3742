"""Sessions that can end: person.sessions_valid_after, revoked_token, refresh_token

A revocation moves the access epoch, so that every process's cached principals are checked again
on their next use.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 18:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("person", sa.Column("sessions_valid_after", sa.DateTime(timezone=True), nullable=True))
    op.create_table(
        "revoked_token",
        sa.Column("jti", sa.Text(), primary_key=True),
        sa.Column("person_id", sa.Uuid(), sa.ForeignKey("person.id", ondelete="CASCADE"), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    )
    op.create_index("ix_revoked_token_person_id", "revoked_token", ["person_id"])
    op.create_table(
        "refresh_token",
        sa.Column("id", sa.Uuid(), primary_key=True, server_default=sa.text("gen_random_uuid()")),
        sa.Column("person_id", sa.Uuid(), sa.ForeignKey("person.id", ondelete="CASCADE"), nullable=False),
        sa.Column("token_hash", sa.Text(), nullable=False, unique=True),
        sa.Column("family", sa.Uuid(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_refresh_token_person_id", "refresh_token", ["person_id"])
    op.create_index("ix_refresh_token_family", "refresh_token", ["family"])
    op.execute(
        "CREATE TRIGGER revoked_token_moves_access_epoch AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE "
        "ON revoked_token FOR EACH STATEMENT EXECUTE FUNCTION move_access_epoch()"
    )
    op.execute(
        "CREATE TRIGGER person_sessions_move_access_epoch AFTER UPDATE OF sessions_valid_after "
        "ON person FOR EACH STATEMENT EXECUTE FUNCTION move_access_epoch()"
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER person_sessions_move_access_epoch ON person")
    op.drop_table("refresh_token")
    op.drop_table("revoked_token")
    op.drop_column("person", "sessions_valid_after")
