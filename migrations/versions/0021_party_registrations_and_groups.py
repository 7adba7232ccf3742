"""Party members' registrations (报到) and building groups (党员楼栋小组)

A Party member applies to register with the compound they live in; the community committee
approves or rejects; the member may withdraw, end or transfer it when they move, and every
registration is kept with its outcome. Approved members belong to the building group of their
building. Registrations already recorded (a member's profile with a registration day and a Party
member role at a compound) become approved registrations on that day, and each building with
registered members gets its group.

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-07 00:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

STATUSES = "'PENDING', 'APPROVED', 'REJECTED', 'WITHDRAWN', 'ENDED', 'TRANSFERRED'"


def upgrade() -> None:
    op.create_table(
        "party_registration",
        sa.Column("id", sa.Uuid(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("person_id", sa.Uuid(), nullable=False),
        sa.Column("compound_id", sa.Uuid(), nullable=False),
        sa.Column("building_id", sa.Uuid(), nullable=True),
        sa.Column("household_id", sa.Uuid(), nullable=True),
        sa.Column("employer", sa.String(), nullable=True),
        sa.Column("party_org", sa.String(), nullable=False),
        sa.Column("party_org_contact", sa.String(), nullable=True),
        sa.Column("member_since", sa.Date(), nullable=True),
        sa.Column("skills", sa.String(), nullable=True),
        sa.Column("services", sa.ARRAY(sa.Text()), server_default=sa.text("'{}'"), nullable=False),
        sa.Column("status", sa.Text(), server_default="PENDING", nullable=False),
        sa.Column("reason", sa.String(), nullable=True),
        sa.Column("decided_by", sa.Uuid(), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("approved_on", sa.Date(), nullable=True),
        sa.Column("ended_on", sa.Date(), nullable=True),
        sa.Column("transferred_from", sa.Uuid(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.CheckConstraint(f"status IN ({STATUSES})", name="party_registration_status_valid"),
        sa.CheckConstraint(
            "(status = 'PENDING') = (decided_at IS NULL)", name="party_registration_decided_unless_pending"
        ),
        sa.CheckConstraint(
            "(status IN ('APPROVED', 'ENDED', 'TRANSFERRED')) = (approved_on IS NOT NULL)",
            name="party_registration_approved_on",
        ),
        sa.CheckConstraint(
            "(status IN ('ENDED', 'TRANSFERRED')) = (ended_on IS NOT NULL)",
            name="party_registration_ended_on",
        ),
        sa.ForeignKeyConstraint(["person_id"], ["person.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["compound_id"], ["compound.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["building_id"], ["building.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["household_id"], ["household.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["decided_by"], ["person.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["transferred_from"], ["party_registration.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_party_registration_person_id", "party_registration", ["person_id"])
    op.create_index("party_registration_queue", "party_registration", ["compound_id", "created_at", "id"])
    for status in ("pending", "approved"):
        op.create_index(
            f"party_registration_one_{status}",
            "party_registration",
            ["person_id"],
            unique=True,
            postgresql_where=sa.text(f"status = '{status.upper()}'"),
        )
    op.create_table(
        "party_group",
        sa.Column("id", sa.Uuid(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("compound_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("leader_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.ForeignKeyConstraint(["compound_id"], ["compound.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["leader_id"], ["person.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("compound_id", "name", name="party_group_name_unique"),
    )
    op.create_index("ix_party_group_compound_id", "party_group", ["compound_id"])
    op.create_table(
        "party_group_building",
        sa.Column("building_id", sa.Uuid(), nullable=False),
        sa.Column("group_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(["building_id"], ["building.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["group_id"], ["party_group.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("building_id"),
    )
    op.create_index("ix_party_group_building_group_id", "party_group_building", ["group_id"])
    # what was recorded before: registered members become approved registrations, their
    # buildings get their groups
    op.execute(APPROVED_FROM_PROFILES)
    op.execute(GROUPS_FOR_MEMBERS)


#: a registered member's registration at the compound where they hold the Party member role, at
#: their home there (the lowest number, if several), approved on the day the profile says
APPROVED_FROM_PROFILES = """
INSERT INTO party_registration
    (person_id, compound_id, building_id, household_id, party_org, status, decided_at, approved_on)
SELECT DISTINCT ON (r.person_id)
    r.person_id, r.compound_id, h.building_id, h.id, pp.work_unit, 'APPROVED', pp.created_at, pp.registered_on
FROM role_assignment r
JOIN party_profile pp ON pp.person_id = r.person_id AND pp.registered_on IS NOT NULL
LEFT JOIN LATERAL (
    SELECT hh.id, hh.building_id FROM home hm JOIN household hh ON hh.id = hm.household_id
    WHERE hm.person_id = r.person_id AND hh.compound_id = r.compound_id AND hm.ends_on IS NULL
    ORDER BY hh.number, hh.id LIMIT 1
) h ON true
WHERE r.role = 'PARTY_MEMBER' AND r.ends_on IS NULL
  AND NOT EXISTS (SELECT 1 FROM party_registration x WHERE x.person_id = r.person_id AND x.status = 'APPROVED')
ORDER BY r.person_id, r.starts_on DESC, r.compound_id
"""

#: one group per building with approved members and no group yet, named after the building
GROUPS_FOR_MEMBERS = """
WITH needed AS (
    SELECT DISTINCT b.id AS building_id, b.compound_id, b.name || '党员楼栋小组' AS name
    FROM party_registration x JOIN building b ON b.id = x.building_id
    WHERE x.status = 'APPROVED'
      AND NOT EXISTS (SELECT 1 FROM party_group_building gb WHERE gb.building_id = b.id)
), made AS (
    INSERT INTO party_group (compound_id, name)
    SELECT compound_id, name FROM needed
    ON CONFLICT (compound_id, name) DO UPDATE SET name = EXCLUDED.name
    RETURNING id, compound_id, name
)
INSERT INTO party_group_building (building_id, group_id)
SELECT n.building_id, m.id FROM needed n JOIN made m ON m.compound_id = n.compound_id AND m.name = n.name
"""


def downgrade() -> None:
    op.drop_index("ix_party_group_building_group_id", table_name="party_group_building")
    op.drop_table("party_group_building")
    op.drop_index("ix_party_group_compound_id", table_name="party_group")
    op.drop_table("party_group")
    for status in ("pending", "approved"):
        op.drop_index(f"party_registration_one_{status}", table_name="party_registration")
    op.drop_index("party_registration_queue", table_name="party_registration")
    op.drop_index("ix_party_registration_person_id", table_name="party_registration")
    op.drop_table("party_registration")
