"""The place tree as GraphQL types: district › street › community › grid › compound › building ›
household."""

from __future__ import annotations

import datetime
from collections.abc import Callable
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated, Any

import sqlalchemy as sa
import strawberry
from graphql import FieldNode
from strawberry.types import Info

from auth.bindings import alias, home_tie
from auth.policy import Action, Resource, require_authenticated, where
from models.enums import HomeRelation as HomeRelationEnum
from models.person import Home, TeamPosition
from models.person import Person as PersonRow
from models.place import Building as BuildingRow
from models.place import Community as CommunityRow
from models.place import Compound as CompoundRow
from models.place import District as DistrictRow
from models.place import Grid as GridRow
from models.place import Household as HouseholdRow
from models.place import Street as StreetRow
from models.task import Task as TaskRow
from models.terms import in_force
from models.vote import Vote as VoteRow
from resolvers import person as person_resolvers
from resolvers import place as place_resolvers
from resolvers import stats as stats_resolvers
from resolvers import task as task_resolvers
from resolvers import vote as vote_resolvers
from resolvers.context import Context
from resolvers.ids import decode, encode
from resolvers.party_stats import party_stats
from schema import compiler
from schema.person import Occupant, Person, TeamMember
from schema.relay import Connection, Node, Nodes, node
from schema.stats import PERIOD, PartyStats, TaskStats
from schema.task import TaskFilter, TaskStatus, filter_values, task_filter

if TYPE_CHECKING:
    from schema.procedure import ProcedureRules
    from schema.proxies import ProxyStatus, VoteProxy
    from schema.task import Task
    from schema.vote import Vote

FIRST = "每页数量，最多 100。"
AFTER = "从这个游标之后开始（上一页的 `pageInfo.endCursor`）。"
_FIRST = Annotated[int | None, strawberry.argument(description=FIRST)]
_AFTER = Annotated[str | None, strawberry.argument(description=AFTER)]


@strawberry.type(description="区，例如 綦江区。")
class District(Node):
    _row: strawberry.Private[DistrictRow]
    name: str = strawberry.field(description="区的名称。")

    @classmethod
    def from_row(cls, row: DistrictRow) -> District:
        return cls(_row=row, id=strawberry.ID(encode("District", row.id)), name=row.name)

    @strawberry.field(description="本区中您有权查看的街道，按名称排序。")
    async def streets(
        self, info: Info[Context, None], first: _FIRST = 20, after: _AFTER = None
    ) -> Connection[Street]:
        page = await place_resolvers.children(info.context, "streets", self._row.id, first=first, after=after)
        return Connection.from_page(page, Street.from_row)


@strawberry.type(description="街道，属于某区。")
class Street(Node):
    _row: strawberry.Private[StreetRow]
    name: str = strawberry.field(description="街道的名称。")

    @classmethod
    def from_row(cls, row: StreetRow) -> Street:
        return cls(_row=row, id=strawberry.ID(encode("Street", row.id)), name=row.name)

    @strawberry.field(description="所属区。")
    async def district(self, info: Info[Context, None]) -> District | None:
        row = await place_resolvers.district_loader(info.context).load(self._row.district_id)
        return District.from_row(row) if row else None

    @strawberry.field(description="本街道中您有权查看的社区，按名称排序。")
    async def communities(
        self, info: Info[Context, None], first: _FIRST = 20, after: _AFTER = None
    ) -> Connection[Community]:
        page = await place_resolvers.children(
            info.context, "communities", self._row.id, first=first, after=after
        )
        return Connection.from_page(page, Community.from_row)

    @strawberry.field(description="本街道党员报到与参与统计（比例公开）。")
    async def party_stats(
        self,
        info: Info[Context, None],
        period: Annotated[str | None, strawberry.argument(description=PERIOD)] = None,
    ) -> PartyStats:
        return PartyStats.from_view(await party_stats(info.context, "street", self._row, period))


@strawberry.type(description="社区，属于某街道、某区。")
class Community(Node):
    _row: strawberry.Private[CommunityRow]
    name: str = strawberry.field(description="社区名称，例如 九龙社区。")
    service_days: int = strawberry.field(
        description="事项的办理时限（天）：自反映之日起超过这些天仍未办结，承办人会收到提醒（社区“两委”设定，默认 7 天）。"
    )

    @classmethod
    def from_row(cls, row: CommunityRow) -> Community:
        return cls(
            _row=row,
            id=strawberry.ID(encode("Community", row.id)),
            name=row.name,
            service_days=row.service_days,
        )

    @strawberry.field(description="所属街道的名称。")
    async def street(self, info: Info[Context, None]) -> str:
        return (await self._street(info)).name

    @strawberry.field(description="所属区的名称。")
    async def district(self, info: Info[Context, None]) -> str:
        street = await self._street(info)
        found = await place_resolvers.district_loader(info.context).load(street.district_id)
        assert found is not None, "who reads a community reads its district"
        return found.name

    @strawberry.field(description="所属街道（可由此找到区和同街道的其他社区）。")
    async def parent_street(self, info: Info[Context, None]) -> Street:
        return Street.from_row(await self._street(info))

    async def _street(self, info: Info[Context, None]) -> StreetRow:
        found = await place_resolvers.street_loader(info.context).load(self._row.street_id)
        assert found is not None, "who reads a community reads its street"
        return found

    @strawberry.field(description="本社区中您有权查看的网格，按名称排序。")
    async def grids(
        self, info: Info[Context, None], first: _FIRST = 20, after: _AFTER = None
    ) -> Connection[Grid]:
        page = await place_resolvers.children(info.context, "grids", self._row.id, first=first, after=after)
        return Connection.from_page(page, Grid.from_row)

    @strawberry.field(description="本社区中您有权查看的小区，按名称排序。")
    async def compounds(
        self, info: Info[Context, None], first: _FIRST = 20, after: _AFTER = None
    ) -> Connection[Annotated[Compound, strawberry.lazy("schema.place")]]:
        page = await place_resolvers.children(
            info.context, "compounds_of_community", self._row.id, first=first, after=after
        )
        return Connection.from_page(page, Compound.from_row)

    @strawberry.field(description="本社区所有小区的事项统计（公开汇总数字）。")
    async def task_stats(self, info: Info[Context, None]) -> TaskStats:
        return TaskStats.from_view(await stats_resolvers.task_stats(info.context, "community", self._row.id))

    @strawberry.field(description="本社区党员报到与参与统计（比例公开，人数只给本社区“两委”）。")
    async def party_stats(
        self,
        info: Info[Context, None],
        period: Annotated[str | None, strawberry.argument(description=PERIOD)] = None,
    ) -> PartyStats:
        return PartyStats.from_view(await party_stats(info.context, "community", self._row, period))


@strawberry.type(description="网格，属于某社区。")
class Grid(Node):
    _row: strawberry.Private[GridRow]
    name: str = strawberry.field(description="网格名称。")

    @classmethod
    def from_row(cls, row: GridRow) -> Grid:
        return cls(_row=row, id=strawberry.ID(encode("Grid", row.id)), name=row.name)

    @strawberry.field(description="本网格中您有权查看的小区，按名称排序。")
    async def compounds(
        self, info: Info[Context, None], first: _FIRST = 20, after: _AFTER = None
    ) -> Connection[Annotated[Compound, strawberry.lazy("schema.place")]]:
        page = await place_resolvers.children(
            info.context, "compounds_of_grid", self._row.id, first=first, after=after
        )
        return Connection.from_page(page, Compound.from_row)

    @strawberry.field(description="所属社区；无权查看时为空。")
    async def community(self, info: Info[Context, None]) -> Community | None:
        row = await place_resolvers.community_loader(info.context).load(self._row.community_id)
        return Community.from_row(row) if row else None

    @strawberry.field(description="本网格所有小区的事项统计（公开汇总数字）。")
    async def task_stats(self, info: Info[Context, None]) -> TaskStats:
        return TaskStats.from_view(await stats_resolvers.task_stats(info.context, "grid", self._row.id))

    @strawberry.field(description="本网格党员报到与参与统计（比例公开，人数只给网格员和社区“两委”）。")
    async def party_stats(
        self,
        info: Info[Context, None],
        period: Annotated[str | None, strawberry.argument(description=PERIOD)] = None,
    ) -> PartyStats:
        return PartyStats.from_view(await party_stats(info.context, "grid", self._row, period))


@strawberry.type(description="小区的公开统计。")
class CompoundStats:
    building_count: int = strawberry.field(description="楼栋数。")
    household_count: int = strawberry.field(description="住户数。")
    total_area: Decimal = strawberry.field(description="总建筑面积（平方米，两位小数）。")
    party_member_count: int | None = strawberry.field(
        description="在本小区报到登记的在职党员人数（小区班子、网格员、社区“两委”可见；其他人为空）。"
    )
    party_registered_count: int | None = strawberry.field(
        description="其中已报到的人数（可见范围同上；其他人为空）。"
    )
    party_registration_rate: Decimal | None = strawberry.field(description="报到率（0–1，四位小数），公开。")

    @classmethod
    def from_view(cls, s: stats_resolvers.CompoundStats) -> CompoundStats:
        return cls(
            building_count=s.building_count,
            household_count=s.household_count,
            total_area=s.total_area,
            party_member_count=s.party_member_count,
            party_registered_count=s.party_registered_count,
            party_registration_rate=s.party_registration_rate,
        )


@strawberry.type(description="小区。")
class Compound(Node):
    _row: strawberry.Private[CompoundRow]
    name: str = strawberry.field(description="小区名称，例如 千山美林。")
    property_company: str | None = strawberry.field(description="物业服务企业。")

    @classmethod
    def from_row(cls, row: CompoundRow) -> Compound:
        return cls(
            _row=row,
            id=strawberry.ID(encode("Compound", row.id)),
            name=row.name,
            property_company=row.property_company,
        )

    @strawberry.field(description="所属社区。")
    async def community(self, info: Info[Context, None]) -> Community:
        return Community.from_row(
            await place_resolvers.community(info.context, community_id=self._row.community_id)
        )

    @strawberry.field(description="所属网格。")
    async def grid(self, info: Info[Context, None]) -> Grid:
        return Grid.from_row(await place_resolvers.grid(info.context, grid_id=self._row.grid_id))

    @strawberry.field(description="楼栋，按名称排序。")
    async def buildings(
        self,
        info: Info[Context, None],
        first: Annotated[int | None, strawberry.argument(description=FIRST)] = 20,
        after: Annotated[str | None, strawberry.argument(description=AFTER)] = None,
    ) -> Connection[Building]:
        page = await place_resolvers.buildings(info.context, compound_row=self._row, first=first, after=after)
        return Connection.from_page(page, Building.from_row)

    @strawberry.field(description="您有权查看的住户（居民只看到自己家）。")
    async def households(
        self,
        info: Info[Context, None],
        first: Annotated[int | None, strawberry.argument(description=FIRST)] = 20,
        after: Annotated[str | None, strawberry.argument(description=AFTER)] = None,
    ) -> Connection[Household]:
        page = await place_resolvers.households_of_compound(
            info.context, compound_row=self._row, first=first, after=after
        )
        return Connection.from_page(page, Household.from_row)

    @strawberry.field(description="五员共治班子：总召集人、副召集人、委员、楼栋召集人。")
    async def team(self, info: Info[Context, None]) -> list[TeamMember]:
        seats = await person_resolvers.team(info.context, compound_row=self._row)
        return [TeamMember.from_view(seat) for seat in seats]

    @strawberry.field(description="您有权查看的事项，最新的在前。")
    async def tasks(
        self,
        info: Info[Context, None],
        first: Annotated[int | None, strawberry.argument(description=FIRST)] = 20,
        after: Annotated[str | None, strawberry.argument(description=AFTER)] = None,
        status: Annotated[TaskStatus | None, strawberry.argument(description="只看这一状态的事项。")] = None,
        filter: Annotated[
            TaskFilter | None,
            strawberry.argument(description="按状态、分类、类型、楼栋、承办人、反映时间筛选。"),
        ] = None,
    ) -> Connection[Annotated[Task, strawberry.lazy("schema.task")]]:
        from schema.task import Task

        page = await task_resolvers.tasks_of_compound(
            info.context,
            self._row,
            first=first,
            after=after,
            narrow=task_filter(filter, status),
        )
        return Connection.from_page(page, Task.from_row)

    @strawberry.field(description="您有权查看的表决，最新的在前。")
    async def votes(
        self,
        info: Info[Context, None],
        first: Annotated[int | None, strawberry.argument(description=FIRST)] = 20,
        after: Annotated[str | None, strawberry.argument(description=AFTER)] = None,
    ) -> Connection[Annotated[Vote, strawberry.lazy("schema.vote")]]:
        from schema.vote import Vote

        page = await vote_resolvers.votes_of_compound(info.context, self._row, first=first, after=after)
        return Connection.from_page(page, Vote.from_row)

    @strawberry.field(description="本小区现行的议事规则（与表决有关的部分）；未登记时为第 0 版（法定默认）。")
    async def procedure_rules(
        self, info: Info[Context, None]
    ) -> Annotated[ProcedureRules, strawberry.lazy("schema.procedure")]:
        from resolvers import procedure as procedure_resolvers
        from schema.procedure import ProcedureRules

        return ProcedureRules.from_view(await procedure_resolvers.in_force(info.context, self._row))

    @strawberry.field(description="本小区议事规则的全部版本，最新的在前，最后是第 0 版（法定默认）。")
    async def procedure_rule_history(
        self, info: Info[Context, None]
    ) -> list[Annotated[ProcedureRules, strawberry.lazy("schema.procedure")]]:
        from resolvers import procedure as procedure_resolvers
        from schema.procedure import ProcedureRules

        return [
            ProcedureRules.from_view(v) for v in await procedure_resolvers.history(info.context, self._row)
        ]

    @strawberry.field(description="本小区业主的书面委托，最新的在前（业委会成员、社区“两委”成员核实用）。")
    async def proxies(
        self,
        info: Info[Context, None],
        status: Annotated[
            Annotated[ProxyStatus, strawberry.lazy("schema.proxies")] | None,
            strawberry.argument(description="只看某一状态（例如待核实）。"),
        ] = None,
        first: _FIRST = 20,
        after: _AFTER = None,
    ) -> Connection[Annotated[VoteProxy, strawberry.lazy("schema.proxies")]]:
        from models.proxy import ProxyStatus as ProxyStatusEnum
        from resolvers import proxies as proxy_resolvers
        from resolvers.proxies import view
        from schema.proxies import VoteProxy

        page = await proxy_resolvers.of_compound(
            info.context,
            self._row,
            status=ProxyStatusEnum(status) if status else None,
            first=first,
            after=after,
        )
        return Connection.from_page(page, lambda r: VoteProxy.from_view(view(r)))

    @strawberry.field(description="小区的公开统计。")
    async def stats(self, info: Info[Context, None]) -> CompoundStats:
        return CompoundStats.from_view(await stats_resolvers.compound_stats(info.context, self._row))

    @strawberry.field(description="本小区的事项统计（公开汇总数字）。")
    async def task_stats(self, info: Info[Context, None]) -> TaskStats:
        return TaskStats.from_view(await stats_resolvers.task_stats(info.context, "compound", self._row.id))

    @strawberry.field(
        description="本小区党员报到与参与统计（比例公开，人数只给与本小区党员工作相关的人员）。"
    )
    async def party_stats(
        self,
        info: Info[Context, None],
        period: Annotated[str | None, strawberry.argument(description=PERIOD)] = None,
    ) -> PartyStats:
        return PartyStats.from_view(await party_stats(info.context, "compound", self._row, period))


@strawberry.type(description="楼栋。")
class Building(Node):
    _row: strawberry.Private[BuildingRow]
    name: str = strawberry.field(description="楼栋名称，例如 6栋。")

    @classmethod
    def from_row(cls, row: BuildingRow) -> Building:
        return cls(_row=row, id=strawberry.ID(encode("Building", row.id)), name=row.name)

    @strawberry.field(description="所属小区。")
    async def compound(self, info: Info[Context, None]) -> Compound:
        return Compound.from_row(
            await place_resolvers.compound(info.context, compound_id=self._row.compound_id)
        )

    @strawberry.field(description="您有权查看的住户。")
    async def households(
        self,
        info: Info[Context, None],
        first: Annotated[int | None, strawberry.argument(description=FIRST)] = 20,
        after: Annotated[str | None, strawberry.argument(description=AFTER)] = None,
    ) -> Connection[Household]:
        page = await place_resolvers.households_of_building(
            info.context, building_row=self._row, first=first, after=after
        )
        return Connection.from_page(page, Household.from_row)


@strawberry.type(description="住户（一套房屋），例如 6-1-302。")
class Household(Node):
    _row: strawberry.Private[HouseholdRow]
    number: str = strawberry.field(description="户号：楼栋-单元-房号，例如 6-1-302。")
    floor: int = strawberry.field(description="所在楼层。")
    area: Decimal = strawberry.field(description="建筑面积（平方米，两位小数），以字符串传输。")
    vacant_since: datetime.date | None = strawberry.field(
        description="空置（无人居住）开始的日期；有人居住或未登记空置时为空。"
    )

    @classmethod
    def from_row(cls, row: HouseholdRow) -> Household:
        return cls(
            _row=row,
            id=strawberry.ID(encode("Household", row.id)),
            number=row.number,
            floor=row.floor,
            area=Decimal(row.area).quantize(Decimal("0.01")),
            vacant_since=row.vacant_since,
        )

    @strawberry.field(description="所在楼栋。")
    async def building(self, info: Info[Context, None]) -> Building:
        return Building.from_row(
            await place_resolvers.building(info.context, building_id=self._row.building_id)
        )

    @strawberry.field(description="所在小区。")
    async def compound(self, info: Info[Context, None]) -> Compound:
        return Compound.from_row(
            await place_resolvers.compound(info.context, compound_id=self._row.compound_id)
        )

    @strawberry.field(description="业主和租户。")
    async def occupants(self, info: Info[Context, None]) -> list[Occupant]:
        views = await person_resolvers.occupants(info.context, household_id=self._row.id)
        return [Occupant.from_view(v) for v in views]

    @strawberry.field(description="业主（共有人都列出）。")
    async def owners(self, info: Info[Context, None]) -> list[Person]:
        return [o.person for o in await self.occupants(info) if o.relation.value == "OWNER"]


@strawberry.type
class Query:
    @strawberry.field(description="您有权查看的区（其中有您能看到的社区），按名称排序。")
    async def districts(
        self, info: Info[Context, None], first: _FIRST = 20, after: _AFTER = None
    ) -> Connection[District]:
        require_authenticated(info.context.principal)
        page = await place_resolvers.districts(info.context, first=first, after=after)
        return Connection.from_page(page, District.from_row)

    @strawberry.field(description="您有权查看的小区，按名称排序。")
    async def compounds(
        self,
        info: Info[Context, None],
        first: Annotated[int | None, strawberry.argument(description=FIRST)] = 20,
        after: Annotated[str | None, strawberry.argument(description=AFTER)] = None,
    ) -> Connection[Compound]:
        require_authenticated(info.context.principal)
        page = await place_resolvers.compounds(info.context, first=first, after=after)
        return Connection.from_page(page, Compound.from_row)

    @strawberry.field(description="一个小区；无权查看与不存在的回答相同。")
    async def compound(
        self,
        info: Info[Context, None],
        id: Annotated[strawberry.ID, strawberry.argument(description="小区的全局编号。")],
    ) -> Compound | None:
        require_authenticated(info.context.principal)
        _, ident = decode(id, "Compound")
        return Compound.from_row(await place_resolvers.compound(info.context, compound_id=ident))


@strawberry.type
class Mutation:
    @strawberry.mutation(
        description="设定本社区事项的办理时限：自反映之日起的天数（1–365），超过仍未办结时提醒承办人（社区“两委”）。"
    )
    async def set_service_days(
        self,
        info: Info[Context, None],
        community_id: Annotated[strawberry.ID, strawberry.argument(description="社区的全局编号。")],
        days: Annotated[int, strawberry.argument(description="办理时限（天），1 到 365。")],
    ) -> Community:
        row = await place_resolvers.set_service_days(
            info.context, community_id=decode(community_id, "Community", field="communityId")[1], days=days
        )
        return Community.from_row(row)


NODES: Nodes = {
    "District": node(District.from_row, lambda ctx, i: place_resolvers.district(ctx, district_id=i)),
    "Street": node(Street.from_row, lambda ctx, i: place_resolvers.street(ctx, street_id=i)),
    "Community": node(Community.from_row, lambda ctx, i: place_resolvers.community(ctx, community_id=i)),
    "Grid": node(Grid.from_row, lambda ctx, i: place_resolvers.grid(ctx, grid_id=i)),
    "Compound": node(Compound.from_row, lambda ctx, i: place_resolvers.compound(ctx, compound_id=i)),
    "Building": node(Building.from_row, lambda ctx, i: place_resolvers.building(ctx, building_id=i)),
    "Household": node(Household.from_row, lambda ctx, i: place_resolvers.household(ctx, household_id=i)),
}


# --- the compiled read path (schema.compiler) ------------------------------------------------------

_C, _G, _M, _B, _H = (
    CompoundRow.__table__,
    GridRow.__table__,
    CommunityRow.__table__,
    BuildingRow.__table__,
    HouseholdRow.__table__,
)
_D, _S = DistrictRow.__table__, StreetRow.__table__


def _readable(resource: Resource) -> Callable[[compiler.Compiler, Any], Any]:
    return lambda c, t: where(c.who, resource, Action.READ, t)


def _children(type_name: str, table: Any, resource: Resource, parent: str, order: Any) -> Any:
    """A place's children as a connection: those of `table` whose `parent` column is the row's id."""
    return lambda c, r, n: c.connection(
        type_name,
        table,
        n,
        lambda t: [t.c[parent] == r.t.c.id, where(c.who, resource, Action.READ, t)],
        order,
    )


def _street_name(r: compiler.Row) -> Any:
    s = _S.alias()
    return sa.select(s.c.name).where(s.c.id == r.t.c.street_id).scalar_subquery()  # NOT NULL key


def _district_name(r: compiler.Row) -> Any:
    s, d = _S.alias(), _D.alias()
    found = (
        sa.select(d.c.name).select_from(s.join(d, d.c.id == s.c.district_id)).where(s.c.id == r.t.c.street_id)
    )
    return found.scalar_subquery()


def _root_districts(c: compiler.Compiler, r: compiler.Row, n: list[FieldNode]) -> Any:
    if not c.who.is_authenticated:
        raise compiler.Fallback("anonymous")
    return c.connection(
        "District",
        _D,
        n,
        lambda t: [where(c.who, Resource.DISTRICT, Action.READ, t)],
        place_resolvers.DISTRICTS,
    )


def _one(type_name: str, table: Any, resource: Resource, key: Callable[[Any], Any], *, nullable: bool) -> Any:
    return lambda c, r, n: c.one(
        type_name,
        table,
        n,
        lambda t: t.c.id == key(r),
        allowed=lambda t: _readable(resource)(c, t),
        nullable=nullable,
    )


def _households(parent: str) -> Any:
    return lambda c, r, n: c.connection(
        "Household",
        _H,
        n,
        lambda t: [t.c[parent] == r.t.c.id, where(c.who, Resource.HOUSEHOLD, Action.READ, t)],
        place_resolvers.HOUSEHOLDS,
    )


def _occupants(owners_only: bool) -> Any:
    def write(c: compiler.Compiler, r: compiler.Row, n: list[FieldNode]) -> Any:
        hm, p = alias(Home), alias(PersonRow)
        conditions = [hm.c.household_id == r.t.c.id, in_force(hm)]
        # the home in force that shows the person is one of their ties: the policy asks it first
        ties = (home_tie(hm, r.t),)
        if owners_only:
            conditions.append(hm.c.relation == HomeRelationEnum.OWNER)
            return c.many(
                "Person",
                hm.join(p, p.c.id == hm.c.person_id),
                compiler.Row(t=p, ties=ties),
                n,
                conditions,
                [hm.c.relation, p.c.name, p.c.id],
            )
        return c.many(
            "Occupant",
            hm.join(p, p.c.id == hm.c.person_id),
            compiler.Row(home=hm, person=p, ties=ties),
            n,
            conditions,
            [hm.c.relation, p.c.name, p.c.id],
        )

    return write


def _team(c: compiler.Compiler, r: compiler.Row, n: list[FieldNode]) -> Any:
    tp, p = alias(TeamPosition), alias(PersonRow)
    team = c.many(
        "TeamMember",
        tp.join(p, p.c.id == tp.c.person_id),
        compiler.Row(seat=tp, person=p),
        n,
        [tp.c.compound_id == r.t.c.id, in_force(tp)],
        [tp.c.position, p.c.name, tp.c.id],
    )
    return sa.case((where(c.who, Resource.COMPOUND, Action.READ_TEAM, r.t), team), else_=compiler.marker())


def _compound_tasks(c: compiler.Compiler, r: compiler.Row, n: list[FieldNode]) -> Any:
    values = filter_values(c, n)
    return c.connection(
        "Task",
        TaskRow.__table__,
        n,
        lambda t: [
            t.c.compound_id == r.t.c.id,
            where(c.who, Resource.TASK, Action.READ, t),
            *task_resolvers.narrowed(t, values),
        ],
        task_resolvers.TASKS,
    )


def _compound_votes(c: compiler.Compiler, r: compiler.Row, n: list[FieldNode]) -> Any:
    return c.connection(
        "Vote",
        VoteRow.__table__,
        n,
        lambda t: [t.c.compound_id == r.t.c.id, where(c.who, Resource.VOTE, Action.READ, t)],
        vote_resolvers.VOTES,
    )


def _root_compounds(c: compiler.Compiler, r: compiler.Row, n: list[FieldNode]) -> Any:
    if not c.who.is_authenticated:
        raise compiler.Fallback("anonymous")
    return c.connection(
        "Compound",
        _C,
        n,
        lambda t: [where(c.who, Resource.COMPOUND, Action.READ, t)],
        place_resolvers.COMPOUNDS,
    )


def _root_compound(c: compiler.Compiler, r: compiler.Row, n: list[FieldNode]) -> Any:
    if not c.who.is_authenticated:
        raise compiler.Fallback("anonymous")
    type_name, ident = c.node_type(n)
    if type_name != "Compound":
        raise compiler.Fallback("not a compound id")
    return c.one(
        "Compound",
        _C,
        n,
        lambda t: t.c.id == ident,
        allowed=lambda t: _readable(Resource.COMPOUND)(c, t),
        nullable=False,
    )


SQL = {
    "Community": compiler.TypeSQL(
        {
            "id": compiler.column(lambda r: compiler.global_id("Community", r.t.c.id)),
            "name": compiler.column(lambda r: r.t.c.name),
            "serviceDays": compiler.column(lambda r: r.t.c.service_days),
            "street": compiler.column(lambda r: _street_name(r)),
            "district": compiler.column(lambda r: _district_name(r)),
            "parentStreet": _one("Street", _S, Resource.STREET, lambda r: r.t.c.street_id, nullable=False),
            "grids": _children("Grid", _G, Resource.GRID, "community_id", place_resolvers.GRIDS),
            "compounds": _children(
                "Compound", _C, Resource.COMPOUND, "community_id", place_resolvers.COMPOUNDS
            ),
        }
    ),
    "District": compiler.TypeSQL(
        {
            "id": compiler.column(lambda r: compiler.global_id("District", r.t.c.id)),
            "name": compiler.column(lambda r: r.t.c.name),
            "streets": _children("Street", _S, Resource.STREET, "district_id", place_resolvers.STREETS),
        }
    ),
    "Street": compiler.TypeSQL(
        {
            "id": compiler.column(lambda r: compiler.global_id("Street", r.t.c.id)),
            "name": compiler.column(lambda r: r.t.c.name),
            "district": _one("District", _D, Resource.DISTRICT, lambda r: r.t.c.district_id, nullable=True),
            "communities": _children(
                "Community", _M, Resource.COMMUNITY, "street_id", place_resolvers.COMMUNITIES
            ),
        }
    ),
    "Grid": compiler.TypeSQL(
        {
            "id": compiler.column(lambda r: compiler.global_id("Grid", r.t.c.id)),
            "name": compiler.column(lambda r: r.t.c.name),
            "community": _one(
                "Community", _M, Resource.COMMUNITY, lambda r: r.t.c.community_id, nullable=True
            ),
            "compounds": _children("Compound", _C, Resource.COMPOUND, "grid_id", place_resolvers.COMPOUNDS),
        }
    ),
    "Compound": compiler.TypeSQL(
        {
            "id": compiler.column(lambda r: compiler.global_id("Compound", r.t.c.id)),
            "name": compiler.column(lambda r: r.t.c.name),
            "propertyCompany": compiler.column(lambda r: r.t.c.property_company),
            "community": _one(
                "Community", _M, Resource.COMMUNITY, lambda r: r.t.c.community_id, nullable=False
            ),
            "grid": _one("Grid", _G, Resource.GRID, lambda r: r.t.c.grid_id, nullable=False),
            "buildings": lambda c, r, n: c.connection(
                "Building",
                _B,
                n,
                lambda t: [t.c.compound_id == r.t.c.id, where(c.who, Resource.BUILDING, Action.READ, t)],
                place_resolvers.BUILDINGS,
            ),
            "households": _households("compound_id"),
            "team": _team,
            "tasks": _compound_tasks,
            "votes": _compound_votes,
        }
    ),
    "Building": compiler.TypeSQL(
        {
            "id": compiler.column(lambda r: compiler.global_id("Building", r.t.c.id)),
            "name": compiler.column(lambda r: r.t.c.name),
            "compound": _one("Compound", _C, Resource.COMPOUND, lambda r: r.t.c.compound_id, nullable=False),
            "households": _households("building_id"),
        }
    ),
    "Household": compiler.TypeSQL(
        {
            "id": compiler.column(lambda r: compiler.global_id("Household", r.t.c.id)),
            "number": compiler.column(lambda r: r.t.c.number),
            "floor": compiler.column(lambda r: r.t.c.floor),
            "area": compiler.column(lambda r: compiler.text_of(r.t.c.area)),
            "vacantSince": compiler.column(lambda r: r.t.c.vacant_since),
            "building": _one("Building", _B, Resource.BUILDING, lambda r: r.t.c.building_id, nullable=False),
            "compound": _one("Compound", _C, Resource.COMPOUND, lambda r: r.t.c.compound_id, nullable=False),
            "occupants": _occupants(owners_only=False),
            "owners": _occupants(owners_only=True),
        }
    ),
}
ROOTS = {"compounds": _root_compounds, "compound": _root_compound, "districts": _root_districts}
SQL_NODES = {
    "District": (_D, _readable(Resource.DISTRICT)),
    "Street": (_S, _readable(Resource.STREET)),
    "Community": (_M, _readable(Resource.COMMUNITY)),
    "Grid": (_G, _readable(Resource.GRID)),
    "Compound": (_C, _readable(Resource.COMPOUND)),
    "Building": (_B, _readable(Resource.BUILDING)),
    "Household": (_H, _readable(Resource.HOUSEHOLD)),
}
