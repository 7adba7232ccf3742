"""owner votes

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26 14:42:06.375740
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table(
        "vote",
        sa.Column("id", sa.Uuid(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("compound_id", sa.Uuid(), nullable=False),
        sa.Column("building_ids", postgresql.ARRAY(sa.Uuid()), server_default="{}", nullable=False),
        sa.Column("title", sa.String(), nullable=False),
        sa.Column("description", sa.String(), nullable=False),
        sa.Column("matter", sa.Text(), nullable=False),
        sa.Column("rule", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("closes_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("task_id", sa.Uuid(), nullable=True),
        sa.Column("opened_by", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_by", sa.Uuid(), nullable=True),
        sa.Column("result", sa.Text(), nullable=True),
        sa.Column("digest", sa.Text(), nullable=True),
        sa.CheckConstraint("(status = 'CLOSED') = (result IS NOT NULL)", name="vote_result_iff_closed"),
        sa.CheckConstraint(
            "matter IN ('RULES_OF_PROCEDURE', 'MANAGEMENT_STATUTE', 'ELECT_OWNERS_COMMITTEE', 'HIRE_OR_FIRE_PROPERTY_SERVICE', 'USE_MAINTENANCE_FUND', 'RAISE_MAINTENANCE_FUND', 'RENOVATE_OR_REBUILD', 'CHANGE_USE_OF_COMMON_PARTS', 'OTHER_MAJOR_MATTER', 'OTHER')",
            name="vote_matter_valid",
        ),
        sa.CheckConstraint(
            "result IS NULL OR result IN ('PASSED', 'REJECTED', 'INVALID')", name="vote_result_valid"
        ),
        sa.CheckConstraint("rule IN ('ORDINARY', 'SPECIAL')", name="vote_rule_valid"),
        sa.CheckConstraint("status IN ('OPEN', 'CLOSED')", name="vote_status_valid"),
        sa.ForeignKeyConstraint(["compound_id"], ["compound.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["opened_by"], ["person.id"], ondelete="RESTRICT"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_vote_compound_id"), "vote", ["compound_id"], unique=False)
    op.create_index(
        "vote_open_due", "vote", ["closes_at"], unique=False, postgresql_where=sa.text("status = 'OPEN'")
    )
    op.create_table(
        "ballot",
        sa.Column("id", sa.Uuid(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("vote_id", sa.Uuid(), nullable=False),
        sa.Column("compound_id", sa.Uuid(), nullable=False),
        sa.Column("person_id", sa.Uuid(), nullable=False),
        sa.Column("choice", sa.Text(), nullable=False),
        sa.Column("household_ids", postgresql.ARRAY(sa.Uuid()), nullable=False),
        sa.Column("receipt_hash", sa.Text(), nullable=False),
        sa.Column("seq", sa.BigInteger(), sa.Identity(always=True), nullable=False),
        sa.Column(
            "cast_at", sa.DateTime(timezone=True), server_default=sa.text("clock_timestamp()"), nullable=False
        ),
        sa.CheckConstraint("choice IN ('AGREE', 'DISAGREE', 'ABSTAIN')", name="ballot_choice_valid"),
        sa.ForeignKeyConstraint(["compound_id"], ["compound.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["person_id"], ["person.id"], ondelete="RESTRICT"),
        sa.ForeignKeyConstraint(["vote_id"], ["vote.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("receipt_hash"),
        sa.UniqueConstraint("seq"),
    )
    op.create_index(op.f("ix_ballot_vote_id"), "ballot", ["vote_id"], unique=False)
    op.create_table(
        "vote_electorate",
        sa.Column("vote_id", sa.Uuid(), nullable=False),
        sa.Column("household_id", sa.Uuid(), nullable=False),
        sa.Column("compound_id", sa.Uuid(), nullable=False),
        sa.Column("building_id", sa.Uuid(), nullable=False),
        sa.Column("number", sa.String(), nullable=False),
        sa.Column("area", sa.Numeric(precision=14, scale=2), nullable=False),
        sa.Column("head", sa.String(), nullable=False),
        sa.Column("choice", sa.Text(), nullable=True),
        sa.Column("ballot_id", sa.Uuid(), nullable=True),
        sa.ForeignKeyConstraint(["compound_id"], ["compound.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["vote_id"], ["vote.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("vote_id", "household_id"),
    )
    op.create_table(
        "vote_owner",
        sa.Column("vote_id", sa.Uuid(), nullable=False),
        sa.Column("household_id", sa.Uuid(), nullable=False),
        sa.Column("person_id", sa.Uuid(), nullable=False),
        sa.Column("compound_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(["compound_id"], ["compound.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["vote_id"], ["vote.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("vote_id", "household_id", "person_id"),
    )
    op.create_index("vote_owner_person", "vote_owner", ["vote_id", "person_id"], unique=False)
    op.create_table(
        "vote_tally",
        sa.Column("vote_id", sa.Uuid(), nullable=False),
        sa.Column("compound_id", sa.Uuid(), nullable=False),
        sa.Column("eligible_area", sa.Numeric(precision=14, scale=2), nullable=False),
        sa.Column("eligible_headcount", sa.Integer(), nullable=False),
        sa.Column("participating_area", sa.Numeric(precision=14, scale=2), nullable=False),
        sa.Column("participating_headcount", sa.Integer(), nullable=False),
        sa.Column("agree_area", sa.Numeric(precision=14, scale=2), nullable=False),
        sa.Column("agree_headcount", sa.Integer(), nullable=False),
        sa.Column("disagree_area", sa.Numeric(precision=14, scale=2), nullable=False),
        sa.Column("disagree_headcount", sa.Integer(), nullable=False),
        sa.Column("abstain_area", sa.Numeric(precision=14, scale=2), nullable=False),
        sa.Column("abstain_headcount", sa.Integer(), nullable=False),
        sa.Column("ballots_cast", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["compound_id"], ["compound.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["vote_id"], ["vote.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("vote_id"),
    )
    # The audit trail: ballots are never updated or deleted, whoever connects.
    op.execute(
        """
        CREATE FUNCTION qilijia_forbid_change() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION '% on % is not allowed: the table is append-only', TG_OP, TG_TABLE_NAME;
        END $$
        """
    )
    op.execute(
        "CREATE TRIGGER ballot_append_only BEFORE UPDATE OR DELETE ON ballot "
        "FOR EACH ROW EXECUTE FUNCTION qilijia_forbid_change()"
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER IF EXISTS ballot_append_only ON ballot")
    op.execute("DROP FUNCTION IF EXISTS qilijia_forbid_change()")

    op.drop_table("vote_tally")
    op.drop_index("vote_owner_person", table_name="vote_owner")
    op.drop_table("vote_owner")
    op.drop_table("vote_electorate")
    op.drop_index(op.f("ix_ballot_vote_id"), table_name="ballot")
    op.drop_table("ballot")
    op.drop_index("vote_open_due", table_name="vote", postgresql_where=sa.text("status = 'OPEN'"))
    op.drop_index(op.f("ix_vote_compound_id"), table_name="vote")
    op.drop_table("vote")
