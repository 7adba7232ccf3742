"""Evaluations of Party members (评价鉴定), by quarter or year as each community sets

Drafted by the chief convener (or the community committee) from the member's participation record,
confirmed by the community committee; a confirmed evaluation never changes (a trigger refuses it):
a correction is a new version that supersedes it once confirmed, and both are kept.

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-07 01:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0023"
down_revision: str | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "community", sa.Column("evaluation_period", sa.Text(), server_default="QUARTER", nullable=False)
    )
    op.create_check_constraint(
        "community_evaluation_period_valid", "community", "evaluation_period IN ('QUARTER', 'YEAR')"
    )
    op.create_table(
        "party_evaluation",
        sa.Column("id", sa.Uuid(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("person_id", sa.Uuid(), nullable=False),
        sa.Column("compound_id", sa.Uuid(), nullable=False),
        sa.Column("period", sa.String(), nullable=False),
        sa.Column("starts_on", sa.Date(), nullable=False),
        sa.Column("ends_on", sa.Date(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("grade", sa.Text(), nullable=False),
        sa.Column("comment", sa.String(), nullable=False),
        sa.Column("status", sa.Text(), server_default="DRAFT", nullable=False),
        sa.Column("hours", sa.Numeric(8, 2), nullable=False),
        sa.Column("meetings", sa.Integer(), nullable=False),
        sa.Column("shifts", sa.Integer(), nullable=False),
        sa.Column("tasks", sa.Integer(), nullable=False),
        sa.Column("disputes", sa.Integer(), nullable=False),
        sa.Column("points", sa.Numeric(8, 2), nullable=False),
        sa.Column("drafted_by", sa.Uuid(), nullable=True),
        sa.Column("drafted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("confirmed_by", sa.Uuid(), nullable=True),
        sa.Column("confirmed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("supersedes_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.CheckConstraint(
            "grade IN ('EXCELLENT', 'QUALIFIED', 'BASICALLY_QUALIFIED', 'UNQUALIFIED')",
            name="party_evaluation_grade_valid",
        ),
        sa.CheckConstraint(
            "status IN ('DRAFT', 'CONFIRMED', 'SUPERSEDED')", name="party_evaluation_status_valid"
        ),
        sa.CheckConstraint(
            "(status = 'DRAFT') = (confirmed_at IS NULL)", name="party_evaluation_confirmed_unless_draft"
        ),
        sa.ForeignKeyConstraint(["person_id"], ["person.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["compound_id"], ["compound.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["drafted_by"], ["person.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["confirmed_by"], ["person.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["supersedes_id"], ["party_evaluation.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_party_evaluation_person_id", "party_evaluation", ["person_id"])
    op.create_index("party_evaluation_by_compound", "party_evaluation", ["compound_id", "period"])
    for status in ("draft", "confirmed"):
        op.create_index(
            f"party_evaluation_one_{status}",
            "party_evaluation",
            ["person_id", "period"],
            unique=True,
            postgresql_where=sa.text(f"status = '{status.upper()}'"),
        )
    op.execute(stays_function(KEPT))
    op.execute(
        "CREATE TRIGGER party_evaluation_confirmed_stays BEFORE UPDATE OR DELETE ON party_evaluation "
        "FOR EACH ROW EXECUTE FUNCTION party_evaluation_confirmed_stays()"
    )


#: every column but the status: superseding a confirmed evaluation changes nothing else
KEPT = (
    "id",
    "person_id",
    "compound_id",
    "period",
    "starts_on",
    "ends_on",
    "version",
    "grade",
    "comment",
    "hours",
    "meetings",
    "shifts",
    "tasks",
    "disputes",
    "points",
    "drafted_by",
    "drafted_at",
    "confirmed_by",
    "confirmed_at",
    "supersedes_id",
    "created_at",
)


def _kept(row: str, kept: Sequence[str]) -> str:
    return "ROW(" + ", ".join(f"{row}.{c}" for c in kept) + ")"


def stays_function(kept: Sequence[str], *, replace: bool = False) -> str:
    """The trigger function that keeps a confirmed evaluation as it was: `kept` are the columns
    that superseding it must leave alone (every column but the status)."""
    return (
        """
        CREATE {OR_REPLACE}FUNCTION party_evaluation_confirmed_stays() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF TG_OP = 'DELETE' THEN
                -- a person or a compound deleted takes its evaluations along (the cascade runs in a trigger)
                IF pg_trigger_depth() > 1 OR OLD.status = 'DRAFT' THEN
                    RETURN OLD;
                END IF;
            ELSIF OLD.status = 'DRAFT' THEN
                RETURN NEW;
            ELSIF OLD.status = 'CONFIRMED' AND NEW.status = 'SUPERSEDED'
                  AND {KEPT_NEW} IS NOT DISTINCT FROM {KEPT_OLD} THEN
                RETURN NEW;
            ELSIF pg_trigger_depth() > 1 THEN
                RETURN NEW;  -- a person deleted: SET NULL of who drafted or confirmed it
            END IF;
            RAISE EXCEPTION 'a confirmed evaluation is never changed: confirm a new version instead'
                USING ERRCODE = 'restrict_violation';
        END $$
        """.replace("{OR_REPLACE}", "OR REPLACE " if replace else "")
        .replace("{KEPT_NEW}", _kept("NEW", kept))
        .replace("{KEPT_OLD}", _kept("OLD", kept))
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER party_evaluation_confirmed_stays ON party_evaluation")
    op.execute("DROP FUNCTION party_evaluation_confirmed_stays()")
    for status in ("draft", "confirmed"):
        op.drop_index(f"party_evaluation_one_{status}", table_name="party_evaluation")
    op.drop_index("party_evaluation_by_compound", table_name="party_evaluation")
    op.drop_index("ix_party_evaluation_person_id", table_name="party_evaluation")
    op.drop_table("party_evaluation")
    op.drop_constraint("community_evaluation_period_valid", "community", type_="check")
    op.drop_column("community", "evaluation_period")
