"""District and street as rows of their own: the place tree's top two levels, each a node

A community's `street` and `district` texts become a `street_id`: districts by name, streets by
district and name, made from the texts already there.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-03 19:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "district",
        sa.Column("id", sa.Uuid(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
    )
    op.create_table(
        "street",
        sa.Column("id", sa.Uuid(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("district_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(["district_id"], ["district.id"], ondelete="RESTRICT"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("district_id", "name"),
    )
    op.create_index("ix_street_district_id", "street", ["district_id"])
    op.add_column("community", sa.Column("street_id", sa.Uuid(), nullable=True))
    op.execute("INSERT INTO district (name) SELECT DISTINCT district FROM community")
    op.execute(
        "INSERT INTO street (district_id, name) SELECT DISTINCT d.id, c.street FROM community c"
        " JOIN district d ON d.name = c.district"
    )
    op.execute(
        "UPDATE community c SET street_id = s.id FROM street s JOIN district d ON d.id = s.district_id"
        " WHERE d.name = c.district AND s.name = c.street"
    )
    op.alter_column("community", "street_id", nullable=False)
    op.create_foreign_key(
        "community_street_id_fkey", "community", "street", ["street_id"], ["id"], ondelete="RESTRICT"
    )
    op.create_index("ix_community_street_id", "community", ["street_id"])
    op.drop_column("community", "street")
    op.drop_column("community", "district")


def downgrade() -> None:
    op.add_column("community", sa.Column("street", sa.String(), nullable=True))
    op.add_column("community", sa.Column("district", sa.String(), nullable=True))
    op.execute(
        "UPDATE community c SET street = s.name, district = d.name FROM street s"
        " JOIN district d ON d.id = s.district_id WHERE s.id = c.street_id"
    )
    op.alter_column("community", "street", nullable=False)
    op.alter_column("community", "district", nullable=False)
    op.drop_index("ix_community_street_id", table_name="community")
    op.drop_constraint("community_street_id_fkey", "community", type_="foreignkey")
    op.drop_column("community", "street_id")
    op.drop_index("ix_street_district_id", table_name="street")
    op.drop_table("street")
    op.drop_table("district")
