"""Photos: uploaded images (held until WeChat's image check passes them where WeChat is
configured) and what they are attached to — reports, timeline records, meetings — with WeChat
cloud file ids attached as they are

Revision ID: 0029
Revises: 0028
Create Date: 2026-12-08 05:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0029"
down_revision: str | None = "0028"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "upload",
        sa.Column("id", sa.Uuid(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("owner_id", sa.Uuid(), nullable=False),
        sa.Column("sha256", sa.Text(), nullable=False),
        sa.Column("size_bytes", sa.Integer(), nullable=False),
        sa.Column("media_type", sa.Text(), nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("check_trace_id", sa.Text(), nullable=True),
        sa.Column("checked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.CheckConstraint("status IN ('PASSED', 'HELD', 'REJECTED')", name="upload_status_valid"),
        sa.ForeignKeyConstraint(["owner_id"], ["person.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_upload_owner_id", "upload", ["owner_id"])
    op.create_index("upload_check_trace", "upload", ["check_trace_id"], unique=True)
    op.create_table(
        "attachment",
        sa.Column("id", sa.Uuid(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("object_type", sa.Text(), nullable=False),
        sa.Column("object_id", sa.Uuid(), nullable=False),
        sa.Column("position", sa.SmallInteger(), nullable=False),
        sa.Column("upload_id", sa.Uuid(), nullable=True),
        sa.Column("cloud_file_id", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.CheckConstraint(
            "object_type IN ('TASK', 'TASK_EVENT', 'MEETING')", name="attachment_object_type_valid"
        ),
        sa.CheckConstraint(
            "(upload_id IS NULL) <> (cloud_file_id IS NULL)", name="attachment_upload_or_cloud_file"
        ),
        sa.CheckConstraint("position >= 0 AND position < 9", name="attachment_position_range"),
        sa.ForeignKeyConstraint(["upload_id"], ["upload.id"], ondelete="RESTRICT"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("object_type", "object_id", "position", name="attachment_place"),
    )
    op.create_index("ix_attachment_upload_id", "attachment", ["upload_id"])


def downgrade() -> None:
    op.drop_index("ix_attachment_upload_id", table_name="attachment")
    op.drop_table("attachment")
    op.drop_index("upload_check_trace", table_name="upload")
    op.drop_index("ix_upload_owner_id", table_name="upload")
    op.drop_table("upload")
