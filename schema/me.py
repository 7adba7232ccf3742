"""The caller (`me`) and login results."""

from __future__ import annotations

import datetime

import strawberry
from strawberry.types import Info

from models.enums import Role as RoleEnum
from resolvers import me as me_resolvers
from resolvers.context import Context
from resolvers.login import AuthResult
from resolvers.me import MeView, RoleView
from schema.person import HomeRelation, Person, Position
from schema.place import Building, Community, Compound, Grid, Household

Role = strawberry.enum(RoleEnum, description="五员共治中的角色，以及平台管理员。")


@strawberry.type(description="我与一户的关系。")
class MyHome:
    household: Household
    relation: HomeRelation


@strawberry.type(description="我担任的一个角色及其范围（小区、网格或社区；管理员没有范围）。")
class RoleAssignment:
    _view: strawberry.Private[RoleView]
    role: Role

    @strawberry.field
    async def compound(self, info: Info[Context, None]) -> Compound | None:
        place_id = self._view.place_id("compound")
        row = await info.context.loaders.compound.load(place_id) if place_id else None
        return Compound.from_row(row) if row else None

    @strawberry.field
    async def grid(self, info: Info[Context, None]) -> Grid | None:
        place_id = self._view.place_id("grid")
        row = await info.context.loaders.grid.load(place_id) if place_id else None
        return Grid.from_row(row) if row else None

    @strawberry.field
    async def community(self, info: Info[Context, None]) -> Community | None:
        place_id = self._view.place_id("community")
        row = await info.context.loaders.community.load(place_id) if place_id else None
        return Community.from_row(row) if row else None


@strawberry.type(description="我在某小区班子中的职务。")
class MyPosition:
    _building_id: strawberry.Private[object]
    _compound_id: strawberry.Private[object]
    position: Position

    @strawberry.field
    async def compound(self, info: Info[Context, None]) -> Compound:
        row = await info.context.loaders.compound.load(self._compound_id)
        assert row is not None
        return Compound.from_row(row)

    @strawberry.field
    async def building(self, info: Info[Context, None]) -> Building | None:
        if self._building_id is None:
            return None
        row = await info.context.loaders.building.load(self._building_id)
        return Building.from_row(row) if row else None


@strawberry.type(description="当前登录的人：本人信息、住房、角色和职务。")
class Me:
    _view: strawberry.Private[MeView]
    person: Person

    @classmethod
    def from_view(cls, view: MeView) -> Me:
        return cls(_view=view, person=Person.from_view(view.person))

    @strawberry.field
    async def households(self, info: Info[Context, None]) -> list[MyHome]:
        homes = await me_resolvers.homes(info.context, self._view)
        return [MyHome(household=Household.from_row(h.household), relation=h.relation) for h in homes]

    @strawberry.field
    def roles(self) -> list[RoleAssignment]:
        return [RoleAssignment(_view=v, role=v.grant.role) for v in me_resolvers.roles(self._view)]

    @strawberry.field
    def positions(self) -> list[MyPosition]:
        return [
            MyPosition(_building_id=p.building_id, _compound_id=p.compound_id, position=p.position)
            for p in me_resolvers.positions(self._view)
        ]


@strawberry.type(description="登录结果：访问令牌（放在 Authorization: Bearer 头中）和本人信息。")
class AuthPayload:
    _result: strawberry.Private[AuthResult]
    token: str
    expires_at: datetime.datetime

    @classmethod
    def from_result(cls, result: AuthResult) -> AuthPayload:
        return cls(_result=result, token=result.token, expires_at=result.expires_at)

    @strawberry.field
    async def me(self, info: Info[Context, None]) -> Me:
        return Me.from_view(await me_resolvers.me(info.context, self._result.principal))
