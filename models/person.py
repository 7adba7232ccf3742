"""People and what links them to places: homes, roles and team positions.

A person is a city-wide reference row (one human, one phone); everything that ties a person to a
place carries that place's compound or community key.
"""

from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from models.base import created_at, fk, uuid_pk
from models.enums import HomeRelation, Position, Role, check_in


class Person(SQLModel, table=True):
    __tablename__ = "person"
    id: uuid.UUID = uuid_pk()
    name: str
    # NULL only for someone who logged in through WeChat and has not yet bound a phone.
    phone: str | None = Field(default=None, sa_column=sa.Column(sa.Text, unique=True))
    wechat_openid: str | None = Field(default=None, sa_column=sa.Column(sa.Text, unique=True))
    wechat_unionid: str | None = Field(default=None, sa_column=sa.Column(sa.Text, index=True))
    created_at: datetime = created_at()
    #: tokens issued before this moment are no longer accepted (`logoutEverywhere`, `token revoke`)
    sessions_valid_after: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))


class Home(SQLModel, table=True):
    __tablename__ = "home"
    __table_args__ = (
        sa.UniqueConstraint("household_id", "person_id"),
        sa.CheckConstraint(check_in("relation", HomeRelation), name="home_relation_valid"),
    )
    id: uuid.UUID = uuid_pk()
    compound_id: uuid.UUID = fk("compound.id")
    household_id: uuid.UUID = fk("household.id", index=False)
    person_id: uuid.UUID = fk("person.id")
    relation: HomeRelation = Field(sa_type=sa.Text)
    created_at: datetime = created_at()


class RoleAssignment(SQLModel, table=True):
    """A role held at exactly the kind of place `models.enums.ROLE_SCOPE` names."""

    __tablename__ = "role_assignment"
    __table_args__ = (
        sa.UniqueConstraint(
            "person_id", "role", "community_id", "grid_id", "compound_id", postgresql_nulls_not_distinct=True
        ),
        sa.CheckConstraint(check_in("role", Role), name="role_assignment_role_valid"),
        sa.CheckConstraint(
            "(role IN ('PARTY_MEMBER','PROPERTY_STAFF','OWNERS_COMMITTEE') "
            "  AND compound_id IS NOT NULL AND grid_id IS NULL AND community_id IS NULL)"
            " OR (role = 'GRID_WORKER' AND grid_id IS NOT NULL"
            "     AND compound_id IS NULL AND community_id IS NULL)"
            " OR (role = 'COMMUNITY_COMMITTEE' AND community_id IS NOT NULL"
            "     AND compound_id IS NULL AND grid_id IS NULL)"
            " OR (role = 'ADMIN' AND compound_id IS NULL AND grid_id IS NULL AND community_id IS NULL)",
            name="role_assignment_scope_matches_role",
        ),
    )
    id: uuid.UUID = uuid_pk()
    person_id: uuid.UUID = fk("person.id")
    role: Role = Field(sa_type=sa.Text)
    community_id: uuid.UUID | None = fk("community.id", nullable=True)
    grid_id: uuid.UUID | None = fk("grid.id", nullable=True)
    compound_id: uuid.UUID | None = fk("compound.id", nullable=True)
    created_at: datetime = created_at()


class TeamPosition(SQLModel, table=True):
    __tablename__ = "team_position"
    __table_args__ = (
        sa.UniqueConstraint(
            "compound_id", "person_id", "position", "building_id", postgresql_nulls_not_distinct=True
        ),
        sa.CheckConstraint(check_in("position", Position), name="team_position_position_valid"),
        sa.CheckConstraint(
            "(position = 'BUILDING_CONVENER') = (building_id IS NOT NULL)",
            name="team_position_building_only_for_conveners",
        ),
    )
    id: uuid.UUID = uuid_pk()
    compound_id: uuid.UUID = fk("compound.id")
    person_id: uuid.UUID = fk("person.id")
    position: Position = Field(sa_type=sa.Text)
    building_id: uuid.UUID | None = fk("building.id", nullable=True)
    created_at: datetime = created_at()
