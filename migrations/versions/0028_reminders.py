"""Reminders and the events of votes as messages, and each community's service deadline

A message may carry a key that makes it once-only for its person (a reminder of a vote's close, of
tomorrow's meeting): a unique index keeps it one whichever process writes it, across restarts.
The new kinds of message (the reminders, and a vote's opening and result) are allowed; a community sets how many days a report may take before the
people working it are reminded that it is overdue, and the tasks still worked on are indexed by age
for that reminder.

Revision ID: 0028
Revises: 0027
Create Date: 2026-12-08 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0028"
down_revision: str | None = "0027"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: the kinds before (an urgent notice is told since migration 0027)
KINDS = ("REPORT_STATUS", "REGISTRATION_APPROVED", "TASK_ASSIGNED", "NOTICE_URGENT")
NEW_KINDS = (
    "VOTE_OPENED",
    "VOTE_CLOSING",
    "VOTE_RESULT",
    "MEETING_TOMORROW",
    "SHIFT_TOMORROW",
    "TASK_OVERDUE",
    "EVALUATION_CLOSING",
)


def _kinds(kinds: Sequence[str]) -> str:
    return "kind IN (" + ", ".join(f"'{k}'" for k in kinds) + ")"


def upgrade() -> None:
    op.add_column("notification", sa.Column("once_key", sa.Text(), nullable=True))
    op.create_index(
        "notification_once",
        "notification",
        ["person_id", "once_key"],
        unique=True,
        postgresql_where=sa.text("once_key IS NOT NULL"),
    )
    op.drop_constraint("notification_kind_valid", "notification", type_="check")
    op.create_check_constraint("notification_kind_valid", "notification", _kinds((*KINDS, *NEW_KINDS)))
    op.add_column("community", sa.Column("service_days", sa.Integer(), server_default="7", nullable=False))
    op.create_check_constraint("community_service_days_range", "community", "service_days BETWEEN 1 AND 365")
    op.create_index(
        "task_working_since",
        "task",
        ["created_at"],
        postgresql_where=sa.text("status IN ('ACCEPTED', 'IN_PROGRESS')"),
    )


def downgrade() -> None:
    op.drop_index("task_working_since", table_name="task")
    op.drop_constraint("community_service_days_range", "community", type_="check")
    op.drop_column("community", "service_days")
    op.execute("DELETE FROM notification WHERE " + _kinds(NEW_KINDS))
    op.drop_constraint("notification_kind_valid", "notification", type_="check")
    op.create_check_constraint("notification_kind_valid", "notification", _kinds(KINDS))
    op.drop_index("notification_once", table_name="notification")
    op.drop_column("notification", "once_key")
