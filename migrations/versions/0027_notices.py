"""Notices (公告): posted to a community, a compound or some of its buildings; their versions, never
changed (a trigger); and who read them

Revision ID: 0027
Revises: 0026
Create Date: 2026-12-07 06:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0027"
down_revision: str | None = "0026"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


#: the kinds of message before and after: an urgent notice is told as a message
KINDS_BEFORE = ("REPORT_STATUS", "REGISTRATION_APPROVED", "TASK_ASSIGNED")
KINDS = (*KINDS_BEFORE, "NOTICE_URGENT")


def _kinds(kinds: tuple[str, ...]) -> None:
    op.drop_constraint("notification_kind_valid", "notification", type_="check")
    op.create_check_constraint(
        "notification_kind_valid", "notification", "kind IN (" + ", ".join(f"'{k}'" for k in kinds) + ")"
    )


def upgrade() -> None:
    _kinds(KINDS)
    op.create_table(
        "notice",
        sa.Column("id", sa.Uuid(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("community_id", sa.Uuid(), nullable=False),
        sa.Column("compound_id", sa.Uuid(), nullable=True),
        sa.Column("building_ids", postgresql.ARRAY(sa.Uuid()), server_default="{}", nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("title", sa.String(), nullable=False),
        sa.Column("body", sa.String(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("pinned", sa.Boolean(), nullable=False),
        sa.Column("publish_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("author_id", sa.Uuid(), nullable=False),
        sa.Column("author_role", sa.String(), nullable=False),
        sa.Column("withdrawn_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("withdrawn_by", sa.Uuid(), nullable=True),
        sa.Column("withdraw_reason", sa.String(), nullable=True),
        sa.Column("told_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.CheckConstraint("kind IN ('NORMAL', 'URGENT')", name="notice_kind_valid"),
        sa.CheckConstraint(
            "compound_id IS NOT NULL OR cardinality(building_ids) = 0", name="notice_buildings_in_compound"
        ),
        sa.CheckConstraint("expires_at IS NULL OR expires_at > publish_at", name="notice_times"),
        sa.ForeignKeyConstraint(["community_id"], ["community.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["compound_id"], ["compound.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["author_id"], ["person.id"], ondelete="RESTRICT"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("notice_community_feed", "notice", ["community_id", sa.text("publish_at DESC"), "id"])
    op.create_index("notice_compound_feed", "notice", ["compound_id", sa.text("publish_at DESC"), "id"])
    op.create_index(
        "notice_untold",
        "notice",
        ["publish_at"],
        postgresql_where=sa.text("kind = 'URGENT' AND told_at IS NULL"),
    )
    op.create_table(
        "notice_version",
        sa.Column("notice_id", sa.Uuid(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(), nullable=False),
        sa.Column("body", sa.String(), nullable=False),
        sa.Column("note", sa.String(), nullable=True),
        sa.Column("written_by", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.ForeignKeyConstraint(["notice_id"], ["notice.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["written_by"], ["person.id"], ondelete="RESTRICT"),
        sa.PrimaryKeyConstraint("notice_id", "version"),
    )
    op.create_table(
        "notice_read",
        sa.Column("notice_id", sa.Uuid(), nullable=False),
        sa.Column("person_id", sa.Uuid(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("read_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.ForeignKeyConstraint(["notice_id"], ["notice.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["person_id"], ["person.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("notice_id", "person_id"),
    )
    op.create_index("notice_read_person", "notice_read", ["person_id"])
    op.execute(
        """
        CREATE FUNCTION notice_version_stays() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF pg_trigger_depth() > 1 THEN
                RETURN OLD;  -- its notice deleted with its community or compound
            END IF;
            RAISE EXCEPTION 'a notice''s versions are kept as published: correct it with a new version'
                USING ERRCODE = 'restrict_violation';
        END $$
        """
    )
    op.execute(
        "CREATE TRIGGER notice_version_stays BEFORE UPDATE OR DELETE ON notice_version "
        "FOR EACH ROW EXECUTE FUNCTION notice_version_stays()"
    )


def downgrade() -> None:
    op.execute("DELETE FROM notification WHERE kind = 'NOTICE_URGENT'")
    _kinds(KINDS_BEFORE)
    op.execute("DROP TRIGGER notice_version_stays ON notice_version")
    op.execute("DROP FUNCTION notice_version_stays()")
    op.drop_index("notice_read_person", table_name="notice_read")
    op.drop_table("notice_read")
    op.drop_table("notice_version")
    op.drop_index("notice_untold", table_name="notice")
    op.drop_index("notice_compound_feed", table_name="notice")
    op.drop_index("notice_community_feed", table_name="notice")
    op.drop_table("notice")
