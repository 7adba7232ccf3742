"""The participation record becomes an append-only ledger

Entries are never changed or deleted (a trigger refuses it; rows still go with a deleted person or
compound): a correction is a new entry that reverses an old one, with the negated hours, a count
of -1 and a reason. Tasks handled and disputes mediated become entries too.

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-07 01:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0022"
down_revision: str | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("participation", sa.Column("count", sa.Integer(), server_default="1", nullable=False))
    op.add_column("participation", sa.Column("reverses_id", sa.Uuid(), nullable=True))
    op.add_column("participation", sa.Column("reason", sa.String(), nullable=True))
    op.add_column("participation", sa.Column("recorded_by", sa.Uuid(), nullable=True))
    op.create_foreign_key(
        "participation_reverses_id_fkey",
        "participation",
        "participation",
        ["reverses_id"],
        ["id"],
        ondelete="CASCADE",
    )
    op.create_foreign_key(
        "participation_recorded_by_fkey",
        "participation",
        "person",
        ["recorded_by"],
        ["id"],
        ondelete="SET NULL",
    )
    op.drop_constraint("participation_person_id_kind_ref_id_key", "participation", type_="unique")
    op.drop_constraint("participation_kind", "participation", type_="check")
    op.create_check_constraint(
        "participation_kind", "participation", "kind IN ('VOLUNTEER', 'MEETING', 'TASK', 'DISPUTE')"
    )
    op.create_check_constraint(
        "participation_count_sign",
        "participation",
        "(reverses_id IS NULL AND count = 1) OR (reverses_id IS NOT NULL AND count = -1)",
    )
    op.create_index(
        "participation_reversed_once",
        "participation",
        ["reverses_id"],
        unique=True,
        postgresql_where=sa.text("reverses_id IS NOT NULL"),
    )
    op.create_index("participation_source", "participation", ["ref_id", "kind", "person_id"])
    op.execute(
        """
        CREATE FUNCTION participation_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            -- a person or a compound deleted takes its entries along, and a person deleted leaves
            -- no name on the entries they reversed (the cascades run in triggers)
            IF pg_trigger_depth() > 1 THEN
                RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
            END IF;
            RAISE EXCEPTION 'participation entries are never changed: append one that reverses it'
                USING ERRCODE = 'restrict_violation';
        END $$
        """
    )
    op.execute(
        "CREATE TRIGGER participation_append_only BEFORE UPDATE OR DELETE ON participation "
        "FOR EACH ROW EXECUTE FUNCTION participation_append_only()"
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER participation_append_only ON participation")
    op.execute("DROP FUNCTION participation_append_only()")
    # the ledger's corrections become what they corrected: only entries still standing remain
    op.execute(
        "DELETE FROM participation p WHERE p.reverses_id IS NOT NULL"
        " OR EXISTS (SELECT 1 FROM participation r WHERE r.reverses_id = p.id)"
    )
    op.execute("DELETE FROM participation WHERE kind = 'DISPUTE'")
    # one entry per person, kind and source, as before
    op.execute(
        "DELETE FROM participation p USING participation q WHERE p.person_id = q.person_id"
        " AND p.kind = q.kind AND p.ref_id = q.ref_id AND p.created_at > q.created_at"
    )
    op.drop_index("participation_source", table_name="participation")
    op.drop_index("participation_reversed_once", table_name="participation")
    op.drop_constraint("participation_count_sign", "participation", type_="check")
    op.drop_constraint("participation_kind", "participation", type_="check")
    op.create_check_constraint(
        "participation_kind", "participation", "kind IN ('VOLUNTEER', 'MEETING', 'TASK')"
    )
    op.create_unique_constraint(
        "participation_person_id_kind_ref_id_key", "participation", ["person_id", "kind", "ref_id"]
    )
    op.drop_constraint("participation_recorded_by_fkey", "participation", type_="foreignkey")
    op.drop_constraint("participation_reverses_id_fkey", "participation", type_="foreignkey")
    op.drop_column("participation", "recorded_by")
    op.drop_column("participation", "reason")
    op.drop_column("participation", "reverses_id")
    op.drop_column("participation", "count")
