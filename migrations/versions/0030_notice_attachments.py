"""Photos and files on notices: a notice is one more kind of object a photo is attached to, and
an upload may be a file that is not a photo (a PDF), shown under the name it was uploaded with;
when WeChat was asked to check a photo is kept (a verdict that never came is asked for again), and
the jobs' scans of uploads are indexed

Revision ID: 0030
Revises: 0029
Create Date: 2026-12-07 07:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0030"
down_revision: str | None = "0029"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BEFORE = ("TASK", "TASK_EVENT", "MEETING")


def _kinds(kinds: tuple[str, ...]) -> None:
    op.drop_constraint("attachment_object_type_valid", "attachment", type_="check")
    op.create_check_constraint(
        "attachment_object_type_valid",
        "attachment",
        "object_type IN (" + ", ".join(f"'{k}'" for k in kinds) + ")",
    )


def upgrade() -> None:
    _kinds((*BEFORE, "NOTICE"))
    op.add_column("upload", sa.Column("file_name", sa.Text(), nullable=True))
    op.add_column("upload", sa.Column("check_asked_at", sa.DateTime(timezone=True), nullable=True))
    op.create_index("upload_held", "upload", ["created_at"], postgresql_where=sa.text("status = 'HELD'"))
    op.create_index("upload_created", "upload", ["created_at"])


def downgrade() -> None:
    op.execute("DELETE FROM attachment WHERE object_type = 'NOTICE'")
    op.execute("DELETE FROM upload WHERE media_type = 'application/pdf'")
    op.drop_index("upload_created", table_name="upload")
    op.drop_index("upload_held", table_name="upload")
    op.drop_column("upload", "check_asked_at")
    op.drop_column("upload", "file_name")
    _kinds(BEFORE)
