"""People as GraphQL types: always built from a policy-filtered `PersonView`."""

from __future__ import annotations

import datetime
from typing import TYPE_CHECKING, Annotated

import strawberry
from strawberry.types import Info

from models.enums import HomeRelation as HomeRelationEnum
from models.enums import Position as PositionEnum
from resolvers import person as person_resolvers
from resolvers.context import Context
from resolvers.ids import encode
from resolvers.person import OccupantView, PersonView, TeamSeatView
from schema.relay import Node

if TYPE_CHECKING:
    from schema.place import Building

Position = strawberry.enum(PositionEnum, description="五员共治班子的职务。")
HomeRelation = strawberry.enum(HomeRelationEnum, description="与住户的关系：业主或租户。")


@strawberry.type(description="党员信息（敏感）：只有本人和社区“两委”看得到全部，网格员只看到报到状态。")
class PartyInfo:
    registered: bool = strawberry.field(description="是否已向居住小区报到。")
    work_unit: str | None = strawberry.field(description="所在单位党组织。")
    registered_on: datetime.date | None = strawberry.field(description="报到日期。")


@strawberry.type(description="一个人。姓名和手机号按查看者的权限脱敏显示。")
class Person(Node):
    _view: strawberry.Private[PersonView]
    name: str
    phone: str | None = strawberry.field(description="无权查看时为空；部分角色只看到 138****1234。")

    @classmethod
    def from_view(cls, view: PersonView) -> Person:
        return cls(_view=view, id=strawberry.ID(encode("Person", view.id)), name=view.name, phone=view.phone)

    @strawberry.field(description="党员信息；不是党员或无权查看时为空。")
    async def party(self, info: Info[Context, None]) -> PartyInfo | None:
        view = await person_resolvers.party(info.context, self._view)
        if view is None:
            return None
        return PartyInfo(
            registered=view.registered, work_unit=view.work_unit, registered_on=view.registered_on
        )


@strawberry.type(description="住在某户的人及其关系。")
class Occupant:
    person: Person
    relation: HomeRelation

    @classmethod
    def from_view(cls, view: OccupantView) -> Occupant:
        return cls(person=Person.from_view(view.person), relation=view.relation)


@strawberry.type(description="小区班子中的一个职务。")
class TeamMember:
    _seat: strawberry.Private[TeamSeatView]
    position: Position
    person: Person

    @classmethod
    def from_view(cls, seat: TeamSeatView) -> TeamMember:
        return cls(_seat=seat, position=seat.position, person=Person.from_view(seat.person))

    @strawberry.field(description="楼栋召集人负责的楼栋。")
    async def building(
        self, info: Info[Context, None]
    ) -> Annotated[Building, strawberry.lazy("schema.place")] | None:
        from schema.place import Building

        if self._seat.building_id is None:
            return None
        row = await info.context.loaders.building.load(self._seat.building_id)
        return Building.from_row(row) if row else None
