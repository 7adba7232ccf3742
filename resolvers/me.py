"""The caller themself: person, homes, roles and team positions."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from auth.principal import PersonPrincipal, PositionGrant, RoleGrant
from models import Household
from models.enums import ROLE_SCOPE, HomeRelation
from resolvers.context import Context
from resolvers.person import PersonView, view_at


@dataclass(frozen=True)
class MeView:
    person: PersonView
    principal: PersonPrincipal


@dataclass(frozen=True)
class HomeView:
    household: Household
    relation: HomeRelation


@dataclass(frozen=True)
class RoleView:
    grant: RoleGrant

    @property
    def scope_kind(self) -> str | None:
        return ROLE_SCOPE[self.grant.role]

    def place_id(self, kind: str) -> uuid.UUID | None:
        return self.grant.place_id if self.scope_kind == kind else None


async def me(ctx: Context, principal: PersonPrincipal) -> MeView:
    row = await ctx.loaders.person.load(principal.person_id)
    assert row is not None  # the principal was loaded from this row in this request
    # Shown to themself: full name and phone whatever the caller's context.
    view = await view_at(ctx, row, None)
    if principal is not ctx.principal:
        view = PersonView(id=row.id, name=row.name, phone=row.phone, party_access="full")
    return MeView(person=view, principal=principal)


async def homes(ctx: Context, me_view: MeView) -> list[HomeView]:
    grants = me_view.principal.homes
    rows = await ctx.loaders.household.load_many([g.household_id for g in grants])
    return [HomeView(row, g.relation) for g, row in zip(grants, rows, strict=True) if row is not None]


def roles(me_view: MeView) -> list[RoleView]:
    return [RoleView(g) for g in me_view.principal.roles]


def positions(me_view: MeView) -> list[PositionGrant]:
    return list(me_view.principal.positions)
