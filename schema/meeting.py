"""Meetings (专题会议) and dispute mediation (调解) as GraphQL types and mutations."""

from __future__ import annotations

import datetime

import strawberry
from strawberry.types import Info

from models import DisputeOutcome as DisputeOutcomeRow
from models import Meeting as MeetingRow
from models import Task as TaskRow
from resolvers import dispute as dispute_resolvers
from resolvers import meeting as meeting_resolvers
from resolvers.context import Context
from resolvers.ids import decode
from schema.person import Person
from schema.relay import Node
from schema.task import Task


@strawberry.type(description="专题会议：时间、议题、地点、参会人员和会议决定。")
class Meeting(Node):
    _row: strawberry.Private[MeetingRow]
    id: strawberry.ID
    topic: str
    held_at: datetime.datetime
    location: str | None
    decisions: list[str] = strawberry.field(description="会议决定；尚未记录时为空列表。")
    created_at: datetime.datetime

    @classmethod
    def from_row(cls, row: MeetingRow) -> Meeting:
        return cls(
            _row=row,
            id=strawberry.ID(meeting_resolvers.global_id(row.id)),
            topic=row.topic,
            held_at=row.held_at,
            location=row.location,
            decisions=list(row.decisions),
            created_at=row.created_at,
        )

    @strawberry.field(
        description="参会人员（按您的权限脱敏）；记录会议决定前为受邀人员，之后为实际参会人员。"
    )
    async def attendees(self, info: Info[Context, None]) -> list[Person]:
        return [Person.from_view(v) for v in await meeting_resolvers.attendees(info.context, self._row)]


@strawberry.type(description="矛盾纠纷的调解结果。")
class DisputeOutcome:
    agreed: bool = strawberry.field(description="是否达成调解协议。")
    agreement: str | None = strawberry.field(description="调解协议内容，或未达成一致的说明。")
    recorded_at: datetime.datetime

    @classmethod
    def from_row(cls, row: DisputeOutcomeRow) -> DisputeOutcome:
        return cls(agreed=row.agreed, agreement=row.agreement, recorded_at=row.recorded_at)


@strawberry.input(description="安排一次专题会议。")
class ScheduleMeetingInput:
    task_id: strawberry.ID
    topic: str
    held_at: datetime.datetime = strawberry.field(description="会议时间，须带时区。")
    location: str | None = None
    attendee_ids: list[strawberry.ID] | None = strawberry.field(default=None, description="受邀参会人员。")


# --- the fields `Task` shows (called from schema.task) ------------------------------------------------


async def task_meetings(info: Info[Context, None], task: TaskRow) -> list[Meeting]:
    return [Meeting.from_row(r) for r in await meeting_resolvers.meetings_of(info.context, task)]


async def task_members(info: Info[Context, None], task: TaskRow, role: str) -> list[Person] | None:
    views = await dispute_resolvers.members(info.context, task, role)
    return None if views is None else [Person.from_view(v) for v in views]


async def task_dispute_outcome(info: Info[Context, None], task: TaskRow) -> DisputeOutcome | None:
    row = await dispute_resolvers.outcome(info.context, task)
    return DisputeOutcome.from_row(row) if row else None


@strawberry.type
class MeetingMutations:
    """Mutations about meetings and dispute outcomes; merged into the root `Mutation`."""

    @strawberry.mutation(description="安排专题会议（小区班子、网格员、社区“两委”）。")
    async def schedule_meeting(self, info: Info[Context, None], input: ScheduleMeetingInput) -> Meeting:
        row = await meeting_resolvers.schedule(
            info.context,
            task_id=decode(input.task_id, "Task")[1],
            topic=input.topic,
            held_at=input.held_at,
            location=input.location,
            attendee_ids=meeting_resolvers.decode_people(input.attendee_ids, field="attendeeIds"),
        )
        return Meeting.from_row(row)

    @strawberry.mutation(
        description="记录会议决定（1–20 条）和实际参会人员；参会的本小区党员记入参与记录。可以更正，以最后一次为准。"
    )
    async def record_meeting_decisions(
        self,
        info: Info[Context, None],
        meeting_id: strawberry.ID,
        decisions: list[str],
        attendee_ids: list[strawberry.ID] | None = None,
    ) -> Meeting:
        row = await meeting_resolvers.record_decisions(
            info.context,
            meeting_id=meeting_resolvers.decode_meeting_id(meeting_id),
            decisions=decisions,
            attendee_ids=None
            if attendee_ids is None
            else meeting_resolvers.decode_people(attendee_ids, field="attendeeIds"),
        )
        return Meeting.from_row(row)

    @strawberry.mutation(description="为矛盾纠纷指定调解员（网格员、社区“两委”）；调解员随后可以查看该纠纷。")
    async def add_mediator(
        self, info: Info[Context, None], task_id: strawberry.ID, person_id: strawberry.ID
    ) -> Task:
        row = await dispute_resolvers.add_mediator(
            info.context,
            task_id=decode(task_id, "Task")[1],
            person_id=meeting_resolvers.decode_people([person_id], field="personId")[0],
        )
        return Task.from_row(row)

    @strawberry.mutation(
        description="记录调解结果（调解员、网格员、社区“两委”），只能记录一次；达成协议时须填写协议内容。"
    )
    async def record_dispute_outcome(
        self, info: Info[Context, None], task_id: strawberry.ID, agreed: bool, agreement: str | None = None
    ) -> Task:
        row = await dispute_resolvers.record_outcome(
            info.context, task_id=decode(task_id, "Task")[1], agreed=agreed, agreement=agreement
        )
        return Task.from_row(row)
