"""The root query."""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from auth.policy import require_authenticated, require_person
from models.errors import BadUserInputError
from resolvers import disclosure as disclosure_resolvers
from resolvers import me as me_resolvers
from resolvers import meeting as meeting_resolvers
from resolvers import person as person_resolvers
from resolvers import place as place_resolvers
from resolvers import task as task_resolvers
from resolvers import volunteer as volunteer_resolvers
from resolvers import vote as vote_resolvers
from resolvers.context import Context
from resolvers.ids import decode, decode_cursor
from schema.disclosure import CostDisclosure
from schema.me import Me
from schema.meeting import Meeting
from schema.person import Person
from schema.place import Building, Community, Compound, Grid, Household
from schema.relay import Connection, Node
from schema.task import Task, TaskEvent
from schema.volunteer import VolunteerCall
from schema.vote import ReceiptVerification, Vote


async def resolve_node(ctx: Context, global_id: str) -> Node:
    require_authenticated(ctx.principal)
    type_name, ident = decode(global_id)
    match type_name:
        case "Compound":
            return Compound.from_row(await place_resolvers.compound(ctx, compound_id=ident))
        case "Building":
            return Building.from_row(await place_resolvers.building(ctx, building_id=ident))
        case "Household":
            return Household.from_row(await place_resolvers.household(ctx, household_id=ident))
        case "Person":
            return Person.from_view(await person_resolvers.person(ctx, person_id=ident))
        case "Task":
            return Task.from_row(await task_resolvers.get(ctx, task_id=ident))
        case "TaskEvent":
            return TaskEvent.from_row(await task_resolvers.event(ctx, event_id=ident))
        case "VolunteerCall":
            return VolunteerCall.from_row(await volunteer_resolvers.call(ctx, call_id=ident))
        case "Meeting":
            return Meeting.from_row(await meeting_resolvers.get(ctx, meeting_id=ident))
        case "CostDisclosure":
            return CostDisclosure.from_row(await disclosure_resolvers.get(ctx, disclosure_id=ident))
        case "Vote":
            return Vote.from_row(await vote_resolvers.vote(ctx, vote_id=ident))
        case "Grid":
            grid = await place_resolvers.grid(ctx, grid_id=ident)
            return Grid.from_row(grid)
        case "Community":
            return Community.from_row(await place_resolvers.community(ctx, community_id=ident))
    raise BadUserInputError("编号格式不正确。", field="id")  # every type in NODE_TYPES is handled above


@strawberry.type
class Query:
    @strawberry.field(description="用全局编号取回任何对象；无权查看与不存在的回答相同。")
    async def node(self, info: Info[Context, None], id: strawberry.ID) -> Node | None:
        return await resolve_node(info.context, id)

    @strawberry.field(description="当前登录的人。")
    async def me(self, info: Info[Context, None]) -> Me:
        principal = require_person(info.context.principal)
        return Me.from_view(await me_resolvers.me(info.context, principal))

    @strawberry.field(description="您有权查看的小区，按名称排序。")
    async def compounds(
        self, info: Info[Context, None], first: int | None = 20, after: str | None = None
    ) -> Connection[Compound]:
        require_authenticated(info.context.principal)
        page = await place_resolvers.compounds(info.context, first=first, offset=decode_cursor(after))
        return Connection.from_page(page, Compound.from_row)

    @strawberry.field
    async def compound(self, info: Info[Context, None], id: strawberry.ID) -> Compound | None:
        require_authenticated(info.context.principal)
        _, ident = decode(id, "Compound")
        return Compound.from_row(await place_resolvers.compound(info.context, compound_id=ident))

    @strawberry.field
    async def vote(self, info: Info[Context, None], id: strawberry.ID) -> Vote | None:
        require_authenticated(info.context.principal)
        _, ident = decode(id, "Vote")
        return Vote.from_row(await vote_resolvers.vote(info.context, vote_id=ident))

    @strawberry.field(description="凭投票回执码核验：这张票是否被计入；表决结束后附默克尔证明。")
    async def verify_receipt(self, info: Info[Context, None], code: str) -> ReceiptVerification:
        return ReceiptVerification.from_check(await vote_resolvers.verify_receipt(info.context, code=code))

    @strawberry.field
    async def task(self, info: Info[Context, None], id: strawberry.ID) -> Task | None:
        require_authenticated(info.context.principal)
        _, ident = decode(id, "Task")
        return Task.from_row(await task_resolvers.get(info.context, task_id=ident))
