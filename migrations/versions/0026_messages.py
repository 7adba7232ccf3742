"""Messages to people: the in-app inbox, which is also the outbox of WeChat subscription messages,
and the one-time consents people give to each template

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-07 04:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0026"
down_revision: str | None = "0025"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "notification",
        sa.Column("id", sa.Uuid(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("person_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("title", sa.String(), nullable=False),
        sa.Column("body", sa.String(), nullable=False),
        sa.Column("ref_type", sa.String(), nullable=False),
        sa.Column("ref_id", sa.Uuid(), nullable=False),
        sa.Column("read_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("delivery", sa.Text(), nullable=False),
        sa.Column("template_id", sa.String(), nullable=True),
        sa.Column("data", postgresql.JSONB(), nullable=True),
        sa.Column("page", sa.String(), nullable=True),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("error", sa.String(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.CheckConstraint(
            "kind IN ('REPORT_STATUS', 'REGISTRATION_APPROVED', 'TASK_ASSIGNED')",
            name="notification_kind_valid",
        ),
        sa.CheckConstraint(
            "delivery IN ('IN_APP', 'PENDING', 'SENDING', 'SENT', 'FAILED', 'UNCONFIRMED')",
            name="notification_delivery_valid",
        ),
        sa.ForeignKeyConstraint(["person_id"], ["person.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("notification_inbox", "notification", ["person_id", "created_at", "id"])
    op.create_index(
        "notification_due",
        "notification",
        ["next_attempt_at"],
        postgresql_where=sa.text("delivery IN ('PENDING', 'SENDING')"),
    )
    op.create_table(
        "message_consent",
        sa.Column("person_id", sa.Uuid(), nullable=False),
        sa.Column("template_id", sa.Text(), nullable=False),
        sa.Column("remaining", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.ForeignKeyConstraint(["person_id"], ["person.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("person_id", "template_id"),
    )


def downgrade() -> None:
    op.drop_table("message_consent")
    op.drop_index("notification_due", table_name="notification")
    op.drop_index("notification_inbox", table_name="notification")
    op.drop_table("notification")
