"""Enumerations shared by the tables, the policy and the GraphQL surface (names are API.md's)."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    PARTY_MEMBER = "PARTY_MEMBER"
    COMMUNITY_COMMITTEE = "COMMUNITY_COMMITTEE"
    GRID_WORKER = "GRID_WORKER"
    PROPERTY_STAFF = "PROPERTY_STAFF"
    OWNERS_COMMITTEE = "OWNERS_COMMITTEE"
    ADMIN = "ADMIN"


class Position(StrEnum):
    CHIEF_CONVENER = "CHIEF_CONVENER"
    DEPUTY_CONVENER = "DEPUTY_CONVENER"
    COMMITTEE_MEMBER = "COMMITTEE_MEMBER"
    BUILDING_CONVENER = "BUILDING_CONVENER"


class HomeRelation(StrEnum):
    OWNER = "OWNER"
    TENANT = "TENANT"


#: The place a role is scoped to; DESIGN §1 "scope" column. ADMIN is global.
ROLE_SCOPE: dict[Role, str | None] = {
    Role.PARTY_MEMBER: "compound",
    Role.PROPERTY_STAFF: "compound",
    Role.OWNERS_COMMITTEE: "compound",
    Role.GRID_WORKER: "grid",
    Role.COMMUNITY_COMMITTEE: "community",
    Role.ADMIN: None,
}


def check_in(column: str, enum: type[StrEnum]) -> str:
    """SQL CHECK text keeping a text column inside an enum (text + check migrates more simply
    than native PostgreSQL enum types)."""
    values = ", ".join(f"'{member.value}'" for member in enum)
    return f"{column} IN ({values})"
