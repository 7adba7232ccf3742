"""Who is calling: a person with their role scopes, positions and homes; an API client; or nobody.

The principal is plain immutable data built once per request, so that every policy decision is a
pure function of (principal, object place) and can be tested without a database.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from starlette.authentication import BaseUser

from models.enums import HomeRelation, Position, Role


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
    _by_role: dict[Role, frozenset[uuid.UUID | None]] = field(init=False, repr=False)
    _memo: dict[object, frozenset[uuid.UUID]] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        by_role: dict[Role, set[uuid.UUID | None]] = {}
        for grant in self.roles:
            by_role.setdefault(grant.role, set()).add(grant.place_id)
        object.__setattr__(self, "_by_role", {role: frozenset(ids) for role, ids in by_role.items()})
        object.__setattr__(self, "_memo", {})

    def memo(self, key: object, compute: Callable[[], frozenset[uuid.UUID]]) -> frozenset[uuid.UUID]:
        """Derived id sets, computed once per request: a screen asks the policy thousands of times."""
        found = self._memo.get(key)
        if found is None:
            found = self._memo[key] = compute()
        return found

    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def display_name(self) -> str:
        return self.name

    @property
    def is_admin(self) -> bool:
        return Role.ADMIN in self._by_role

    def role_places(self, role: Role) -> frozenset[uuid.UUID]:
        return frozenset(pid for pid in self._by_role.get(role, ()) if pid is not None)

    def home_ids(self, *, kind: str, relation: HomeRelation | None = None) -> frozenset[uuid.UUID]:
        return frozenset(
            getattr(home, f"{kind}_id")
            for home in self.homes
            if relation is None or home.relation == relation
        )

    def position_compounds(self, *, core_only: bool = False) -> frozenset[uuid.UUID]:
        """Compounds where the person holds a team position (core: other than building convener)."""
        return frozenset(
            p.compound_id for p in self.positions if not core_only or p.position != Position.BUILDING_CONVENER
        )

    def convened_buildings(self) -> frozenset[uuid.UUID]:
        return frozenset(
            p.building_id
            for p in self.positions
            if p.position == Position.BUILDING_CONVENER and p.building_id is not None
        )


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
