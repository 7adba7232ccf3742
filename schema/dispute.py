"""Disputes (矛盾纠纷): mediators and the outcome of mediation, as GraphQL types and mutations."""

from __future__ import annotations

import datetime
from typing import Annotated, Any

import sqlalchemy as sa
import strawberry
from graphql import FieldNode
from strawberry.types import Info

from auth.bindings import alias
from models.dispute import DisputeOutcome as DisputeOutcomeRow
from models.task import Task as TaskRow
from models.task_rules import MemberRole, TaskKind
from resolvers import dispute as dispute_resolvers
from resolvers import person as person_resolvers
from resolvers.context import Context
from resolvers.ids import decode
from resolvers.meeting import decode_people
from schema import compiler
from schema.person import Person
from schema.task import Task


@strawberry.type(description="矛盾纠纷的调解结果。")
class DisputeOutcome:
    agreed: bool = strawberry.field(description="是否达成调解协议。")
    agreement: str | None = strawberry.field(description="调解协议内容，或未达成一致的说明。")
    recorded_at: datetime.datetime = strawberry.field(description="记录时间。")

    @classmethod
    def from_row(cls, row: DisputeOutcomeRow) -> DisputeOutcome:
        return cls(agreed=row.agreed, agreement=row.agreement, recorded_at=row.recorded_at)


async def task_members(info: Info[Context, None], task: TaskRow, role: MemberRole) -> list[Person] | None:
    """A dispute's parties or mediators, as `Task` shows them."""
    ids = await dispute_resolvers.members(info.context, task, role)
    if ids is None:
        return None
    return [Person.from_view(v) for v in await person_resolvers.people(info.context, ids)]


async def task_dispute_outcome(info: Info[Context, None], task: TaskRow) -> DisputeOutcome | None:
    row = await dispute_resolvers.outcome(info.context, task)
    return DisputeOutcome.from_row(row) if row else None


_TASK_ID = Annotated[strawberry.ID, strawberry.argument(description="矛盾纠纷（事项）的全局编号。")]


@strawberry.type
class Mutation:
    @strawberry.mutation(description="为矛盾纠纷指定调解员（网格员、社区“两委”）；调解员随后可以查看该纠纷。")
    async def add_mediator(
        self,
        info: Info[Context, None],
        task_id: _TASK_ID,
        person_id: Annotated[strawberry.ID, strawberry.argument(description="调解员。")],
    ) -> Task:
        row = await dispute_resolvers.add_mediator(
            info.context,
            task_id=decode(task_id, "Task")[1],
            person_id=decode_people([person_id], field="personId")[0],
        )
        return Task.from_row(row)

    @strawberry.mutation(
        description="记录调解结果（调解员、网格员、社区“两委”），只能记录一次；达成协议时须填写协议内容。"
    )
    async def record_dispute_outcome(
        self,
        info: Info[Context, None],
        task_id: _TASK_ID,
        agreed: Annotated[bool, strawberry.argument(description="是否达成调解协议。")],
        agreement: Annotated[str | None, strawberry.argument(description="调解协议内容或说明。")] = None,
    ) -> Task:
        row = await dispute_resolvers.record_outcome(
            info.context, task_id=decode(task_id, "Task")[1], agreed=agreed, agreement=agreement
        )
        return Task.from_row(row)


# --- the compiled read path (schema.compiler) ------------------------------------------------------


def _outcome(c: compiler.Compiler, r: compiler.Row, n: list[FieldNode]) -> Any:
    o = alias(DisputeOutcomeRow)
    outcome = (
        sa.select(c.object("DisputeOutcome", compiler.Row(t=o), n))
        .where(o.c.task_id == r.t.c.id)
        .scalar_subquery()
    )
    return sa.case((r.t.c.kind == TaskKind.DISPUTE, outcome), else_=sa.null())


SQL = {
    "Task": compiler.TypeSQL({"disputeOutcome": _outcome}),
    "DisputeOutcome": compiler.TypeSQL(
        {
            "agreed": compiler.column(lambda r: r.t.c.agreed),
            "agreement": compiler.column(lambda r: r.t.c.agreement),
            "recordedAt": compiler.column(lambda r: compiler.iso(r.t.c.recorded_at)),
        }
    ),
}
