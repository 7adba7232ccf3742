"""A Party member's participation record (参与记录) as GraphQL: the entries the system wrote from
what happened, their totals and points over a period, and the committee's corrections."""

from __future__ import annotations

import datetime
import uuid
from decimal import Decimal
from typing import Annotated

import strawberry
from strawberry.types import Info

from models.participation_rules import POINTS
from models.party import ParticipationKind as ParticipationKindEnum
from resolvers import ledger
from resolvers.context import Context
from resolvers.ids import decode, encode
from resolvers.ledger import EntryView, Record
from schema import docs
from schema.person import Person
from schema.place import AFTER, FIRST
from schema.register import seen_person
from schema.relay import Connection, Node, Nodes, node

ParticipationKind = docs.enum(
    ParticipationKindEnum,
    "参与记录的种类。积分规则："
    + "；".join(
        f"{kind.value} 每条 {rule.per_entry} 分" + (f"、每小时 {rule.per_hour} 分" if rule.per_hour else "")
        for kind, rule in POINTS.items()
    )
    + "。",
    {
        "VOLUNTEER": "志愿服务：一次接龙签到，含服务时长。",
        "MEETING": "出席专题会议。",
        "TASK": "承办（或办结）的事项已办结。",
        "DISPUTE": "调解的矛盾纠纷已记录调解结果。",
        "POSITION": "担任小区班子职务：任职期间的每个评价期间（季度或年度）记一次。",
    },
    name="ParticipationKind",
)
#: the node type of what each kind of entry came from
SOURCES = {
    ParticipationKindEnum.VOLUNTEER: "VolunteerCall",
    ParticipationKindEnum.MEETING: "Meeting",
    ParticipationKindEnum.TASK: "Task",
    ParticipationKindEnum.DISPUTE: "Task",
    ParticipationKindEnum.POSITION: "TeamPositionRecord",
}


@strawberry.type(
    description="参与记录中的一条：由系统根据实际发生的事写入，不能修改；更正是追加一条冲销它的记录并说明理由。"
)
class ParticipationEntry(Node):
    kind: ParticipationKind = strawberry.field(description="种类。")
    source_id: strawberry.ID = strawberry.field(
        description="来源（会议、志愿者接龙、事项或任职记录）的全局编号。"
    )
    hours: Decimal = strawberry.field(description="计入的服务时长（小时）；冲销记录为负数。")
    count: int = strawberry.field(description="计入的次数：1，冲销记录为 -1。")
    points: Decimal = strawberry.field(description="按积分规则计得的积分。")
    occurred_at: datetime.datetime = strawberry.field(description="发生时间。")
    reverses_id: strawberry.ID | None = strawberry.field(description="冲销的是哪一条记录。")
    reason: str | None = strawberry.field(description="冲销的理由。")
    recorded_at: datetime.datetime = strawberry.field(description="写入时间。")

    @classmethod
    def from_view(cls, view: EntryView) -> ParticipationEntry:
        return cls(
            id=strawberry.ID(encode("ParticipationEntry", view.id)),
            kind=view.kind,
            source_id=strawberry.ID(encode(SOURCES[view.kind], view.ref_id)),
            hours=view.hours,
            count=view.count,
            points=view.points,
            occurred_at=view.occurred_at,
            reverses_id=None
            if view.reverses_id is None
            else strawberry.ID(encode("ParticipationEntry", view.reverses_id)),
            reason=view.reason,
            recorded_at=view.created_at,
        )


@strawberry.type(
    description="一位党员在一段时间内的参与记录及其合计（敏感信息：本人和所在社区“两委”可见，“两委”的每次查看都记入审计）。"
)
class ParticipationRecord:
    _record: strawberry.Private[Record]
    starts_on: datetime.date = strawberry.field(description="起始日期（含）。")
    ends_on: datetime.date = strawberry.field(description="截止日期（不含）。")
    hours: Decimal = strawberry.field(description="志愿服务时长合计（小时）。")
    meetings: int = strawberry.field(description="出席专题会议次数。")
    shifts: int = strawberry.field(description="志愿服务次数。")
    tasks: int = strawberry.field(description="办结事项数。")
    disputes: int = strawberry.field(description="调解纠纷数。")
    positions: int = strawberry.field(description="担任小区班子职务的期数（每个评价期间计一次）。")
    points: Decimal = strawberry.field(description="积分合计。")

    @classmethod
    def from_record(cls, found: Record) -> ParticipationRecord:
        s = found.summary
        return cls(
            _record=found,
            starts_on=found.starts_on,
            ends_on=found.ends_on,
            hours=s.hours,
            meetings=s.meetings,
            shifts=s.shifts,
            tasks=s.tasks,
            disputes=s.disputes,
            positions=s.positions,
            points=s.points,
        )

    @strawberry.field(description="党员本人。")
    async def person(self, info: Info[Context, None]) -> Person | None:
        return await seen_person(info, self._record.person_id)

    @strawberry.field(description="这段时间的各条记录，最近的在前。")
    async def entries(
        self,
        info: Info[Context, None],
        first: Annotated[int | None, strawberry.argument(description=FIRST)] = 20,
        after: Annotated[str | None, strawberry.argument(description=AFTER)] = None,
    ) -> Connection[ParticipationEntry]:
        page = await ledger.entries(info.context, self._record, first=first, after=after)
        return Connection.from_page(page, ParticipationEntry.from_view)


@strawberry.type
class Query:
    @strawberry.field(description="一位党员的参与记录（默认今年）：党员本人、所在社区“两委”。")
    async def participation_record(
        self,
        info: Info[Context, None],
        person_id: Annotated[strawberry.ID, strawberry.argument(description="党员的全局编号。")],
        starts_on: Annotated[
            datetime.date | None,
            strawberry.argument(
                description="起始日期（含）；不填为截止日期所在年份（截止日期也不填时为今年）的 1 月 1 日。"
            ),
        ] = None,
        ends_on: Annotated[
            datetime.date | None,
            strawberry.argument(description="截止日期（不含）；不填为起始日期所在年份的年底。"),
        ] = None,
    ) -> ParticipationRecord:
        found = await ledger.record(
            info.context,
            person_id=decode(person_id, "Person", field="personId")[1],
            starts_on=starts_on,
            ends_on=ends_on,
        )
        return ParticipationRecord.from_record(found)


@strawberry.type
class Mutation:
    @strawberry.mutation(
        description="冲销参与记录中的一条（误记时）：追加一条冲销记录并说明理由，原记录保留（所在社区“两委”）。"
    )
    async def reverse_participation(
        self,
        info: Info[Context, None],
        id: Annotated[strawberry.ID, strawberry.argument(description="要冲销的记录的全局编号。")],
        reason: Annotated[str, strawberry.argument(description="理由（最多 200 字）。")],
    ) -> ParticipationEntry:
        view = await ledger.reverse(info.context, entry_id=_entry_id(id), reason=reason)
        return ParticipationEntry.from_view(view)


def _entry_id(value: str) -> uuid.UUID:
    return decode(value, "ParticipationEntry")[1]


NODES: Nodes = {"ParticipationEntry": node(ParticipationEntry.from_view, lambda ctx, i: ledger.entry(ctx, i))}
