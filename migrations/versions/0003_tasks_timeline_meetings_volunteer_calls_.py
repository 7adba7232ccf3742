"""tasks, timeline, meetings, volunteer calls, disclosures, disputes

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26 15:04:26.173812
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table(
        "participation",
        sa.Column("id", sa.Uuid(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("person_id", sa.Uuid(), nullable=False),
        sa.Column("compound_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("ref_id", sa.Uuid(), nullable=False),
        sa.Column("hours", sa.Numeric(precision=6, scale=2), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("kind IN ('VOLUNTEER', 'MEETING', 'TASK')", name="participation_kind"),
        sa.ForeignKeyConstraint(["compound_id"], ["compound.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["person_id"], ["person.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("person_id", "kind", "ref_id"),
    )
    op.create_index(op.f("ix_participation_person_id"), "participation", ["person_id"], unique=False)
    op.create_table(
        "task",
        sa.Column("id", sa.Uuid(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("compound_id", sa.Uuid(), nullable=False),
        sa.Column("building_id", sa.Uuid(), nullable=True),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("category", sa.Text(), nullable=False),
        sa.Column("title", sa.String(), nullable=False),
        sa.Column("description", sa.String(), nullable=False),
        sa.Column("photo_urls", postgresql.ARRAY(sa.Text()), server_default="{}", nullable=False),
        sa.Column("visibility", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("reporter_id", sa.Uuid(), nullable=False),
        sa.Column("assigned_role", sa.Text(), nullable=True),
        sa.Column("resolution", sa.String(), nullable=True),
        sa.Column("reopen_count", sa.Integer(), nullable=False),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("rating_stars", sa.Integer(), nullable=True),
        sa.Column("rating_comment", sa.String(), nullable=True),
        sa.Column("review_hold", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint(
            "category IN ('ELEVATOR', 'PARKING', 'EBIKE_CHARGING', 'ENVIRONMENT', 'SAFETY', 'PROPERTY_SERVICE', 'PROPERTY_RIGHTS', 'FACILITIES_REPAIR', 'NEIGHBOUR_RELATIONS', 'OTHER')",
            name="task_category_valid",
        ),
        sa.CheckConstraint("kind IN ('ISSUE', 'PROJECT', 'DISPUTE')", name="task_kind_valid"),
        sa.CheckConstraint(
            "status IN ('SUBMITTED', 'ACCEPTED', 'REJECTED', 'IN_PROGRESS', 'RESOLVED', 'CLOSED')",
            name="task_status_valid",
        ),
        sa.CheckConstraint("visibility IN ('PUBLIC', 'INTERNAL')", name="task_visibility_valid"),
        sa.CheckConstraint("rating_stars IS NULL OR rating_stars BETWEEN 1 AND 5", name="task_rating_range"),
        sa.ForeignKeyConstraint(["compound_id"], ["compound.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["reporter_id"], ["person.id"], ondelete="RESTRICT"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_task_reporter_id"), "task", ["reporter_id"], unique=False)
    op.create_index(
        "task_compound_recent",
        "task",
        ["compound_id", sa.literal_column("created_at DESC"), "id"],
        unique=False,
    )
    op.create_index(
        "task_resolved_due",
        "task",
        ["resolved_at"],
        unique=False,
        postgresql_where=sa.text("status = 'RESOLVED'"),
    )
    op.create_table(
        "cost_disclosure",
        sa.Column("id", sa.Uuid(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("task_id", sa.Uuid(), nullable=False),
        sa.Column("compound_id", sa.Uuid(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(), nullable=False),
        sa.Column("line_items", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("total", sa.Numeric(precision=14, scale=2), nullable=False),
        sa.Column("subsidy", sa.Numeric(precision=14, scale=2), nullable=False),
        sa.Column("split", sa.Text(), nullable=False),
        sa.Column("attachment_urls", postgresql.ARRAY(sa.Text()), server_default="{}", nullable=False),
        sa.Column("note", sa.String(), nullable=True),
        sa.Column("created_by", sa.Uuid(), nullable=False),
        sa.Column(
            "published_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.CheckConstraint("split IN ('EQUAL', 'AREA')", name="cost_disclosure_split"),
        sa.CheckConstraint("subsidy >= 0 AND subsidy <= total", name="cost_disclosure_subsidy"),
        sa.ForeignKeyConstraint(["compound_id"], ["compound.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["created_by"], ["person.id"], ondelete="RESTRICT"),
        sa.ForeignKeyConstraint(["task_id"], ["task.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("task_id", "version"),
    )
    op.create_index(op.f("ix_cost_disclosure_task_id"), "cost_disclosure", ["task_id"], unique=False)
    op.create_table(
        "dispute_outcome",
        sa.Column("task_id", sa.Uuid(), nullable=False),
        sa.Column("compound_id", sa.Uuid(), nullable=False),
        sa.Column("agreed", sa.Boolean(), nullable=False),
        sa.Column("agreement", sa.String(), nullable=True),
        sa.Column("recorded_by", sa.Uuid(), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(["compound_id"], ["compound.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["recorded_by"], ["person.id"], ondelete="RESTRICT"),
        sa.ForeignKeyConstraint(["task_id"], ["task.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("task_id"),
    )
    op.create_table(
        "meeting",
        sa.Column("id", sa.Uuid(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("task_id", sa.Uuid(), nullable=False),
        sa.Column("compound_id", sa.Uuid(), nullable=False),
        sa.Column("topic", sa.String(), nullable=False),
        sa.Column("held_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("location", sa.String(), nullable=True),
        sa.Column("decisions", postgresql.ARRAY(sa.Text()), server_default="{}", nullable=False),
        sa.Column("created_by", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(["compound_id"], ["compound.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["created_by"], ["person.id"], ondelete="RESTRICT"),
        sa.ForeignKeyConstraint(["task_id"], ["task.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_meeting_task_id"), "meeting", ["task_id"], unique=False)
    op.create_table(
        "task_event",
        sa.Column("id", sa.Uuid(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("seq", sa.BigInteger(), sa.Identity(always=True), nullable=False),
        sa.Column("task_id", sa.Uuid(), nullable=False),
        sa.Column("compound_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("actor_id", sa.Uuid(), nullable=True),
        sa.Column("actor_role", sa.Text(), nullable=False),
        sa.Column("payload", postgresql.JSONB(astext_type=sa.Text()), server_default="{}", nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("clock_timestamp()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(["compound_id"], ["compound.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["task_id"], ["task.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("seq"),
    )
    op.create_index("task_event_timeline", "task_event", ["task_id", "seq"], unique=False)
    op.create_table(
        "task_member",
        sa.Column("task_id", sa.Uuid(), nullable=False),
        sa.Column("person_id", sa.Uuid(), nullable=False),
        sa.Column("role", sa.Text(), nullable=False),
        sa.Column("compound_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint(
            "role IN ('ASSIGNEE', 'LEAD', 'MEMBER', 'PARTY', 'MEDIATOR')", name="task_member_role"
        ),
        sa.ForeignKeyConstraint(["compound_id"], ["compound.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["person_id"], ["person.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["task_id"], ["task.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("task_id", "person_id", "role"),
    )
    op.create_index("task_member_person", "task_member", ["person_id"], unique=False)
    op.create_table(
        "volunteer_call",
        sa.Column("id", sa.Uuid(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("task_id", sa.Uuid(), nullable=False),
        sa.Column("compound_id", sa.Uuid(), nullable=False),
        sa.Column("title", sa.String(), nullable=False),
        sa.Column("needed", sa.Integer(), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.Uuid(), nullable=False),
        sa.Column("signed_count", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("ends_at > starts_at", name="volunteer_call_times"),
        sa.CheckConstraint("needed BETWEEN 1 AND 1000", name="volunteer_call_needed_range"),
        sa.ForeignKeyConstraint(["compound_id"], ["compound.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["created_by"], ["person.id"], ondelete="RESTRICT"),
        sa.ForeignKeyConstraint(["task_id"], ["task.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_volunteer_call_task_id"), "volunteer_call", ["task_id"], unique=False)
    op.create_table(
        "cost_share",
        sa.Column("disclosure_id", sa.Uuid(), nullable=False),
        sa.Column("household_id", sa.Uuid(), nullable=False),
        sa.Column("compound_id", sa.Uuid(), nullable=False),
        sa.Column("number", sa.String(), nullable=False),
        sa.Column("area", sa.Numeric(precision=10, scale=2), nullable=False),
        sa.Column("share", sa.Numeric(precision=14, scale=2), nullable=False),
        sa.ForeignKeyConstraint(["compound_id"], ["compound.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["disclosure_id"], ["cost_disclosure.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("disclosure_id", "household_id"),
    )
    op.create_table(
        "meeting_attendee",
        sa.Column("meeting_id", sa.Uuid(), nullable=False),
        sa.Column("person_id", sa.Uuid(), nullable=False),
        sa.Column("compound_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(["compound_id"], ["compound.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["meeting_id"], ["meeting.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["person_id"], ["person.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("meeting_id", "person_id"),
    )
    op.create_table(
        "volunteer_signup",
        sa.Column("call_id", sa.Uuid(), nullable=False),
        sa.Column("person_id", sa.Uuid(), nullable=False),
        sa.Column("compound_id", sa.Uuid(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("position", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("checked_in_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("status IN ('SIGNED', 'WAITLIST', 'WITHDRAWN')", name="volunteer_signup_status"),
        sa.ForeignKeyConstraint(["call_id"], ["volunteer_call.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["compound_id"], ["compound.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["person_id"], ["person.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("call_id", "person_id"),
    )
    # The timeline and published disclosures are history: never updated or deleted.
    for table in ("task_event", "cost_disclosure", "cost_share"):
        op.execute(
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION qilijia_forbid_change()"
        )


def downgrade() -> None:
    for table in ("task_event", "cost_disclosure", "cost_share"):
        op.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")

    op.drop_table("volunteer_signup")
    op.drop_table("meeting_attendee")
    op.drop_table("cost_share")
    op.drop_index(op.f("ix_volunteer_call_task_id"), table_name="volunteer_call")
    op.drop_table("volunteer_call")
    op.drop_index("task_member_person", table_name="task_member")
    op.drop_table("task_member")
    op.drop_index("task_event_timeline", table_name="task_event")
    op.drop_table("task_event")
    op.drop_index(op.f("ix_meeting_task_id"), table_name="meeting")
    op.drop_table("meeting")
    op.drop_table("dispute_outcome")
    op.drop_index(op.f("ix_cost_disclosure_task_id"), table_name="cost_disclosure")
    op.drop_table("cost_disclosure")
    op.drop_index("task_resolved_due", table_name="task", postgresql_where=sa.text("status = 'RESOLVED'"))
    op.drop_index("task_compound_recent", table_name="task")
    op.drop_index(op.f("ix_task_reporter_id"), table_name="task")
    op.drop_table("task")
    op.drop_index(op.f("ix_participation_person_id"), table_name="participation")
    op.drop_table("participation")
