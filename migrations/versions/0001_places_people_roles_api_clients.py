"""places, people, roles, api clients

Revision ID: 0001
Revises:
Create Date: 2026-11-26 14:29:57.222214
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table(
        "api_client",
        sa.Column("id", sa.Uuid(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("key_prefix", sa.Text(), nullable=False),
        sa.Column("key_hash", sa.String(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key_prefix"),
        sa.UniqueConstraint("name"),
    )
    op.create_table(
        "community",
        sa.Column("id", sa.Uuid(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("street", sa.String(), nullable=False),
        sa.Column("district", sa.String(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key"),
    )
    op.create_table(
        "person",
        sa.Column("id", sa.Uuid(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("phone", sa.Text(), nullable=True),
        sa.Column("wechat_openid", sa.Text(), nullable=True),
        sa.Column("wechat_unionid", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("phone"),
        sa.UniqueConstraint("wechat_openid"),
    )
    op.create_index(op.f("ix_person_wechat_unionid"), "person", ["wechat_unionid"], unique=False)
    op.create_table(
        "grid",
        sa.Column("id", sa.Uuid(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("community_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(["community_id"], ["community.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key"),
    )
    op.create_index(op.f("ix_grid_community_id"), "grid", ["community_id"], unique=False)
    op.create_table(
        "party_profile",
        sa.Column("person_id", sa.Uuid(), nullable=False),
        sa.Column("work_unit", sa.String(), nullable=False),
        sa.Column("registered_on", sa.Date(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(["person_id"], ["person.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("person_id"),
    )
    op.create_table(
        "compound",
        sa.Column("id", sa.Uuid(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("community_id", sa.Uuid(), nullable=False),
        sa.Column("grid_id", sa.Uuid(), nullable=False),
        sa.Column("property_company", sa.String(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(["community_id"], ["community.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["grid_id"], ["grid.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key"),
    )
    op.create_index(op.f("ix_compound_community_id"), "compound", ["community_id"], unique=False)
    op.create_index(op.f("ix_compound_grid_id"), "compound", ["grid_id"], unique=False)
    op.create_table(
        "building",
        sa.Column("id", sa.Uuid(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("compound_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(["compound_id"], ["compound.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("compound_id", "name"),
    )
    op.create_index(op.f("ix_building_compound_id"), "building", ["compound_id"], unique=False)
    op.create_table(
        "role_assignment",
        sa.Column("id", sa.Uuid(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("person_id", sa.Uuid(), nullable=False),
        sa.Column("role", sa.Text(), nullable=False),
        sa.Column("community_id", sa.Uuid(), nullable=True),
        sa.Column("grid_id", sa.Uuid(), nullable=True),
        sa.Column("compound_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint(
            "(role IN ('PARTY_MEMBER','PROPERTY_STAFF','OWNERS_COMMITTEE')   AND compound_id IS NOT NULL AND grid_id IS NULL AND community_id IS NULL) OR (role = 'GRID_WORKER' AND grid_id IS NOT NULL AND compound_id IS NULL AND community_id IS NULL) OR (role = 'COMMUNITY_COMMITTEE' AND community_id IS NOT NULL     AND compound_id IS NULL AND grid_id IS NULL) OR (role = 'ADMIN' AND compound_id IS NULL AND grid_id IS NULL AND community_id IS NULL)",
            name="role_assignment_scope_matches_role",
        ),
        sa.CheckConstraint(
            "role IN ('PARTY_MEMBER', 'COMMUNITY_COMMITTEE', 'GRID_WORKER', 'PROPERTY_STAFF', 'OWNERS_COMMITTEE', 'ADMIN')",
            name="role_assignment_role_valid",
        ),
        sa.ForeignKeyConstraint(["community_id"], ["community.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["compound_id"], ["compound.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["grid_id"], ["grid.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["person_id"], ["person.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint(
            "person_id", "role", "community_id", "grid_id", "compound_id", postgresql_nulls_not_distinct=True
        ),
    )
    op.create_index(
        op.f("ix_role_assignment_community_id"), "role_assignment", ["community_id"], unique=False
    )
    op.create_index(op.f("ix_role_assignment_compound_id"), "role_assignment", ["compound_id"], unique=False)
    op.create_index(op.f("ix_role_assignment_grid_id"), "role_assignment", ["grid_id"], unique=False)
    op.create_index(op.f("ix_role_assignment_person_id"), "role_assignment", ["person_id"], unique=False)
    op.create_table(
        "household",
        sa.Column("id", sa.Uuid(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("compound_id", sa.Uuid(), nullable=False),
        sa.Column("building_id", sa.Uuid(), nullable=False),
        sa.Column("number", sa.String(), nullable=False),
        sa.Column("floor", sa.Integer(), nullable=False),
        sa.Column("area", sa.Numeric(precision=10, scale=2), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("area > 0", name="household_area_positive"),
        sa.ForeignKeyConstraint(["building_id"], ["building.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["compound_id"], ["compound.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("compound_id", "number"),
    )
    op.create_index(op.f("ix_household_building_id"), "household", ["building_id"], unique=False)
    op.create_table(
        "team_position",
        sa.Column("id", sa.Uuid(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("compound_id", sa.Uuid(), nullable=False),
        sa.Column("person_id", sa.Uuid(), nullable=False),
        sa.Column("position", sa.Text(), nullable=False),
        sa.Column("building_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint(
            "(position = 'BUILDING_CONVENER') = (building_id IS NOT NULL)",
            name="team_position_building_only_for_conveners",
        ),
        sa.CheckConstraint(
            "position IN ('CHIEF_CONVENER', 'DEPUTY_CONVENER', 'COMMITTEE_MEMBER', 'BUILDING_CONVENER')",
            name="team_position_position_valid",
        ),
        sa.ForeignKeyConstraint(["building_id"], ["building.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["compound_id"], ["compound.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["person_id"], ["person.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint(
            "compound_id", "person_id", "position", "building_id", postgresql_nulls_not_distinct=True
        ),
    )
    op.create_index(op.f("ix_team_position_building_id"), "team_position", ["building_id"], unique=False)
    op.create_index(op.f("ix_team_position_compound_id"), "team_position", ["compound_id"], unique=False)
    op.create_index(op.f("ix_team_position_person_id"), "team_position", ["person_id"], unique=False)
    op.create_table(
        "home",
        sa.Column("id", sa.Uuid(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("compound_id", sa.Uuid(), nullable=False),
        sa.Column("household_id", sa.Uuid(), nullable=False),
        sa.Column("person_id", sa.Uuid(), nullable=False),
        sa.Column("relation", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("relation IN ('OWNER', 'TENANT')", name="home_relation_valid"),
        sa.ForeignKeyConstraint(["compound_id"], ["compound.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["household_id"], ["household.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["person_id"], ["person.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("household_id", "person_id"),
    )
    op.create_index(op.f("ix_home_compound_id"), "home", ["compound_id"], unique=False)
    op.create_index(op.f("ix_home_person_id"), "home", ["person_id"], unique=False)


def downgrade() -> None:

    op.drop_index(op.f("ix_home_person_id"), table_name="home")
    op.drop_index(op.f("ix_home_compound_id"), table_name="home")
    op.drop_table("home")
    op.drop_index(op.f("ix_team_position_person_id"), table_name="team_position")
    op.drop_index(op.f("ix_team_position_compound_id"), table_name="team_position")
    op.drop_index(op.f("ix_team_position_building_id"), table_name="team_position")
    op.drop_table("team_position")
    op.drop_index(op.f("ix_household_building_id"), table_name="household")
    op.drop_table("household")
    op.drop_index(op.f("ix_role_assignment_person_id"), table_name="role_assignment")
    op.drop_index(op.f("ix_role_assignment_grid_id"), table_name="role_assignment")
    op.drop_index(op.f("ix_role_assignment_compound_id"), table_name="role_assignment")
    op.drop_index(op.f("ix_role_assignment_community_id"), table_name="role_assignment")
    op.drop_table("role_assignment")
    op.drop_index(op.f("ix_building_compound_id"), table_name="building")
    op.drop_table("building")
    op.drop_index(op.f("ix_compound_grid_id"), table_name="compound")
    op.drop_index(op.f("ix_compound_community_id"), table_name="compound")
    op.drop_table("compound")
    op.drop_table("party_profile")
    op.drop_index(op.f("ix_grid_community_id"), table_name="grid")
    op.drop_table("grid")
    op.drop_index(op.f("ix_person_wechat_unionid"), table_name="person")
    op.drop_table("person")
    op.drop_table("community")
    op.drop_table("api_client")
