"""The place tree as GraphQL types."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Annotated

import strawberry
from strawberry.types import Info

from auth.policy import can
from models import Building as BuildingRow
from models import Community as CommunityRow
from models import Compound as CompoundRow
from models import Grid as GridRow
from models import Household as HouseholdRow
from resolvers import person as person_resolvers
from resolvers import place as place_resolvers
from resolvers import stats as stats_resolvers
from resolvers import task as task_resolvers
from resolvers import vote as vote_resolvers
from resolvers.context import Context
from resolvers.ids import decode, decode_cursor, encode
from schema.person import Occupant, Person, TeamMember
from schema.relay import Connection, Node
from schema.stats import TaskStats
from schema.task import TaskStatus

if TYPE_CHECKING:
    from schema.task import Task
    from schema.vote import Vote


@strawberry.type(description="社区，属于某街道、某区。")
class Community(Node):
    name: str
    street: str
    district: str

    @classmethod
    def from_row(cls, row: CommunityRow) -> Community:
        return cls(
            id=strawberry.ID(encode("Community", row.id)),
            name=row.name,
            street=row.street,
            district=row.district,
        )

    @strawberry.field(description="本社区所有小区的事项统计（公开汇总数字）。")
    async def task_stats(self, info: Info[Context, None]) -> TaskStats:
        _, community_id = decode(self.id, "Community")
        return TaskStats.from_view(await stats_resolvers.community_task_stats(info.context, community_id))


@strawberry.type(description="网格，属于某社区。")
class Grid(Node):
    _row: strawberry.Private[GridRow]
    name: str

    @classmethod
    def from_row(cls, row: GridRow) -> Grid:
        return cls(_row=row, id=strawberry.ID(encode("Grid", row.id)), name=row.name)

    @strawberry.field
    async def community(self, info: Info[Context, None]) -> Community:
        row = await info.context.loaders.community.load(self._row.community_id)
        assert row is not None
        return Community.from_row(row)

    @strawberry.field(description="本网格所有小区的事项统计（公开汇总数字）。")
    async def task_stats(self, info: Info[Context, None]) -> TaskStats:
        return TaskStats.from_view(await stats_resolvers.grid_task_stats(info.context, self._row.id))


@strawberry.type(description="小区的公开统计。")
class CompoundStats:
    building_count: int
    household_count: int
    total_area: Decimal = strawberry.field(description="总建筑面积（平方米，两位小数）。")
    party_member_count: int | None = strawberry.field(
        description="在本小区报到登记的在职党员人数（小区班子、网格员、社区“两委”可见；其他人为空）。"
    )
    party_registered_count: int | None
    party_registration_rate: Decimal | None = strawberry.field(description="报到率（0–1，四位小数）。")


@strawberry.type(description="小区。")
class Compound(Node):
    _row: strawberry.Private[CompoundRow]
    name: str
    property_company: str | None

    @classmethod
    def from_row(cls, row: CompoundRow) -> Compound:
        return cls(
            _row=row,
            id=strawberry.ID(encode("Compound", row.id)),
            name=row.name,
            property_company=row.property_company,
        )

    @strawberry.field
    async def community(self, info: Info[Context, None]) -> Community:
        row = await info.context.loaders.community.load(self._row.community_id)
        assert row is not None
        return Community.from_row(row)

    @strawberry.field
    async def grid(self, info: Info[Context, None]) -> Grid:
        row = await info.context.loaders.grid.load(self._row.grid_id)
        assert row is not None
        return Grid.from_row(row)

    @strawberry.field(description="楼栋，按名称排序。")
    async def buildings(
        self, info: Info[Context, None], first: int | None = 20, after: str | None = None
    ) -> Connection[Building]:
        page = await place_resolvers.buildings(
            info.context, compound_row=self._row, first=first, offset=decode_cursor(after)
        )
        return Connection.from_page(page, Building.from_row)

    @strawberry.field(description="您有权查看的住户（居民只看到自己家）。")
    async def households(
        self, info: Info[Context, None], first: int | None = 20, after: str | None = None
    ) -> Connection[Household]:
        page = await place_resolvers.households_of_compound(
            info.context, compound_row=self._row, first=first, offset=decode_cursor(after)
        )
        return Connection.from_page(page, Household.from_row)

    @strawberry.field(description="五员共治班子：总召集人、副召集人、委员、楼栋召集人。")
    async def team(self, info: Info[Context, None]) -> list[TeamMember]:
        await place_resolvers.compound(info.context, compound_id=self._row.id, resource="compound.team")
        seats = await person_resolvers.team(info.context, compound_row=self._row)
        return [TeamMember.from_view(seat) for seat in seats]

    @strawberry.field(description="您有权查看的事项，最新的在前。")
    async def tasks(
        self,
        info: Info[Context, None],
        first: int | None = 20,
        after: str | None = None,
        status: TaskStatus | None = None,
    ) -> Connection[Annotated[Task, strawberry.lazy("schema.task")]]:
        from schema.task import Task

        page = await task_resolvers.tasks_of_compound(
            info.context, self._row, first=first, offset=decode_cursor(after), status=status
        )
        return Connection.from_page(page, Task.from_row)

    @strawberry.field(description="您有权查看的表决，最新的在前。")
    async def votes(
        self, info: Info[Context, None], first: int | None = 20, after: str | None = None
    ) -> Connection[Annotated[Vote, strawberry.lazy("schema.vote")]]:
        from schema.vote import Vote

        page = await vote_resolvers.votes_of_compound(
            info.context, self._row, first=first, offset=decode_cursor(after)
        )
        return Connection.from_page(page, Vote.from_row)

    @strawberry.field
    async def stats(self, info: Info[Context, None]) -> CompoundStats:
        await place_resolvers.compound(info.context, compound_id=self._row.id, resource="compound.stats")
        counts = can(
            info.context.principal, "party.stats", "read_counts", place_resolvers.compound_place(self._row)
        )
        s = await info.context.loaders.compound_stats.load(self._row.id)
        rate = (
            (Decimal(s.party_registered_count) / Decimal(s.party_member_count)).quantize(Decimal("0.0001"))
            if s.party_member_count
            else None
        )
        return CompoundStats(
            building_count=s.building_count,
            household_count=s.household_count,
            total_area=Decimal(s.total_area).quantize(Decimal("0.01")),
            party_member_count=s.party_member_count if counts else None,
            party_registered_count=s.party_registered_count if counts else None,
            party_registration_rate=rate,
        )

    @strawberry.field(description="本小区的事项统计（公开汇总数字）。")
    async def task_stats(self, info: Info[Context, None]) -> TaskStats:
        return TaskStats.from_view(await stats_resolvers.compound_task_stats(info.context, self._row))


@strawberry.type(description="楼栋。")
class Building(Node):
    _row: strawberry.Private[BuildingRow]
    name: str

    @classmethod
    def from_row(cls, row: BuildingRow) -> Building:
        return cls(_row=row, id=strawberry.ID(encode("Building", row.id)), name=row.name)

    @strawberry.field
    async def compound(self, info: Info[Context, None]) -> Compound:
        row = await place_resolvers.compound(info.context, compound_id=self._row.compound_id)
        return Compound.from_row(row)

    @strawberry.field(description="您有权查看的住户。")
    async def households(
        self, info: Info[Context, None], first: int | None = 20, after: str | None = None
    ) -> Connection[Household]:
        page = await place_resolvers.households_of_building(
            info.context, building_row=self._row, first=first, offset=decode_cursor(after)
        )
        return Connection.from_page(page, Household.from_row)


@strawberry.type(description="住户（一套房屋），例如 6-1-302。")
class Household(Node):
    _row: strawberry.Private[HouseholdRow]
    number: str
    floor: int
    area: Decimal = strawberry.field(description="建筑面积（平方米，两位小数），以字符串传输。")

    @classmethod
    def from_row(cls, row: HouseholdRow) -> Household:
        return cls(
            _row=row,
            id=strawberry.ID(encode("Household", row.id)),
            number=row.number,
            floor=row.floor,
            area=Decimal(row.area).quantize(Decimal("0.01")),
        )

    @strawberry.field
    async def building(self, info: Info[Context, None]) -> Building:
        row = await info.context.loaders.building.load(self._row.building_id)
        assert row is not None
        return Building.from_row(row)

    @strawberry.field
    async def compound(self, info: Info[Context, None]) -> Compound:
        row = await info.context.loaders.compound.load(self._row.compound_id)
        assert row is not None
        return Compound.from_row(row)

    @strawberry.field(description="业主和租户。")
    async def occupants(self, info: Info[Context, None]) -> list[Occupant]:
        compound_row = await info.context.loaders.compound.load(self._row.compound_id)
        assert compound_row is not None
        views = await person_resolvers.occupants(
            info.context, compound_row=compound_row, household_id=self._row.id
        )
        return [Occupant.from_view(v) for v in views]

    @strawberry.field(description="业主（共有人都列出）。")
    async def owners(self, info: Info[Context, None]) -> list[Person]:
        return [o.person for o in await self.occupants(info) if o.relation.value == "OWNER"]
