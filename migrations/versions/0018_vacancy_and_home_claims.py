"""Vacant households and residents' claims to a home

A household may be marked vacant (空置) from a day on: nobody lives there, its tenants have moved
out, its owners still own it. A resident who logged in through the mini-program may claim a home
(owner or tenant of a household), which the staff who keep the register confirm or reject; a claim
grants nothing until it is confirmed, and every claim is kept with its outcome.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-06 21:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("household", sa.Column("vacant_since", sa.Date(), nullable=True))
    op.create_table(
        "home_claim",
        sa.Column("id", sa.Uuid(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("compound_id", sa.Uuid(), nullable=False),
        sa.Column("building_id", sa.Uuid(), nullable=False),
        sa.Column("household_id", sa.Uuid(), nullable=False),
        sa.Column("person_id", sa.Uuid(), nullable=False),
        sa.Column("relation", sa.Text(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("status", sa.Text(), server_default="PENDING", nullable=False),
        sa.Column("reason", sa.String(), nullable=True),
        sa.Column("decided_by", sa.Uuid(), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("home_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.CheckConstraint(
            "status IN ('PENDING', 'CONFIRMED', 'REJECTED', 'WITHDRAWN')", name="home_claim_status_valid"
        ),
        sa.CheckConstraint("relation IN ('OWNER', 'TENANT')", name="home_claim_relation_valid"),
        sa.CheckConstraint(
            "(status = 'PENDING') = (decided_at IS NULL)", name="home_claim_decided_unless_pending"
        ),
        sa.ForeignKeyConstraint(["compound_id"], ["compound.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["building_id"], ["building.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["household_id"], ["household.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["person_id"], ["person.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["decided_by"], ["person.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["home_id"], ["home.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_home_claim_person_id", "home_claim", ["person_id"])
    op.create_index("home_claim_queue", "home_claim", ["compound_id", "created_at", "id"])
    op.create_index(
        "home_claim_one_pending",
        "home_claim",
        ["household_id", "person_id"],
        unique=True,
        postgresql_where=sa.text("status = 'PENDING'"),
    )


def downgrade() -> None:
    op.drop_index("home_claim_one_pending", table_name="home_claim")
    op.drop_index("home_claim_queue", table_name="home_claim")
    op.drop_index("ix_home_claim_person_id", table_name="home_claim")
    op.drop_table("home_claim")
    op.drop_column("household", "vacant_since")
