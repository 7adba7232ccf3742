"""Moderation: the decisions on text held for review, append-only

A task whose text is held (`review_hold = 'HELD'`) is approved (NULL) or removed (`'REMOVED'`); a
held comment keeps its event (events are never changed) and gets a decision row. Each decision
says who made it, when, and for a removal why.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-03 18:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "moderation_decision",
        sa.Column("id", sa.Uuid(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("task_id", sa.Uuid(), nullable=False),
        sa.Column("event_id", sa.Uuid(), nullable=True),
        sa.Column("compound_id", sa.Uuid(), nullable=False),
        sa.Column("decision", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("decided_by", sa.Uuid(), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.CheckConstraint("decision IN ('APPROVED', 'REMOVED')", name="moderation_decision_valid"),
        sa.CheckConstraint("decision = 'APPROVED' OR reason IS NOT NULL", name="moderation_removal_reason"),
        sa.ForeignKeyConstraint(["task_id"], ["task.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["compound_id"], ["compound.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["decided_by"], ["person.id"], ondelete="RESTRICT"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_moderation_decision_task_id", "moderation_decision", ["task_id"])
    op.create_index("moderation_decision_event", "moderation_decision", ["event_id"])
    op.execute(
        "CREATE TRIGGER moderation_decision_append_only BEFORE UPDATE OR DELETE ON moderation_decision "
        "FOR EACH ROW EXECUTE FUNCTION qilijia_forbid_change()"
    )
    op.create_index("task_held", "task", ["compound_id"], postgresql_where=sa.text("review_hold = 'HELD'"))


def downgrade() -> None:
    op.drop_index("task_held", table_name="task")
    op.execute("DROP TRIGGER IF EXISTS moderation_decision_append_only ON moderation_decision")
    op.drop_index("moderation_decision_event", table_name="moderation_decision")
    op.drop_index("ix_moderation_decision_task_id", table_name="moderation_decision")
    op.drop_table("moderation_decision")
