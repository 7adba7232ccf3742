"""Results published with an objection window, and works votes: each vote's kind (an owners'
decision, or works inside a unit or building whose directly affected households must each agree),
the households it names and those that did not agree, the end of the objection window set at the
close, the compound's publication period in its rules of procedure, and owners' objections with
their answers

Revision ID: 0032
Revises: 0031
Create Date: 2026-12-07 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

KINDS_BEFORE = ("TASK", "TASK_EVENT", "MEETING", "NOTICE", "PAPER_BALLOT", "PROXY")


def _kinds(kinds: tuple[str, ...]) -> None:
    op.drop_constraint("attachment_object_type_valid", "attachment", type_="check")
    op.create_check_constraint(
        "attachment_object_type_valid",
        "attachment",
        "object_type IN (" + ", ".join(f"'{k}'" for k in kinds) + ")",
    )


revision: str = "0032"
down_revision: str | None = "0031"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "procedure_rules", sa.Column("objection_days", sa.Integer(), server_default="7", nullable=False)
    )
    op.create_check_constraint(
        "procedure_rules_objection_days_range", "procedure_rules", "objection_days BETWEEN 1 AND 60"
    )
    op.add_column("vote", sa.Column("kind", sa.Text(), server_default="ASSEMBLY", nullable=False))
    op.add_column(
        "vote",
        sa.Column("affected_household_ids", postgresql.ARRAY(sa.Uuid()), server_default="{}", nullable=False),
    )
    op.add_column("vote", sa.Column("unconsented", postgresql.ARRAY(sa.Text()), nullable=True))
    op.add_column("vote", sa.Column("objection_until", sa.DateTime(timezone=True), nullable=True))
    op.create_check_constraint("vote_kind_valid", "vote", "kind IN ('ASSEMBLY', 'WORKS')")
    op.create_check_constraint(
        "vote_works_name_the_affected", "vote", "(kind = 'WORKS') = (cardinality(affected_household_ids) > 0)"
    )
    # votes closed before: their results were published at their close, for the default period
    op.execute("UPDATE vote SET objection_until = closed_at + interval '7 days' WHERE status = 'CLOSED'")
    op.create_table(
        "vote_objection",
        sa.Column("id", sa.Uuid(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("vote_id", sa.Uuid(), nullable=False),
        sa.Column("compound_id", sa.Uuid(), nullable=False),
        sa.Column("raised_by", sa.Uuid(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("raised_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("answer", sa.Text(), nullable=True),
        sa.Column("answered_by", sa.Uuid(), nullable=True),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("settled_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("(answered_at IS NULL) = (answer IS NULL)", name="vote_objection_answered"),
        sa.CheckConstraint(
            "settled_at IS NULL OR answered_at IS NOT NULL", name="vote_objection_settled_answered"
        ),
        sa.ForeignKeyConstraint(["vote_id"], ["vote.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["compound_id"], ["compound.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["raised_by"], ["person.id"], ondelete="RESTRICT"),
        sa.ForeignKeyConstraint(["answered_by"], ["person.id"], ondelete="RESTRICT"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("vote_objection_vote", "vote_objection", ["vote_id", "raised_at"])
    op.create_table(
        "works_consent",
        sa.Column("id", sa.Uuid(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("vote_id", sa.Uuid(), nullable=False),
        sa.Column("compound_id", sa.Uuid(), nullable=False),
        sa.Column("household_id", sa.Uuid(), nullable=False),
        sa.Column("agree", sa.Boolean(), nullable=False),
        sa.Column("recorded_by", sa.Uuid(), nullable=False),
        sa.Column(
            "given_at", sa.DateTime(timezone=True), server_default=sa.func.clock_timestamp(), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["vote_id", "household_id"],
            ["vote_electorate.vote_id", "vote_electorate.household_id"],
            name="works_consent_elector",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(["compound_id"], ["compound.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["recorded_by"], ["person.id"], ondelete="RESTRICT"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("works_consent_household", "works_consent", ["vote_id", "household_id", "given_at"])
    _kinds((*KINDS_BEFORE, "WORKS_CONSENT"))


def downgrade() -> None:
    op.execute("DELETE FROM attachment WHERE object_type = 'WORKS_CONSENT'")
    _kinds(KINDS_BEFORE)
    op.drop_table("works_consent")
    op.drop_table("vote_objection")
    op.drop_constraint("vote_works_name_the_affected", "vote", type_="check")
    op.drop_constraint("vote_kind_valid", "vote", type_="check")
    op.drop_column("vote", "objection_until")
    op.drop_column("vote", "unconsented")
    op.drop_column("vote", "affected_household_ids")
    op.drop_column("vote", "kind")
    op.drop_constraint("procedure_rules_objection_days_range", "procedure_rules", type_="check")
    op.drop_column("procedure_rules", "objection_days")
