"""Exports of confirmed evaluations to the members' employers' Party organisations

One export per organisation, community and period: the workbook and the PDF as sent, the
evaluation versions they hold and the verification code printed on them. Nothing of an export
changes afterwards but the record, once, that the organisation acknowledged it (a trigger).

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-07 03:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0024"
down_revision: str | None = "0023"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: every column but the acknowledgement and who made it (a person deleted: SET NULL)
KEPT = (
    "id",
    "code",
    "community_id",
    "period",
    "party_org",
    "members",
    "made_by_name",
    "made_at",
    "workbook",
    "pdf",
    "workbook_sha256",
    "pdf_sha256",
    "created_at",
)


def _kept(row: str) -> str:
    return "ROW(" + ", ".join(f"{row}.{c}" for c in KEPT) + ")"


def upgrade() -> None:
    op.create_table(
        "evaluation_export",
        sa.Column("id", sa.Uuid(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("code", sa.Text(), nullable=False),
        sa.Column("community_id", sa.Uuid(), nullable=False),
        sa.Column("period", sa.String(), nullable=False),
        sa.Column("party_org", sa.String(), nullable=False),
        sa.Column("members", sa.Integer(), nullable=False),
        sa.Column("made_by", sa.Uuid(), nullable=True),
        sa.Column("made_by_name", sa.String(), nullable=False),
        sa.Column("made_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("workbook", sa.LargeBinary(), nullable=False),
        sa.Column("pdf", sa.LargeBinary(), nullable=False),
        sa.Column("workbook_sha256", sa.String(), nullable=False),
        sa.Column("pdf_sha256", sa.String(), nullable=False),
        sa.Column("acknowledged_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("acknowledged_by", sa.Uuid(), nullable=True),
        sa.Column("acknowledgement", sa.String(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.ForeignKeyConstraint(["community_id"], ["community.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["made_by"], ["person.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["acknowledged_by"], ["person.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("code"),
    )
    op.create_index(
        "evaluation_export_by_community", "evaluation_export", ["community_id", "period", "made_at"]
    )
    op.create_table(
        "evaluation_export_item",
        sa.Column("export_id", sa.Uuid(), nullable=False),
        sa.Column("ordinal", sa.Integer(), nullable=False),
        sa.Column("evaluation_id", sa.Uuid(), nullable=True),
        sa.Column("masked_name", sa.String(), nullable=False),
        sa.Column("grade", sa.String(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["export_id"], ["evaluation_export.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["evaluation_id"], ["party_evaluation.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("export_id", "ordinal"),
    )
    op.create_index("ix_evaluation_export_item_evaluation_id", "evaluation_export_item", ["evaluation_id"])
    op.execute(
        """
        CREATE FUNCTION evaluation_export_stays() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF pg_trigger_depth() > 1 THEN
                -- a community or a person deleted: the cascade, or SET NULL of who made it
                RETURN CASE TG_OP WHEN 'DELETE' THEN OLD ELSE NEW END;
            ELSIF TG_OP = 'UPDATE' AND {KEPT_NEW} IS NOT DISTINCT FROM {KEPT_OLD}
                  AND NEW.made_by IS NOT DISTINCT FROM OLD.made_by
                  AND OLD.acknowledged_at IS NULL THEN
                RETURN NEW;  -- the acknowledgement, recorded once
            END IF;
            RAISE EXCEPTION 'an export is kept as it was sent: only its acknowledgement is recorded, once'
                USING ERRCODE = 'restrict_violation';
        END $$
        """.replace("{KEPT_NEW}", _kept("NEW")).replace("{KEPT_OLD}", _kept("OLD"))
    )
    op.execute(
        "CREATE TRIGGER evaluation_export_stays BEFORE UPDATE OR DELETE ON evaluation_export "
        "FOR EACH ROW EXECUTE FUNCTION evaluation_export_stays()"
    )
    op.execute(
        """
        CREATE FUNCTION evaluation_export_item_stays() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF pg_trigger_depth() > 1 THEN
                -- its export deleted with its community, or its evaluation with its person
                RETURN CASE TG_OP WHEN 'DELETE' THEN OLD ELSE NEW END;
            END IF;
            RAISE EXCEPTION 'an export is kept as it was sent: its members are never changed'
                USING ERRCODE = 'restrict_violation';
        END $$
        """
    )
    op.execute(
        "CREATE TRIGGER evaluation_export_item_stays BEFORE UPDATE OR DELETE ON evaluation_export_item "
        "FOR EACH ROW EXECUTE FUNCTION evaluation_export_item_stays()"
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER evaluation_export_item_stays ON evaluation_export_item")
    op.execute("DROP FUNCTION evaluation_export_item_stays()")
    op.execute("DROP TRIGGER evaluation_export_stays ON evaluation_export")
    op.execute("DROP FUNCTION evaluation_export_stays()")
    op.drop_index("ix_evaluation_export_item_evaluation_id", table_name="evaluation_export_item")
    op.drop_table("evaluation_export_item")
    op.drop_index("evaluation_export_by_community", table_name="evaluation_export")
    op.drop_table("evaluation_export")
