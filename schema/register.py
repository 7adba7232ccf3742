"""The register as GraphQL (住户登记、班子任免): people, homes, team positions and roles, each term
with its history, changed by staff in their scope; a household marked vacant."""

from __future__ import annotations

import datetime
import decimal
import uuid
from typing import Annotated, Any

import strawberry
from strawberry.types import Info

from models.enums import HomeRelation as HomeRelationEnum
from models.enums import Position as PositionEnum
from models.enums import Role as RoleEnum
from models.errors import BadUserInputError
from models.person import Home as HomeRow
from models.person import RoleAssignment as RoleRow
from models.person import TeamPosition as TeamPositionRow
from models.terms import holds, today
from resolvers import appointments, people
from resolvers import homes as home_resolvers
from resolvers import person as person_resolvers
from resolvers import place as place_resolvers
from resolvers.context import Context
from resolvers.homes import PersonRef
from resolvers.ids import decode, encode
from schema.person import HomeRelation, Person, Position, Role
from schema.place import AFTER, FIRST, Building, Community, Compound, Grid, Household
from schema.relay import Connection, Node, Nodes, node

_STARTS = "开始日期（北京时间，含当天）；不填为今天。"
_ENDS = "结束日期：从这一天起不再生效（不含当天）；不填为长期。"


@strawberry.input(
    description="一位人员：选已登记、您能看到的人员（personId），或填写姓名和手机号（已登记的按手机号找到，未登记的新建）。"
)
class PersonRefInput:
    person_id: strawberry.ID | None = strawberry.field(default=None, description="已登记人员的全局编号。")
    name: str | None = strawberry.field(default=None, description="姓名（最多 50 字）。")
    phone: str | None = strawberry.field(default=None, description="手机号（11 位）。")


def _ref(value: PersonRefInput, field: str = "person") -> PersonRef:
    person_id = decode(value.person_id, "Person", field=f"{field}.personId")[1] if value.person_id else None
    return PersonRef(person_id=person_id, name=value.name, phone=value.phone)


@strawberry.interface(
    description="一段任期或登记：从开始日期起生效，到结束日期（不含）为止；结束后作为历史保留。"
)
class Term:
    starts_on: datetime.date = strawberry.field(description=_STARTS.replace("；不填为今天。", "。"))
    ends_on: datetime.date | None = strawberry.field(
        description="结束日期（不含当天）；为空表示仍在生效或长期。"
    )

    @strawberry.field(description="今天（北京时间）是否生效。")
    def in_force(self) -> bool:
        return holds(self.starts_on, self.ends_on, on=today())


async def seen_person(info: Info[Context, None], person_id: uuid.UUID) -> Person | None:
    found = await person_resolvers.person_loader(info.context).load(person_id)
    return Person.from_view(found) if found else None


_FIRST = Annotated[int | None, strawberry.argument(description=FIRST)]
_AFTER = Annotated[str | None, strawberry.argument(description=AFTER)]


@strawberry.type(description="一条住户登记：某人是某户的业主或租户，在一段时间内。")
class HomeRecord(Term, Node):
    relation: HomeRelation = strawberry.field(description="业主或租户。")
    _person_id: strawberry.Private[uuid.UUID]
    _household_id: strawberry.Private[uuid.UUID]

    @classmethod
    def from_row(cls, row: HomeRow) -> HomeRecord:
        return cls(
            id=strawberry.ID(encode("HomeRecord", row.id)),
            relation=HomeRelationEnum(row.relation),
            starts_on=row.starts_on,
            ends_on=row.ends_on,
            _person_id=row.person_id,
            _household_id=row.household_id,
        )

    @strawberry.field(description="登记的人员（按您的权限显示）。")
    async def person(self, info: Info[Context, None]) -> Person | None:
        return await seen_person(info, self._person_id)

    @strawberry.field(description="这一户。")
    async def household(self, info: Info[Context, None]) -> Household | None:
        row = await place_resolvers.household_loader(info.context).load(self._household_id)
        return Household.from_row(row) if row else None


@strawberry.type(description="一段小区班子职务的任期。")
class TeamPositionRecord(Term, Node):
    position: Position = strawberry.field(description="职务。")
    _person_id: strawberry.Private[uuid.UUID]
    _compound_id: strawberry.Private[uuid.UUID]
    _building_id: strawberry.Private[uuid.UUID | None]

    @classmethod
    def from_row(cls, row: TeamPositionRow) -> TeamPositionRecord:
        return cls(
            id=strawberry.ID(encode("TeamPositionRecord", row.id)),
            position=PositionEnum(row.position),
            starts_on=row.starts_on,
            ends_on=row.ends_on,
            _person_id=row.person_id,
            _compound_id=row.compound_id,
            _building_id=row.building_id,
        )

    @strawberry.field(description="担任职务的人员（按您的权限显示）。")
    async def person(self, info: Info[Context, None]) -> Person | None:
        return await seen_person(info, self._person_id)

    @strawberry.field(description="班子所在的小区。")
    async def compound(self, info: Info[Context, None]) -> Compound | None:
        row = await place_resolvers.compound_loader(info.context).load(self._compound_id)
        return Compound.from_row(row) if row else None

    @strawberry.field(description="楼栋召集人负责的楼栋；其他职务为空。")
    async def building(self, info: Info[Context, None]) -> Building | None:
        if self._building_id is None:
            return None
        row = await place_resolvers.building_loader(info.context).load(self._building_id)
        return Building.from_row(row) if row else None


@strawberry.type(description="一段角色的任期（在某小区、网格或社区）。")
class RoleRecord(Term, Node):
    role: Role = strawberry.field(description="角色。")
    _row: strawberry.Private[Any]

    @classmethod
    def from_row(cls, row: RoleRow) -> RoleRecord:
        return cls(
            id=strawberry.ID(encode("RoleRecord", row.id)),
            role=RoleEnum(row.role),
            starts_on=row.starts_on,
            ends_on=row.ends_on,
            _row=row,
        )

    @strawberry.field(description="担任角色的人员（按您的权限显示）。")
    async def person(self, info: Info[Context, None]) -> Person | None:
        return await seen_person(info, self._row.person_id)

    @strawberry.field(description="角色所在的小区（按小区担任的角色）。")
    async def compound(self, info: Info[Context, None]) -> Compound | None:
        found = self._row.compound_id
        row = await place_resolvers.compound_loader(info.context).load(found) if found else None
        return Compound.from_row(row) if row else None

    @strawberry.field(description="角色所在的网格（网格员）。")
    async def grid(self, info: Info[Context, None]) -> Grid | None:
        found = self._row.grid_id
        row = await place_resolvers.grid_loader(info.context).load(found) if found else None
        return Grid.from_row(row) if row else None

    @strawberry.field(description="角色所在的社区（社区“两委”成员）。")
    async def community(self, info: Info[Context, None]) -> Community | None:
        found = self._row.community_id
        row = await place_resolvers.community_loader(info.context).load(found) if found else None
        return Community.from_row(row) if row else None


@strawberry.input(description="登记一户的业主或租户。")
class AddHomeInput:
    household_id: strawberry.ID = strawberry.field(description="住户的全局编号。")
    person: PersonRefInput = strawberry.field(description="登记的人员。")
    relation: HomeRelation = strawberry.field(description="业主（共有人也登记为业主）或租户。")
    starts_on: datetime.date | None = strawberry.field(default=None, description=_STARTS)


@strawberry.input(description="结束一段登记或任期。")
class EndTermInput:
    id: strawberry.ID = strawberry.field(description="登记或任期的编号。")
    ends_on: datetime.date | None = strawberry.field(
        default=None, description="从这一天起不再生效；不填为今天（立即生效）。"
    )


@strawberry.input(description="过户：原业主的登记在过户日结束，新业主从过户日开始。")
class TransferOwnershipInput:
    household_id: strawberry.ID = strawberry.field(description="住户的全局编号。")
    on: datetime.date = strawberry.field(description="过户日期（北京时间）。")
    new_owners: list[PersonRefInput] = strawberry.field(description="全部新业主（1–10 位，共有人一并填写）。")


@strawberry.input(description="任命小区班子职务。")
class AppointPositionInput:
    compound_id: strawberry.ID = strawberry.field(description="小区的全局编号。")
    person: PersonRefInput = strawberry.field(description="任命的人员。")
    position: Position = strawberry.field(description="职务。")
    building_id: strawberry.ID | None = strawberry.field(default=None, description="楼栋召集人负责的楼栋。")
    starts_on: datetime.date | None = strawberry.field(default=None, description=_STARTS)
    ends_on: datetime.date | None = strawberry.field(default=None, description=_ENDS)


@strawberry.input(
    description="授予角色：在职党员、物业人员、业委会成员按小区，网格员按网格，社区“两委”按社区。"
)
class GrantRoleInput:
    place_id: strawberry.ID = strawberry.field(description="小区、网格或社区的全局编号。")
    person: PersonRefInput = strawberry.field(description="授予的人员。")
    role: Role = strawberry.field(description="角色（管理员不能在这里授予）。")
    starts_on: datetime.date | None = strawberry.field(default=None, description=_STARTS)
    ends_on: datetime.date | None = strawberry.field(default=None, description=_ENDS)


@strawberry.input(description="更正一位人员的登记：只填要更正的项。")
class UpdatePersonInput:
    person_id: strawberry.ID = strawberry.field(description="人员的全局编号。")
    name: str | None = strawberry.field(default=None, description="正确的姓名（最多 50 字）。")
    phone: str | None = strawberry.field(
        default=None, description="绑定或更换的手机号（11 位）；不能是另一位人员已登记的号码。"
    )


@strawberry.input(description="登记一户空置（无人居住），或取消空置。")
class MarkVacantInput:
    household_id: strawberry.ID = strawberry.field(description="住户的全局编号。")
    vacant: bool = strawberry.field(
        description="true：空置（租户的登记在空置日结束，业主不变）；false：有人入住。"
    )
    since: datetime.date | None = strawberry.field(
        default=None, description="空置开始日期（北京时间）；不填为今天；取消空置时不填。"
    )


@strawberry.input(description="更正一户的专有部分面积（以不动产权证为准）。")
class CorrectHouseholdAreaInput:
    household_id: strawberry.ID = strawberry.field(description="住户的全局编号。")
    area: decimal.Decimal = strawberry.field(description="更正后的面积（平方米，最多两位小数）。")
    reason: str = strawberry.field(
        description="更正原因，如“据不动产权证更正，业主名册异议”；记入审计记录，最多 200 字。"
    )


_INPUT = strawberry.argument(description="要登记或变更的内容。")


_PLACE_KINDS = {"Compound": "compound", "Grid": "grid", "Community": "community"}


def _place(global_id: str) -> tuple[str, uuid.UUID]:
    type_name, ident = decode(global_id, field="placeId")
    kind = _PLACE_KINDS.get(type_name)
    if kind is None:
        raise BadUserInputError("请选择小区、网格或社区。", field="placeId")
    return kind, ident


@strawberry.type
class Query:
    @strawberry.field(
        description="一户的全部住户登记（含已结束的），开始日期最新的在前：网格员、社区“两委”、本小区物业。"
    )
    async def home_records(
        self,
        info: Info[Context, None],
        household_id: Annotated[strawberry.ID, strawberry.argument(description="住户的全局编号。")],
        first: _FIRST = 20,
        after: _AFTER = None,
    ) -> Connection[HomeRecord]:
        page = await home_resolvers.records(
            info.context,
            household_id=decode(household_id, "Household", field="householdId")[1],
            first=first,
            after=after,
        )
        return Connection.from_page(page, HomeRecord.from_row)

    @strawberry.field(
        description="小区班子的全部任期（含已结束的），开始日期最新的在前：能查看班子的人可见。"
    )
    async def team_records(
        self,
        info: Info[Context, None],
        compound_id: Annotated[strawberry.ID, strawberry.argument(description="小区的全局编号。")],
        first: _FIRST = 20,
        after: _AFTER = None,
    ) -> Connection[TeamPositionRecord]:
        page = await appointments.team_records(
            info.context,
            compound_id=decode(compound_id, "Compound", field="compoundId")[1],
            first=first,
            after=after,
        )
        return Connection.from_page(page, TeamPositionRecord.from_row)

    @strawberry.field(
        description="在某小区、网格或社区担任的全部角色（含已结束的），开始日期最新的在前：社区“两委”可见。"
    )
    async def role_records(
        self,
        info: Info[Context, None],
        place_id: Annotated[strawberry.ID, strawberry.argument(description="小区、网格或社区的全局编号。")],
        first: _FIRST = 20,
        after: _AFTER = None,
    ) -> Connection[RoleRecord]:
        kind, ident = _place(place_id)
        page = await appointments.role_records(
            info.context, kind=kind, place_id=ident, first=first, after=after
        )
        return Connection.from_page(page, RoleRecord.from_row)


@strawberry.type
class Mutation:
    @strawberry.mutation(
        description="登记业主或租户（网格员、社区“两委”、本小区物业）。新手机号即新登记一位人员。"
    )
    async def add_home(self, info: Info[Context, None], input: Annotated[AddHomeInput, _INPUT]) -> HomeRecord:
        row = await home_resolvers.add_home(
            info.context,
            household_id=decode(input.household_id, "Household", field="householdId")[1],
            person=_ref(input.person),
            relation=HomeRelationEnum(input.relation),
            starts_on=input.starts_on,
        )
        return HomeRecord.from_row(row)

    @strawberry.mutation(
        description="更正一位人员的姓名，绑定或更换手机号（负责其所在网格、社区的工作人员，本小区物业）；记入审计记录。"
    )
    async def update_person(
        self, info: Info[Context, None], input: Annotated[UpdatePersonInput, _INPUT]
    ) -> Person:
        person_id = await people.update_person(
            info.context,
            person_id=decode(input.person_id, "Person", field="personId")[1],
            name=input.name,
            phone=input.phone,
        )
        found = await seen_person(info, person_id)
        assert found is not None, "whoever may correct a person may see them"
        return found

    @strawberry.mutation(
        description="登记一户空置：租户的登记在空置日结束，业主的不变（仍可表决）；或取消空置。租户入住时自动取消空置。"
    )
    async def mark_vacant(
        self, info: Info[Context, None], input: Annotated[MarkVacantInput, _INPUT]
    ) -> Household:
        row = await home_resolvers.mark_vacant(
            info.context,
            household_id=decode(input.household_id, "Household", field="householdId")[1],
            vacant=input.vacant,
            since=input.since,
        )
        return Household.from_row(row)

    @strawberry.mutation(
        description="更正一户的面积（网格员、社区“两委”、本小区物业），记入审计记录：进行中的表决仍按开始时固定的面积计票，"
        "公示中的表决在开始时按更正后的面积计票。"
    )
    async def correct_household_area(
        self, info: Info[Context, None], input: Annotated[CorrectHouseholdAreaInput, _INPUT]
    ) -> Household:
        row = await home_resolvers.correct_area(
            info.context,
            household_id=decode(input.household_id, "Household", field="householdId")[1],
            area=input.area,
            reason=input.reason,
        )
        return Household.from_row(row)

    @strawberry.mutation(description="结束一条住户登记（搬走、退租）；登记作为历史保留。")
    async def end_home(self, info: Info[Context, None], input: Annotated[EndTermInput, _INPUT]) -> HomeRecord:
        row = await home_resolvers.end_home(
            info.context, home_id=decode(input.id, "HomeRecord", field="id")[1], ends_on=input.ends_on
        )
        return HomeRecord.from_row(row)

    @strawberry.mutation(
        description="过户：原业主的登记在过户日结束，新业主从过户日开始；已开始的表决不受影响（表决范围在开始时已固定）。"
    )
    async def transfer_ownership(
        self, info: Info[Context, None], input: Annotated[TransferOwnershipInput, _INPUT]
    ) -> list[HomeRecord]:
        rows = await home_resolvers.transfer_ownership(
            info.context,
            household_id=decode(input.household_id, "Household", field="householdId")[1],
            on=input.on,
            new_owners=[_ref(p, f"newOwners[{i}]") for i, p in enumerate(input.new_owners)],
        )
        return [HomeRecord.from_row(r) for r in rows]

    @strawberry.mutation(description="任命小区班子职务（社区“两委”）。")
    async def appoint_position(
        self, info: Info[Context, None], input: Annotated[AppointPositionInput, _INPUT]
    ) -> TeamPositionRecord:
        row = await appointments.appoint(
            info.context,
            compound_id=decode(input.compound_id, "Compound", field="compoundId")[1],
            person=_ref(input.person),
            position=PositionEnum(input.position),
            building_id=decode(input.building_id, "Building", field="buildingId")[1]
            if input.building_id
            else None,
            starts_on=input.starts_on,
            ends_on=input.ends_on,
        )
        return TeamPositionRecord.from_row(row)

    @strawberry.mutation(description="结束一段班子职务（社区“两委”）；任期作为历史保留。")
    async def end_position(
        self, info: Info[Context, None], input: Annotated[EndTermInput, _INPUT]
    ) -> TeamPositionRecord:
        row = await appointments.end_position(
            info.context,
            position_id=decode(input.id, "TeamPositionRecord", field="id")[1],
            ends_on=input.ends_on,
        )
        return TeamPositionRecord.from_row(row)

    @strawberry.mutation(description="授予角色（社区“两委”在本社区）。")
    async def grant_role(
        self, info: Info[Context, None], input: Annotated[GrantRoleInput, _INPUT]
    ) -> RoleRecord:
        row = await appointments.grant(
            info.context,
            place=_place(input.place_id),
            person=_ref(input.person),
            role=RoleEnum(input.role),
            starts_on=input.starts_on,
            ends_on=input.ends_on,
        )
        return RoleRecord.from_row(row)

    @strawberry.mutation(description="结束一个角色（社区“两委”在本社区）；任期作为历史保留。")
    async def end_role(self, info: Info[Context, None], input: Annotated[EndTermInput, _INPUT]) -> RoleRecord:
        row = await appointments.end_role(
            info.context, role_id=decode(input.id, "RoleRecord", field="id")[1], ends_on=input.ends_on
        )
        return RoleRecord.from_row(row)


NODES: Nodes = {
    "HomeRecord": node(HomeRecord.from_row, lambda ctx, i: home_resolvers.record(ctx, home_id=i)),
    "TeamPositionRecord": node(
        TeamPositionRecord.from_row, lambda ctx, i: appointments.team_record(ctx, position_id=i)
    ),
    "RoleRecord": node(RoleRecord.from_row, lambda ctx, i: appointments.role_record(ctx, role_id=i)),
}
