"""Volunteer calls (接龙) as GraphQL types."""

from __future__ import annotations

import datetime

import strawberry
from strawberry.types import Info

from models import VolunteerCall as VolunteerCallRow
from resolvers import person as person_resolvers
from resolvers import volunteer as volunteer_resolvers
from resolvers.context import Context
from resolvers.ids import encode
from resolvers.place import compound_place
from schema.person import Person
from schema.relay import Node


@strawberry.type(description="接龙名单上的一人（组织者可见）。")
class Signup:
    person: Person
    status: str = strawberry.field(description="SIGNED 已报名；WAITLIST 候补。")
    checked_in: bool


@strawberry.type(description="志愿者接龙：需要多少人、何时；报满后进入候补，有人取消时候补依次递补。")
class VolunteerCall(Node):
    _row: strawberry.Private[VolunteerCallRow]
    id: strawberry.ID
    title: str
    needed: int
    starts_at: datetime.datetime
    ends_at: datetime.datetime
    signed_count: int

    @classmethod
    def from_row(cls, row: VolunteerCallRow) -> VolunteerCall:
        return cls(
            _row=row,
            id=strawberry.ID(encode("VolunteerCall", row.id)),
            title=row.title,
            needed=row.needed,
            starts_at=row.starts_at,
            ends_at=row.ends_at,
            signed_count=row.signed_count,
        )

    @strawberry.field
    async def waitlist_count(self, info: Info[Context, None]) -> int:
        return await info.context.loaders.waitlist_counts.load(self._row.id)

    @strawberry.field(description="我的报名状态：SIGNED、WAITLIST、WITHDRAWN；未报名为空。")
    async def my_status(self, info: Info[Context, None]) -> str | None:
        mine = await volunteer_resolvers.my_signup(info.context, self._row)
        return mine.status if mine else None

    @strawberry.field(description="报名名单（仅组织者）。")
    async def signups(self, info: Info[Context, None]) -> list[Signup]:
        ctx = info.context
        compound = await ctx.loaders.compound.load(self._row.compound_id)
        assert compound is not None
        place = compound_place(compound)
        roster = await volunteer_resolvers.signups(ctx, self._row)
        views = await person_resolvers.views_at(ctx, [person for _, person in roster], place)
        return [
            Signup(
                person=Person.from_view(view),
                status=signup.status,
                checked_in=signup.checked_in_at is not None,
            )
            for (signup, _), view in zip(roster, views, strict=True)
        ]


@strawberry.input(description="发起志愿者接龙。")
class OpenVolunteerCallInput:
    task_id: strawberry.ID
    title: str
    needed: int
    starts_at: datetime.datetime
    ends_at: datetime.datetime
