"""Moderation (内容审核) as GraphQL: the queue of held text, and approving or removing each item."""

from __future__ import annotations

import datetime
from typing import Annotated

import strawberry
from strawberry.types import Info

from auth.policy import require_person
from models.task_rules import Moderation as ModerationEnum
from resolvers import moderation as moderation_resolvers
from resolvers import task as task_resolvers
from resolvers.context import Context
from resolvers.ids import decode
from schema import docs
from schema.place import AFTER, FIRST
from schema.relay import Connection
from schema.task import Task, TaskEvent

Moderation = docs.enum(
    ModerationEnum,
    "审核结果。",
    {
        "APPROVED": "通过：所有能看到这个事项的人都能看到。",
        "REMOVED": "删除：只有作者和小区班子可见，附理由。",
    },
)

_FIRST = Annotated[int | None, strawberry.argument(description=FIRST)]
_AFTER = Annotated[str | None, strawberry.argument(description=AFTER)]
_ID = Annotated[
    strawberry.ID, strawberry.argument(description="待审核的事项或评论（时间线记录）的全局编号。")
]


@strawberry.type(description="一次审核：结果、理由、时间，记入审计记录。")
class ModerationDecision:
    decision: Moderation = strawberry.field(description="审核结果。")
    reason: str | None = strawberry.field(description="删除的理由；通过时为空。")
    decided_at: datetime.datetime = strawberry.field(description="审核时间。")
    _task_id: strawberry.Private[object]

    @strawberry.field(description="所审核内容所在的事项。")
    async def task(self, info: Info[Context, None]) -> Task:
        return Task.from_row(await task_resolvers.get(info.context, task_id=self._task_id))  # type: ignore[arg-type]


@strawberry.type(description="待审核的内容（您能审核的事项）。")
class ModerationQueue:
    _compound_id: strawberry.Private[object]

    @strawberry.field(description="标题或描述等待审核的事项，最新的在前。")
    async def tasks(
        self, info: Info[Context, None], first: _FIRST = 20, after: _AFTER = None
    ) -> Connection[Task]:
        page = await moderation_resolvers.held_tasks(
            info.context,
            self._compound_id,  # type: ignore[arg-type]
            first=first,
            after=after,
        )
        return Connection.from_page(page, Task.from_row)

    @strawberry.field(description="等待审核的评论，最新的在前。")
    async def comments(
        self, info: Info[Context, None], first: _FIRST = 20, after: _AFTER = None
    ) -> Connection[TaskEvent]:
        page = await moderation_resolvers.held_comments(
            info.context,
            self._compound_id,  # type: ignore[arg-type]
            first=first,
            after=after,
        )
        return Connection.from_page(page, TaskEvent.from_row)


@strawberry.type
class Query:
    @strawberry.field(
        description="小区里等待审核的内容（小区班子、网格员、社区“两委”）；其他人看到的是空列表。"
    )
    def moderation_queue(
        self,
        info: Info[Context, None],
        compound_id: Annotated[strawberry.ID, strawberry.argument(description="小区的全局编号。")],
    ) -> ModerationQueue:
        require_person(info.context.principal)
        return ModerationQueue(_compound_id=decode(compound_id, "Compound")[1])


async def _decide(
    info: Info[Context, None],
    id: str,
    decision: ModerationEnum,
    reason: str | None,
    seen: datetime.datetime | None = None,
) -> ModerationDecision:
    type_name, ident = decode(id)
    if moderation_resolvers.target(type_name) == "Task":
        done = await moderation_resolvers.decide_task(
            info.context, task_id=ident, decision=decision, reason=reason, seen=seen
        )
    else:
        done = await moderation_resolvers.decide_comment(
            info.context, event_id=ident, decision=decision, reason=reason
        )
    row = done.decision
    return ModerationDecision(
        decision=ModerationEnum(row.decision),
        reason=row.reason,
        decided_at=row.decided_at,
        _task_id=done.task_id,
    )


@strawberry.type
class Mutation:
    @strawberry.mutation(description="审核通过：所有能看到这个事项的人都能看到这段内容。")
    async def approve_content(
        self,
        info: Info[Context, None],
        id: _ID,
        seen_updated_at: Annotated[
            datetime.datetime | None,
            strawberry.argument(
                description="审核的是事项时：您看到的事项的 updatedAt。此后内容若又被修改，不予通过（CONFLICT），请重新查看后再审核。"
            ),
        ] = None,
    ) -> ModerationDecision:
        return await _decide(info, id, ModerationEnum.APPROVED, None, seen_updated_at)

    @strawberry.mutation(description="审核删除：只有作者和小区班子还能看到，附理由；记录保留。")
    async def remove_content(
        self,
        info: Info[Context, None],
        id: _ID,
        reason: Annotated[str, strawberry.argument(description="删除理由（最多 200 字），作者可见。")],
    ) -> ModerationDecision:
        return await _decide(info, id, ModerationEnum.REMOVED, reason)
