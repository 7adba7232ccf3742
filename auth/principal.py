"""Who is calling: a person with their role scopes, positions and homes; an API client; or nobody.

The principal is plain immutable data built once per request, so that every policy decision is a
pure function of (principal, object) and can be tested without a database. What the policy asks of
a person is always one of their `Scope`s: a set of place ids (compounds, grids, communities,
buildings or households) where they stand in some way.
"""

from __future__ import annotations

import functools
import uuid
from dataclasses import dataclass, field
from enum import StrEnum

from starlette.authentication import BaseUser

from models.enums import HomeRelation, Position, Role


class Scope(StrEnum):
    """The place ids at which a person stands in one way; the kind of place is in the name."""

    HOME_COMPOUNDS = "HOME_COMPOUNDS"  # a home (owner or tenant) in the compound
    HOME_HOUSEHOLDS = "HOME_HOUSEHOLDS"  # a home in that very household
    HOME_BUILDINGS = "HOME_BUILDINGS"  # a home in the building
    PARTY_COMPOUNDS = "PARTY_COMPOUNDS"  # PARTY_MEMBER there
    STAFF_COMPOUNDS = "STAFF_COMPOUNDS"  # PROPERTY_STAFF there
    OWNERS_COMMITTEE_COMPOUNDS = "OWNERS_COMMITTEE_COMPOUNDS"  # OWNERS_COMMITTEE there
    GRIDS = "GRIDS"  # GRID_WORKER of the grid
    COMMUNITIES = "COMMUNITIES"  # COMMUNITY_COMMITTEE of the community
    TEAM_COMPOUNDS = "TEAM_COMPOUNDS"  # any team position in the compound
    CORE_TEAM_COMPOUNDS = "CORE_TEAM_COMPOUNDS"  # chief or deputy convener, or committee member
    CONVENED_BUILDINGS = "CONVENED_BUILDINGS"  # building convener of the building
    CONVENED_COMPOUNDS = "CONVENED_COMPOUNDS"  # building convener of some building of the compound
    CHIEF_COMPOUNDS = "CHIEF_COMPOUNDS"  # chief convener of the compound


#: The scope in which each role is held (its place kind is `models.enums.ROLE_SCOPE`).
ROLE_SCOPES: dict[Role, Scope] = {
    Role.PARTY_MEMBER: Scope.PARTY_COMPOUNDS,
    Role.PROPERTY_STAFF: Scope.STAFF_COMPOUNDS,
    Role.OWNERS_COMMITTEE: Scope.OWNERS_COMMITTEE_COMPOUNDS,
    Role.GRID_WORKER: Scope.GRIDS,
    Role.COMMUNITY_COMMITTEE: Scope.COMMUNITIES,
}


@dataclass(frozen=True)
class RoleGrant:
    role: Role
    #: the compound, grid or community the role is scoped to (models.enums.ROLE_SCOPE); None for ADMIN
    place_id: uuid.UUID | None


@dataclass(frozen=True)
class PositionGrant:
    position: Position
    compound_id: uuid.UUID
    building_id: uuid.UUID | None = None


@dataclass(frozen=True)
class HomeGrant:
    household_id: uuid.UUID
    building_id: uuid.UUID
    compound_id: uuid.UUID
    relation: HomeRelation


@dataclass(frozen=True, eq=False)
class PersonPrincipal(BaseUser):
    person_id: uuid.UUID
    name: str
    roles: tuple[RoleGrant, ...] = ()
    positions: tuple[PositionGrant, ...] = ()
    homes: tuple[HomeGrant, ...] = ()
    #: the access epoch the grants were read at (`models.access`); None when not read from the database
    epoch: int | None = None
    _scopes: dict[Scope, frozenset[uuid.UUID]] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_scopes", _scopes(self))

    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def display_name(self) -> str:
        return self.name

    @property
    def is_admin(self) -> bool:
        return any(grant.role == Role.ADMIN for grant in self.roles)

    def ids(self, scope: Scope) -> frozenset[uuid.UUID]:
        return self._scopes[scope]

    @functools.cached_property
    def scopes_held(self) -> frozenset[Scope]:
        """The scopes in which the person holds any place (`auth.rules.shape`), found once: a
        principal is kept between requests, and every request asks for its shape."""
        return frozenset(scope for scope, ids in self._scopes.items() if ids)


def _scopes(p: PersonPrincipal) -> dict[Scope, frozenset[uuid.UUID]]:
    """Every scope of a person, computed once: a screen asks the policy thousands of times."""
    out: dict[Scope, set[uuid.UUID]] = {scope: set() for scope in Scope}
    for home in p.homes:
        out[Scope.HOME_COMPOUNDS].add(home.compound_id)
        out[Scope.HOME_HOUSEHOLDS].add(home.household_id)
        out[Scope.HOME_BUILDINGS].add(home.building_id)
    for grant in p.roles:
        scope = ROLE_SCOPES.get(grant.role)
        if scope is not None and grant.place_id is not None:
            out[scope].add(grant.place_id)
    for seat in p.positions:
        out[Scope.TEAM_COMPOUNDS].add(seat.compound_id)
        if seat.position == Position.BUILDING_CONVENER:
            if seat.building_id is not None:
                out[Scope.CONVENED_BUILDINGS].add(seat.building_id)
                out[Scope.CONVENED_COMPOUNDS].add(seat.compound_id)
        else:
            out[Scope.CORE_TEAM_COMPOUNDS].add(seat.compound_id)
        if seat.position == Position.CHIEF_CONVENER:
            out[Scope.CHIEF_COMPOUNDS].add(seat.compound_id)
    return {scope: frozenset(ids) for scope, ids in out.items()}


@dataclass(frozen=True, eq=False)
class ApiClientPrincipal(BaseUser):
    client_id: uuid.UUID
    name: str

    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def display_name(self) -> str:
        return self.name


@dataclass(frozen=True, eq=False)
class AnonymousPrincipal(BaseUser):
    @property
    def is_authenticated(self) -> bool:
        return False

    @property
    def display_name(self) -> str:
        return ""


ANONYMOUS = AnonymousPrincipal()

Principal = PersonPrincipal | ApiClientPrincipal | AnonymousPrincipal
