"""The caller themself: person, homes, roles and team positions."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from auth.policy import require_person
from auth.principal import PositionGrant, RoleGrant
from models.enums import ROLE_SCOPE, HomeRelation
from models.place import Household
from resolvers.context import Context
from resolvers.person import PersonView, person
from resolvers.place import household_loader


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


async def me(ctx: Context) -> PersonView:
    return await person(ctx, person_id=require_person(ctx.principal).person_id)


async def homes(ctx: Context) -> list[HomeView]:
    grants = require_person(ctx.principal).homes
    rows = await household_loader(ctx).load_many([g.household_id for g in grants])
    return [HomeView(row, g.relation) for g, row in zip(grants, rows, strict=True) if row is not None]


def roles(ctx: Context) -> list[RoleView]:
    return [RoleView(g) for g in require_person(ctx.principal).roles]


def positions(ctx: Context) -> list[PositionGrant]:
    return list(require_person(ctx.principal).positions)
