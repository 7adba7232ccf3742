"""A vote announced before it opens, its owner roll published (公示) for the rules of procedure's
period; owners' objections to their own entry of the roll, with evidence, settled before the vote
opens; uploads that are paper records, never sent to WeChat's image check

Revision ID: 0033
Revises: 0032
Create Date: 2026-12-07 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0033"
down_revision: str | None = "0032"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

KINDS_BEFORE = ("TASK", "TASK_EVENT", "MEETING", "NOTICE", "PAPER_BALLOT", "PROXY", "WORKS_CONSENT")


def _kinds(kinds: tuple[str, ...]) -> None:
    op.drop_constraint("attachment_object_type_valid", "attachment", type_="check")
    op.create_check_constraint(
        "attachment_object_type_valid",
        "attachment",
        "object_type IN (" + ", ".join(f"'{k}'" for k in kinds) + ")",
    )


def _statuses(statuses: tuple[str, ...]) -> None:
    op.drop_constraint("vote_status_valid", "vote", type_="check")
    op.create_check_constraint(
        "vote_status_valid", "vote", "status IN (" + ", ".join(f"'{s}'" for s in statuses) + ")"
    )


def upgrade() -> None:
    op.add_column("procedure_rules", sa.Column("roll_days", sa.Integer(), server_default="7", nullable=False))
    op.create_check_constraint(
        "procedure_rules_roll_days_range", "procedure_rules", "roll_days BETWEEN 1 AND 60"
    )
    _statuses(("ANNOUNCED", "OPEN", "CLOSED", "CANCELLED"))
    op.add_column("vote", sa.Column("opens_at", sa.DateTime(timezone=True), nullable=True))
    op.create_check_constraint(
        "vote_announced_opens", "vote", "status <> 'ANNOUNCED' OR opens_at IS NOT NULL"
    )
    op.add_column("vote_objection", sa.Column("stage", sa.Text(), server_default="RESULT", nullable=False))
    op.add_column("vote_objection", sa.Column("household_id", sa.Uuid(), nullable=True))
    op.add_column("vote_objection", sa.Column("issue", sa.Text(), nullable=True))
    op.create_check_constraint("vote_objection_stage_valid", "vote_objection", "stage IN ('ROLL', 'RESULT')")
    op.create_check_constraint(
        "vote_objection_issue_valid",
        "vote_objection",
        "issue IS NULL OR issue IN ('WRONG_AREA', 'MISSING_CO_OWNER', 'SOLD', 'OTHER')",
    )
    op.create_check_constraint(
        "vote_objection_roll_entry",
        "vote_objection",
        "(stage = 'ROLL') = (household_id IS NOT NULL AND issue IS NOT NULL)",
    )
    _kinds((*KINDS_BEFORE, "VOTE_OBJECTION"))
    op.add_column("upload", sa.Column("private", sa.Boolean(), server_default=sa.false(), nullable=False))


def downgrade() -> None:
    op.drop_column("upload", "private")
    op.execute("DELETE FROM attachment WHERE object_type = 'VOTE_OBJECTION'")
    _kinds(KINDS_BEFORE)
    op.execute("DELETE FROM vote_objection WHERE stage = 'ROLL'")
    for name in ("vote_objection_roll_entry", "vote_objection_issue_valid", "vote_objection_stage_valid"):
        op.drop_constraint(name, "vote_objection", type_="check")
    op.drop_column("vote_objection", "issue")
    op.drop_column("vote_objection", "household_id")
    op.drop_column("vote_objection", "stage")
    op.execute("UPDATE vote SET status = 'CANCELLED', cancelled_at = now() WHERE status = 'ANNOUNCED'")
    op.drop_constraint("vote_announced_opens", "vote", type_="check")
    op.drop_column("vote", "opens_at")
    _statuses(("OPEN", "CLOSED", "CANCELLED"))
    op.drop_constraint("procedure_rules_roll_days_range", "procedure_rules", type_="check")
    op.drop_column("procedure_rules", "roll_days")
