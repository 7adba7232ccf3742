"""Volunteer calls (接龙) as GraphQL types and mutations."""

from __future__ import annotations

import datetime
from decimal import Decimal
from typing import Annotated, Any

import sqlalchemy as sa
import strawberry
from graphql import FieldNode
from strawberry.types import Info

from auth.bindings import alias
from auth.policy import Action, Resource, where
from auth.rules import ME
from models.person import Person as PersonRow
from models.task import Task as TaskRow
from models.volunteer import SignupStatus
from models.volunteer import VolunteerCall as VolunteerCallRow
from models.volunteer import VolunteerSignup as VolunteerSignupRow
from resolvers import person as person_resolvers
from resolvers import volunteer as volunteer_resolvers
from resolvers.context import Context
from resolvers.ids import decode, encode
from schema import compiler
from schema.person import Person
from schema.relay import Node, Nodes, node
from schema.task import visible_with_its_task


@strawberry.type(description="接龙名单上的一人（组织者可见）。")
class Signup:
    person: Person = strawberry.field(description="报名的人。")
    status: str = strawberry.field(description="SIGNED 已报名；WAITLIST 候补。")
    checked_in: bool = strawberry.field(description="是否已签到。")


@strawberry.type(description="志愿者接龙：需要多少人、何时；报满后进入候补，有人取消时候补依次递补。")
class VolunteerCall(Node):
    _row: strawberry.Private[VolunteerCallRow]
    title: str = strawberry.field(description="标题，例如 周六清理后山枝叶。")
    needed: int = strawberry.field(description="需要的人数。")
    starts_at: datetime.datetime = strawberry.field(description="开始时间。")
    ends_at: datetime.datetime = strawberry.field(description="结束时间。")
    signed_count: int = strawberry.field(description="已报名（不含候补）的人数。")
    cancelled_at: datetime.datetime | None = strawberry.field(
        description="接龙取消的时间；未取消为空。取消后不能再报名、取消报名或签到。"
    )
    cancel_reason: str | None = strawberry.field(description="取消的原因。")
    rescheduled_at: datetime.datetime | None = strawberry.field(
        description="最近一次改期的时间；从未改期为空。报名和候补保留。"
    )
    reschedule_reason: str | None = strawberry.field(description="最近一次改期的原因（可能为空）。")
    previous_starts_at: datetime.datetime | None = strawberry.field(
        description="最近一次改期前的开始时间，便于告知已报名的人改动了什么。"
    )

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
            cancelled_at=row.cancelled_at,
            cancel_reason=row.cancel_reason,
            rescheduled_at=row.rescheduled_at,
            reschedule_reason=row.reschedule_reason,
            previous_starts_at=row.previous_starts_at,
        )

    @strawberry.field(description="候补人数。")
    async def waitlist_count(self, info: Info[Context, None]) -> int:
        return await volunteer_resolvers.waitlist_count(info.context, self._row)

    @strawberry.field(description="我的报名状态：SIGNED、WAITLIST、WITHDRAWN；未报名为空。")
    async def my_status(self, info: Info[Context, None]) -> str | None:
        return await volunteer_resolvers.my_status(info.context, self._row)

    @strawberry.field(description="报名名单（仅组织者）。")
    async def signups(self, info: Info[Context, None]) -> list[Signup]:
        roster = await volunteer_resolvers.signups(info.context, self._row)
        views = await person_resolvers.person_loader(info.context).load_many([s.person_id for s in roster])
        return [
            Signup(
                person=Person.from_view(view),
                status=signup.status,
                checked_in=signup.checked_in_at is not None,
            )
            for signup, view in zip(roster, views, strict=True)
            if view is not None
        ]


@strawberry.input(description="发起志愿者接龙。")
class OpenVolunteerCallInput:
    task_id: strawberry.ID = strawberry.field(description="事项的全局编号。")
    title: str = strawberry.field(description="标题（最多 60 字）。")
    needed: int = strawberry.field(description="需要的人数（1–1000）。")
    starts_at: datetime.datetime = strawberry.field(description="开始时间，须带时区。")
    ends_at: datetime.datetime = strawberry.field(description="结束时间，须带时区。")


async def task_calls(info: Info[Context, None], task: TaskRow) -> list[VolunteerCall]:
    """The calls `Task` shows, newest first."""
    return [VolunteerCall.from_row(r) for r in await volunteer_resolvers.calls_of(info.context, task)]


_CALL_ID = Annotated[strawberry.ID, strawberry.argument(description="接龙的全局编号。")]


@strawberry.type
class Mutation:
    @strawberry.mutation(description="发起志愿者接龙（小区班子、网格员、社区“两委”）。")
    async def open_volunteer_call(
        self,
        info: Info[Context, None],
        input: Annotated[OpenVolunteerCallInput, strawberry.argument(description="接龙。")],
    ) -> VolunteerCall:
        row = await volunteer_resolvers.open_call(
            info.context,
            task_id=decode(input.task_id, "Task")[1],
            title=input.title,
            needed=input.needed,
            starts_at=input.starts_at,
            ends_at=input.ends_at,
        )
        return VolunteerCall.from_row(row)

    @strawberry.mutation(description="报名志愿者接龙；报满后进入候补。")
    async def sign_up(self, info: Info[Context, None], call_id: _CALL_ID) -> VolunteerCall:
        row = await volunteer_resolvers.sign_up(info.context, call_id=decode(call_id, "VolunteerCall")[1])
        return VolunteerCall.from_row(row)

    @strawberry.mutation(description="取消报名；候补的第一位自动递补。")
    async def withdraw(self, info: Info[Context, None], call_id: _CALL_ID) -> VolunteerCall:
        row = await volunteer_resolvers.withdraw(info.context, call_id=decode(call_id, "VolunteerCall")[1])
        return VolunteerCall.from_row(row)

    @strawberry.mutation(description="组织者为志愿者签到；服务时长记入其参与记录。")
    async def check_in(
        self,
        info: Info[Context, None],
        call_id: _CALL_ID,
        person_id: Annotated[strawberry.ID, strawberry.argument(description="签到的志愿者。")],
        hours: Annotated[
            Decimal | None, strawberry.argument(description="服务时长（小时）；不填则按接龙的起止时间计。")
        ] = None,
    ) -> VolunteerCall:
        row = await volunteer_resolvers.check_in(
            info.context,
            call_id=decode(call_id, "VolunteerCall")[1],
            person_id=decode(person_id, "Person")[1],
            hours=hours,
        )
        return VolunteerCall.from_row(row)

    @strawberry.mutation(
        description="取消尚无人签到的志愿者接龙（小区班子、网格员、社区“两委”）；已报名的人在接龙上看到取消及原因。"
    )
    async def cancel_volunteer_call(
        self,
        info: Info[Context, None],
        call_id: _CALL_ID,
        reason: Annotated[str, strawberry.argument(description="取消原因（最多 200 字），已报名的人可见。")],
    ) -> VolunteerCall:
        row = await volunteer_resolvers.cancel_call(
            info.context, call_id=decode(call_id, "VolunteerCall")[1], reason=reason
        )
        return VolunteerCall.from_row(row)

    @strawberry.mutation(
        description="志愿者接龙改期（小区班子、网格员、社区“两委”）：报名和候补保留，原定时间保留在接龙和事项记录中。"
    )
    async def reschedule_volunteer_call(
        self,
        info: Info[Context, None],
        call_id: _CALL_ID,
        starts_at: Annotated[datetime.datetime, strawberry.argument(description="新的开始时间，须带时区。")],
        ends_at: Annotated[datetime.datetime, strawberry.argument(description="新的结束时间，须带时区。")],
        reason: Annotated[
            str | None, strawberry.argument(description="改期原因（可选，最多 200 字）。")
        ] = None,
    ) -> VolunteerCall:
        row = await volunteer_resolvers.reschedule_call(
            info.context,
            call_id=decode(call_id, "VolunteerCall")[1],
            starts_at=starts_at,
            ends_at=ends_at,
            reason=reason,
        )
        return VolunteerCall.from_row(row)


NODES: Nodes = {
    "VolunteerCall": node(VolunteerCall.from_row, lambda ctx, i: volunteer_resolvers.call(ctx, call_id=i))
}


# --- the compiled read path (schema.compiler) ------------------------------------------------------

_V, _S = VolunteerCallRow.__table__, VolunteerSignupRow.__table__


def calls_sql(c: compiler.Compiler, r: compiler.Row, n: list[FieldNode]) -> Any:
    v = _V.alias()
    return c.many(
        "VolunteerCall", v, compiler.Row(t=v), n, [v.c.task_id == r.t.c.id], [v.c.created_at.desc()]
    )


def _waitlist(c: compiler.Compiler, r: compiler.Row, n: list[FieldNode]) -> Any:
    s = _S.alias()
    return (
        sa.select(sa.func.count())
        .where(s.c.call_id == r.t.c.id, s.c.status == SignupStatus.WAITLIST)
        .scalar_subquery()
    )


def _my_status(c: compiler.Compiler, r: compiler.Row, n: list[FieldNode]) -> Any:
    s = _S.alias()
    return (
        sa.select(s.c.status).where(s.c.call_id == r.t.c.id, s.c.person_id == ME).limit(1).scalar_subquery()
    )


def _signups(c: compiler.Compiler, r: compiler.Row, n: list[FieldNode]) -> Any:
    s, p, t = _S.alias(), alias(PersonRow), alias(TaskRow)
    roster = c.many(
        "Signup",
        s.join(p, p.c.id == s.c.person_id),
        compiler.Row(signup=s, person=p),
        n,
        [
            s.c.call_id == r.t.c.id,
            s.c.status != SignupStatus.WITHDRAWN,
        ],
        [s.c.position],
    )
    organiser = sa.exists(
        sa.select(sa.literal(1))
        .select_from(t)
        .where(t.c.id == r.t.c.task_id, where(c.who, Resource.TASK, Action.READ_ROSTER, t))
    )
    return sa.case((organiser, roster), else_=compiler.marker())


SQL = {
    "Task": compiler.TypeSQL({"volunteerCalls": calls_sql}),
    "VolunteerCall": compiler.TypeSQL(
        {
            "id": compiler.column(lambda r: compiler.global_id("VolunteerCall", r.t.c.id)),
            "title": compiler.column(lambda r: r.t.c.title),
            "needed": compiler.column(lambda r: r.t.c.needed),
            "startsAt": compiler.column(lambda r: compiler.iso(r.t.c.starts_at)),
            "endsAt": compiler.column(lambda r: compiler.iso(r.t.c.ends_at)),
            "signedCount": compiler.column(lambda r: r.t.c.signed_count),
            "cancelledAt": compiler.column(lambda r: compiler.iso(r.t.c.cancelled_at)),
            "cancelReason": compiler.column(lambda r: r.t.c.cancel_reason),
            "rescheduledAt": compiler.column(lambda r: compiler.iso(r.t.c.rescheduled_at)),
            "rescheduleReason": compiler.column(lambda r: r.t.c.reschedule_reason),
            "previousStartsAt": compiler.column(lambda r: compiler.iso(r.t.c.previous_starts_at)),
            "waitlistCount": _waitlist,
            "myStatus": _my_status,
            "signups": _signups,
        }
    ),
    "Signup": compiler.TypeSQL(
        {
            "person": lambda c, r, n: c.object("Person", compiler.Row(t=r.person), n),
            "status": compiler.column(lambda r: r.signup.c.status),
            "checkedIn": compiler.column(lambda r: r.signup.c.checked_in_at.is_not(None)),
        }
    ),
}
SQL_NODES = {"VolunteerCall": (_V, visible_with_its_task)}
