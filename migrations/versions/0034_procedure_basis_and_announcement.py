"""Rules of procedure that require every vote to be announced with its roll first; one owners'
vote adopts one version; a proxy named on the 委托书 by name and phone (a phone nobody uses yet
becomes a person, as an import makes one); owners told when a vote is announced

Revision ID: 0034
Revises: 0033
Create Date: 2026-12-07 12:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0034"
down_revision: str | None = "0033"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

KINDS_BEFORE = (
    "REPORT_STATUS",
    "REGISTRATION_APPROVED",
    "TASK_ASSIGNED",
    "NOTICE_URGENT",
    "VOTE_OPENED",
    "VOTE_CLOSING",
    "VOTE_RESULT",
    "MEETING_TOMORROW",
    "SHIFT_TOMORROW",
    "TASK_OVERDUE",
    "EVALUATION_CLOSING",
)


def _kinds(kinds: Sequence[str]) -> None:
    op.drop_constraint("notification_kind_valid", "notification", type_="check")
    op.create_check_constraint(
        "notification_kind_valid", "notification", "kind IN (" + ", ".join(f"'{k}'" for k in kinds) + ")"
    )


def upgrade() -> None:
    op.add_column(
        "procedure_rules",
        sa.Column("announcement_required", sa.Boolean(), server_default=sa.false(), nullable=False),
    )
    op.create_index(
        "procedure_rules_basis_once",
        "procedure_rules",
        ["basis_vote_id"],
        unique=True,
        postgresql_where=sa.text("basis_vote_id IS NOT NULL"),
    )
    op.add_column("vote_proxy", sa.Column("proxy_name", sa.Text(), nullable=True))
    _kinds((*KINDS_BEFORE, "VOTE_ANNOUNCED"))


def downgrade() -> None:
    op.execute("DELETE FROM notification WHERE kind = 'VOTE_ANNOUNCED'")
    _kinds(KINDS_BEFORE)
    op.drop_column("vote_proxy", "proxy_name")
    op.drop_index("procedure_rules_basis_once", table_name="procedure_rules")
    op.drop_column("procedure_rules", "announcement_required")
