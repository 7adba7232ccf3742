"""A report may be withdrawn by its reporter before it is accepted: task status WITHDRAWN

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03 14:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BEFORE = "status IN ('SUBMITTED', 'ACCEPTED', 'REJECTED', 'IN_PROGRESS', 'RESOLVED', 'CLOSED')"
AFTER = "status IN ('SUBMITTED', 'ACCEPTED', 'REJECTED', 'IN_PROGRESS', 'RESOLVED', 'CLOSED', 'WITHDRAWN')"


def upgrade() -> None:
    op.drop_constraint("task_status_valid", "task", type_="check")
    op.create_check_constraint("task_status_valid", "task", AFTER)


def downgrade() -> None:
    # a withdrawn report has no older state to return to: refuse rather than guess one
    op.execute(
        "DO $$ BEGIN IF EXISTS (SELECT 1 FROM task WHERE status = 'WITHDRAWN') THEN"
        " RAISE EXCEPTION 'withdrawn tasks exist: this downgrade would lose them'; END IF; END $$"
    )
    op.drop_constraint("task_status_valid", "task", type_="check")
    op.create_check_constraint("task_status_valid", "task", BEFORE)
