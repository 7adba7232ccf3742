"""People and what links them to places: homes, roles and team positions.

A person is a city-wide reference row (one human, one phone); everything that ties a person to a
place carries that place's compound or community key.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from models.base import created_at, fk, uuid_pk
from models.enums import HomeRelation, Position, Role, check_in
from models.terms import today

#: a mainland mobile number: the city-wide identity of a person
PHONE_PATTERN = r"^1[3-9]\d{9}$"
#: the longest name a person is recorded under
NAME_MAX = 50

#: a term begins today unless it says otherwise
_TODAY = sa.text("(timezone('Asia/Shanghai', now()))::date")


class Person(SQLModel, table=True):
    __tablename__ = "person"
    __table_args__ = (
        # the characters of a name: a two-character search (a given name) has no trigram to use
        sa.Index(
            "person_name_chars",
            sa.func.string_to_array(sa.func.lower(sa.text("name")), None),
            postgresql_using="gin",
        ),
    )
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
        # one term in force or to come per person and household; ended ones are history
        sa.Index(
            "home_open_term",
            "household_id",
            "person_id",
            unique=True,
            postgresql_where=sa.text("ends_on IS NULL"),
        ),
        sa.CheckConstraint(check_in("relation", HomeRelation), name="home_relation_valid"),
        sa.CheckConstraint("ends_on IS NULL OR ends_on >= starts_on", name="home_term_valid"),
    )
    id: uuid.UUID = uuid_pk()
    compound_id: uuid.UUID = fk("compound.id")
    #: indexed on its own: the open-term index holds no ended or future terms (migration 0020)
    household_id: uuid.UUID = fk("household.id")
    person_id: uuid.UUID = fk("person.id")
    relation: HomeRelation = Field(sa_type=sa.Text)
    #: the term (`models.terms`): from this Beijing day on, until the day it no longer holds
    starts_on: date = Field(default_factory=today, sa_column_kwargs={"server_default": _TODAY})
    ends_on: date | None = None
    #: who ended the term, when it was ended through the API or an import (NULL: it has not ended)
    ended_by: uuid.UUID | None = fk("person.id", nullable=True, index=False, ondelete="SET NULL")
    created_at: datetime = created_at()


class RoleAssignment(SQLModel, table=True):
    """A role held at exactly the kind of place `models.enums.ROLE_SCOPE` names."""

    __tablename__ = "role_assignment"
    __table_args__ = (
        sa.Index(
            "role_assignment_open_term",
            "person_id",
            "role",
            "community_id",
            "grid_id",
            "compound_id",
            unique=True,
            postgresql_nulls_not_distinct=True,
            postgresql_where=sa.text("ends_on IS NULL"),
        ),
        sa.CheckConstraint("ends_on IS NULL OR ends_on >= starts_on", name="role_assignment_term_valid"),
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
    #: the term (`models.terms`): from this Beijing day on, until the day it no longer holds
    starts_on: date = Field(default_factory=today, sa_column_kwargs={"server_default": _TODAY})
    ends_on: date | None = None
    #: who ended the term, when it was ended through the API or an import (NULL: it has not ended)
    ended_by: uuid.UUID | None = fk("person.id", nullable=True, index=False, ondelete="SET NULL")
    created_at: datetime = created_at()


class TeamPosition(SQLModel, table=True):
    __tablename__ = "team_position"
    __table_args__ = (
        sa.Index(
            "team_position_open_term",
            "compound_id",
            "person_id",
            "position",
            "building_id",
            unique=True,
            postgresql_nulls_not_distinct=True,
            postgresql_where=sa.text("ends_on IS NULL"),
        ),
        sa.CheckConstraint("ends_on IS NULL OR ends_on >= starts_on", name="team_position_term_valid"),
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
    #: the term (`models.terms`): from this Beijing day on, until the day it no longer holds
    starts_on: date = Field(default_factory=today, sa_column_kwargs={"server_default": _TODAY})
    ends_on: date | None = None
    #: who ended the term, when it was ended through the API or an import (NULL: it has not ended)
    ended_by: uuid.UUID | None = fk("person.id", nullable=True, index=False, ondelete="SET NULL")
    created_at: datetime = created_at()


class PersonTie(SQLModel, table=True):
    """One tie of a person — a home, a role or a team position — with the places above the one it
    is held at written out (migration 0036). Triggers keep these rows equal to what the database's
    `person_tie_source` view derives from the homes, roles and positions; nothing writes them
    otherwise. The policy asks it for every person a screen shows (`auth.bindings.person_row`)."""

    __tablename__ = "person_tie"
    __table_args__ = (sa.Index("person_tie_person", "person_id"),)
    #: the home, role assignment or team position this row is
    source_id: uuid.UUID = Field(primary_key=True)
    person_id: uuid.UUID
    #: the home's relation, the role, or POSITION
    kind: str = Field(sa_type=sa.Text)
    community_id: uuid.UUID | None = None
    grid_id: uuid.UUID | None = None
    compound_id: uuid.UUID | None = None
    building_id: uuid.UUID | None = None
    household_id: uuid.UUID | None = None
    starts_on: date
    ends_on: date | None = None
