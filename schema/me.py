"""The caller (`me`): person, homes, roles and team positions."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import sqlalchemy as sa
import strawberry
from graphql import FieldNode
from strawberry.types import Info

from auth.bindings import alias
from auth.policy import Action, Mine, Resource, mine, require_person, where
from auth.principal import PersonPrincipal
from auth.rules import ME
from models.person import Home as HomeRow
from models.person import RoleAssignment as RoleRow
from models.person import TeamPosition as TeamPositionRow
from models.place import Building as BuildingRow
from models.place import Community as CommunityRow
from models.place import Compound as CompoundRow
from models.place import Grid as GridRow
from models.place import Household as HouseholdRow
from models.task import Task as TaskRow
from models.terms import in_force
from models.volunteer import SignupStatus
from models.volunteer import VolunteerCall as VolunteerCallRow
from models.volunteer import VolunteerSignup as VolunteerSignupRow
from models.vote import Vote as VoteRow
from models.vote_rules import VoteStatus
from resolvers import claim as claim_resolvers
from resolvers import evaluation as evaluation_resolvers
from resolvers import me as me_resolvers
from resolvers import messages as message_resolvers
from resolvers import party as party_resolvers
from resolvers import task as task_resolvers
from resolvers import volunteer as volunteer_resolvers
from resolvers import vote as vote_resolvers
from resolvers.context import Context
from resolvers.me import RoleView
from resolvers.place import building_loader, community_loader, compound_loader, grid_loader
from schema import compiler
from schema.claim import HomeClaim
from schema.evaluation import PartyEvaluation
from schema.messages import Notification
from schema.party import PartyRegistration
from schema.person import HomeRelation, Person, Position, Role, people_sql
from schema.place import AFTER, FIRST, Building, Community, Compound, Grid, Household
from schema.relay import Connection
from schema.task import Task, TaskFilter, filter_values, task_filter, visible_with_its_task
from schema.volunteer import VolunteerCall
from schema.vote import Vote

if TYPE_CHECKING:
    from schema.proxies import VoteProxy


@strawberry.type(description="我与一户的关系。")
class MyHome:
    household: Household = strawberry.field(description="这一户。")
    relation: HomeRelation = strawberry.field(description="业主或租户。")


@strawberry.type(description="我担任的一个角色及其范围（小区、网格或社区；管理员没有范围）。")
class RoleAssignment:
    _view: strawberry.Private[RoleView]
    role: Role = strawberry.field(description="角色。")

    @strawberry.field(description="角色所在的小区（按小区担任的角色）。")
    async def compound(self, info: Info[Context, None]) -> Compound | None:
        place_id = self._view.place_id("compound")
        row = await compound_loader(info.context).load(place_id) if place_id else None
        return Compound.from_row(row) if row else None

    @strawberry.field(description="角色所在的网格（网格员）。")
    async def grid(self, info: Info[Context, None]) -> Grid | None:
        place_id = self._view.place_id("grid")
        row = await grid_loader(info.context).load(place_id) if place_id else None
        return Grid.from_row(row) if row else None

    @strawberry.field(description="角色所在的社区（社区“两委”成员）。")
    async def community(self, info: Info[Context, None]) -> Community | None:
        place_id = self._view.place_id("community")
        row = await community_loader(info.context).load(place_id) if place_id else None
        return Community.from_row(row) if row else None


@strawberry.type(description="我在某小区班子中的职务。")
class MyPosition:
    _building_id: strawberry.Private[object]
    _compound_id: strawberry.Private[object]
    position: Position = strawberry.field(description="职务。")

    @strawberry.field(description="班子所在的小区。")
    async def compound(self, info: Info[Context, None]) -> Compound | None:
        row = await compound_loader(info.context).load(self._compound_id)
        return Compound.from_row(row) if row else None

    @strawberry.field(description="楼栋召集人负责的楼栋；其他职务为空。")
    async def building(self, info: Info[Context, None]) -> Building | None:
        if self._building_id is None:
            return None
        row = await building_loader(info.context).load(self._building_id)
        return Building.from_row(row) if row else None


@strawberry.type(description="当前登录的人：本人信息、住房、角色和职务。")
class Me:
    person: Person = strawberry.field(description="本人（全名、手机号都可见）。")

    @strawberry.field(description="我的书面委托：我委托别人的，和别人委托我的，最新的在前（最多 100 条）。")
    async def proxy_appointments(
        self, info: Info[Context, None]
    ) -> list[Annotated[VoteProxy, strawberry.lazy("schema.proxies")]]:
        from resolvers import proxies as proxy_resolvers
        from schema.proxies import VoteProxy

        return [VoteProxy.from_view(v) for v in await proxy_resolvers.mine(info.context)]

    @strawberry.field(description="我居住或拥有的住户。")
    async def households(self, info: Info[Context, None]) -> list[MyHome]:
        homes = await me_resolvers.homes(info.context)
        return [MyHome(household=Household.from_row(h.household), relation=h.relation) for h in homes]

    @strawberry.field(description="我担任的角色。")
    def roles(self, info: Info[Context, None]) -> list[RoleAssignment]:
        return [RoleAssignment(_view=v, role=v.grant.role) for v in me_resolvers.roles(info.context)]

    @strawberry.field(description="我在小区班子中的职务。")
    def positions(self, info: Info[Context, None]) -> list[MyPosition]:
        return [
            MyPosition(_building_id=p.building_id, _compound_id=p.compound_id, position=p.position)
            for p in me_resolvers.positions(info.context)
        ]

    @strawberry.field(description="我反映的事项，最新的在前。")
    async def reported_tasks(
        self,
        info: Info[Context, None],
        first: Annotated[int | None, strawberry.argument(description=FIRST)] = 20,
        after: Annotated[str | None, strawberry.argument(description=AFTER)] = None,
        filter: Annotated[TaskFilter | None, strawberry.argument(description="筛选条件。")] = None,
    ) -> Connection[Task]:
        return await _my_tasks(info, Mine.REPORTED, first, after, filter)

    @strawberry.field(description="分派给我（或我所在工作小组、我担任的角色）的事项，最新的在前。")
    async def assigned_tasks(
        self,
        info: Info[Context, None],
        first: Annotated[int | None, strawberry.argument(description=FIRST)] = 20,
        after: Annotated[str | None, strawberry.argument(description=AFTER)] = None,
        filter: Annotated[TaskFilter | None, strawberry.argument(description="筛选条件。")] = None,
    ) -> Connection[Task]:
        return await _my_tasks(info, Mine.ASSIGNED, first, after, filter)

    @strawberry.field(description="我可以投票的进行中的表决，最先截止的在前。")
    async def my_votes(
        self,
        info: Info[Context, None],
        first: Annotated[int | None, strawberry.argument(description=FIRST)] = 20,
        after: Annotated[str | None, strawberry.argument(description=AFTER)] = None,
    ) -> Connection[Vote]:
        page = await vote_resolvers.my_open_votes(info.context, first=first, after=after)
        return Connection.from_page(page, Vote.from_row)

    @strawberry.field(description="我报名（含候补）的志愿者接龙，时间最晚的在前；已取消的也在其中。")
    async def my_calls(
        self,
        info: Info[Context, None],
        first: Annotated[int | None, strawberry.argument(description=FIRST)] = 20,
        after: Annotated[str | None, strawberry.argument(description=AFTER)] = None,
    ) -> Connection[VolunteerCall]:
        page = await volunteer_resolvers.my_calls(info.context, first=first, after=after)
        return Connection.from_page(page, VolunteerCall.from_row)

    @strawberry.field(description="我的住户登记申请，最新的在前，含已处理的。")
    async def home_claims(
        self,
        info: Info[Context, None],
        first: Annotated[int | None, strawberry.argument(description=FIRST)] = 20,
        after: Annotated[str | None, strawberry.argument(description=AFTER)] = None,
    ) -> Connection[HomeClaim]:
        page = await claim_resolvers.mine(info.context, first=first, after=after)
        return Connection.from_page(page, HomeClaim.from_view)

    @strawberry.field(description="我的党员报到（含待审核和已结束的），最新的在前。")
    async def party_registrations(
        self,
        info: Info[Context, None],
        first: Annotated[int | None, strawberry.argument(description=FIRST)] = 20,
        after: Annotated[str | None, strawberry.argument(description=AFTER)] = None,
    ) -> Connection[PartyRegistration]:
        page = await party_resolvers.mine(info.context, first=first, after=after)
        return Connection.from_page(page, PartyRegistration.from_view)

    @strawberry.field(description="我的党员评价（含草稿和已取代的版本），最新的在前。")
    async def party_evaluations(
        self,
        info: Info[Context, None],
        first: Annotated[int | None, strawberry.argument(description=FIRST)] = 20,
        after: Annotated[str | None, strawberry.argument(description=AFTER)] = None,
    ) -> Connection[PartyEvaluation]:
        page = await evaluation_resolvers.mine(info.context, first=first, after=after)
        return Connection.from_page(page, PartyEvaluation.from_view)

    @strawberry.field(
        description="给我的消息，最新的在前：事项受理和办结、报到通过等；微信订阅消息没送达的也在这里。"
    )
    async def notifications(
        self,
        info: Info[Context, None],
        unread_only: Annotated[bool, strawberry.argument(description="只列未读的。")] = False,
        first: Annotated[int | None, strawberry.argument(description=FIRST)] = 20,
        after: Annotated[str | None, strawberry.argument(description=AFTER)] = None,
    ) -> Connection[Notification]:
        page = await message_resolvers.inbox(info.context, unread_only=unread_only, first=first, after=after)
        return Connection.from_page(page, Notification.from_row)

    @strawberry.field(description="未读消息的条数。")
    async def unread_notifications(self, info: Info[Context, None]) -> int:
        return await message_resolvers.unread(info.context)


async def _my_tasks(
    info: Info[Context, None], relation: Mine, first: int | None, after: str | None, given: TaskFilter | None
) -> Connection[Task]:
    page = await task_resolvers.my_tasks(
        info.context, relation, first=first, after=after, narrow=task_filter(given)
    )
    return Connection.from_page(page, Task.from_row)


async def me(ctx: Context) -> Me:
    return Me(person=Person.from_view(await me_resolvers.me(ctx)))


@strawberry.type
class Query:
    @strawberry.field(description="当前登录的人。")
    async def me(self, info: Info[Context, None]) -> Me:
        require_person(info.context.principal)
        return await me(info.context)


# --- the compiled read path (schema.compiler) ------------------------------------------------------


def _me(c: compiler.Compiler, r: compiler.Row, n: list[FieldNode]) -> Any:
    if not isinstance(c.who, PersonPrincipal):
        raise compiler.Fallback("me for a caller who is not a person")
    return sa.func.json_build_object(*_me_fields(c, n), type_=compiler.JSON)


def _me_fields(c: compiler.Compiler, n: list[FieldNode]) -> list[Any]:
    pairs: list[Any] = []
    for key, nodes in c.collect("Me", n).items():
        name = nodes[0].name.value
        if name == "person":
            value = people_sql(c, nodes, ME, nullable=False)
        elif name == "households":
            hm, h = alias(HomeRow), alias(HouseholdRow)
            value = c.many(
                "MyHome",
                hm.join(h, h.c.id == hm.c.household_id),
                compiler.Row(home=hm, t=h),
                nodes,
                [hm.c.person_id == ME, in_force(hm), where(c.who, Resource.HOUSEHOLD, Action.READ, h)],
                [hm.c.created_at, hm.c.id],
            )
        elif name == "roles":
            ra = alias(RoleRow)
            value = c.many(
                "RoleAssignment",
                ra,
                compiler.Row(t=ra),
                nodes,
                [ra.c.person_id == ME, in_force(ra)],
                [ra.c.created_at, ra.c.id],
            )
        elif name == "positions":
            tp = alias(TeamPositionRow)
            value = c.many(
                "MyPosition",
                tp,
                compiler.Row(t=tp),
                nodes,
                [tp.c.person_id == ME, in_force(tp)],
                [tp.c.created_at, tp.c.id],
            )
        elif name in _MINE:
            relation = _MINE[name]
            values = filter_values(c, nodes)
            value = c.connection(
                "Task",
                TaskRow.__table__,
                nodes,
                lambda t, relation=relation, values=values: [
                    mine(c.who, relation, t),
                    where(c.who, Resource.TASK, Action.READ, t),
                    *task_resolvers.narrowed(t, values),
                ],
                task_resolvers.TASKS,
            )
        elif name == "myVotes":
            value = c.connection(
                "Vote",
                VoteRow.__table__,
                nodes,
                lambda t: [
                    where(c.who, Resource.VOTE, Action.CAST, t),
                    t.c.status == VoteStatus.OPEN.value,
                    t.c.closes_at > sa.func.now(),
                ],
                vote_resolvers.CLOSING_SOONEST,
            )
        elif name == "myCalls":
            value = _my_calls(c, nodes)
        elif name == "__typename":
            value = sa.literal("Me")
        else:
            raise compiler.Fallback(f"Me.{name}")
        pairs += [sa.literal(key), value]
    return pairs


_MINE = {"reportedTasks": Mine.REPORTED, "assignedTasks": Mine.ASSIGNED}


def _my_calls(c: compiler.Compiler, nodes: list[FieldNode]) -> Any:
    def signed_up(t: Any) -> list[Any]:
        s = VolunteerSignupRow.__table__.alias()
        mine_ = sa.exists().where(
            s.c.call_id == t.c.id, s.c.person_id == ME, s.c.status != SignupStatus.WITHDRAWN.value
        )
        return [mine_, visible_with_its_task(c, t)]

    return c.connection(
        "VolunteerCall",
        VolunteerCallRow.__table__,
        nodes,
        signed_up,
        volunteer_resolvers.MY_CALLS,
    )


def _place(type_name: str, table: Any, resource: Resource, column: str) -> Any:
    return lambda c, r, n: c.one(
        type_name,
        table,
        n,
        lambda t: t.c.id == r.t.c[column],
        allowed=lambda t: where(c.who, resource, Action.READ, t),
    )


SQL = {
    "MyHome": compiler.TypeSQL(
        {
            "household": lambda c, r, n: c.object("Household", compiler.Row(t=r.t), n),
            "relation": compiler.column(lambda r: r.home.c.relation),
        }
    ),
    "RoleAssignment": compiler.TypeSQL(
        {
            "role": compiler.column(lambda r: r.t.c.role),
            "compound": _place("Compound", CompoundRow.__table__, Resource.COMPOUND, "compound_id"),
            "grid": _place("Grid", GridRow.__table__, Resource.GRID, "grid_id"),
            "community": _place("Community", CommunityRow.__table__, Resource.COMMUNITY, "community_id"),
        }
    ),
    "MyPosition": compiler.TypeSQL(
        {
            "position": compiler.column(lambda r: r.t.c.position),
            "compound": _place("Compound", CompoundRow.__table__, Resource.COMPOUND, "compound_id"),
            "building": _place("Building", BuildingRow.__table__, Resource.BUILDING, "building_id"),
        }
    ),
}
ROOTS = {"me": _me}
