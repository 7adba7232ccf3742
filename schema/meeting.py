"""Topical meetings (专题会议) as GraphQL types and mutations."""

from __future__ import annotations

import datetime
from typing import Annotated, Any

import strawberry
from graphql import FieldNode
from strawberry.types import Info

from auth.bindings import alias
from models.meeting import Meeting as MeetingRow
from models.meeting import MeetingAttendee
from models.person import Person as PersonRow
from models.photos import AttachedTo
from models.task import Task as TaskRow
from resolvers import meeting as meeting_resolvers
from resolvers import person as person_resolvers
from resolvers.context import Context
from resolvers.ids import decode, encode
from schema import compiler
from schema.person import Person
from schema.photos import Photo, photos_of
from schema.relay import Node, Nodes, node
from schema.task import visible_with_its_task


@strawberry.type(description="专题会议：时间、议题、地点、参会人员和会议决定。")
class Meeting(Node):
    _row: strawberry.Private[MeetingRow]
    topic: str = strawberry.field(description="议题。")
    held_at: datetime.datetime = strawberry.field(description="会议时间。")
    location: str | None = strawberry.field(description="地点。")
    decisions: list[str] = strawberry.field(description="会议决定；尚未记录时为空列表。")
    created_at: datetime.datetime = strawberry.field(description="安排会议的时间。")
    cancelled_at: datetime.datetime | None = strawberry.field(description="会议取消的时间；未取消为空。")
    cancel_reason: str | None = strawberry.field(description="取消的原因。")
    rescheduled_at: datetime.datetime | None = strawberry.field(
        description="最近一次改期的时间；从未改期为空。"
    )
    reschedule_reason: str | None = strawberry.field(description="最近一次改期的原因（可能为空）。")
    previous_held_at: datetime.datetime | None = strawberry.field(
        description="最近一次改期前的会议时间，便于告知受邀人员改动了什么。"
    )

    @classmethod
    def from_row(cls, row: MeetingRow) -> Meeting:
        return cls(
            _row=row,
            id=strawberry.ID(encode("Meeting", row.id)),
            topic=row.topic,
            held_at=row.held_at,
            location=row.location,
            decisions=list(row.decisions),
            created_at=row.created_at,
            cancelled_at=row.cancelled_at,
            cancel_reason=row.cancel_reason,
            rescheduled_at=row.rescheduled_at,
            reschedule_reason=row.reschedule_reason,
            previous_held_at=row.previous_held_at,
        )

    @strawberry.field(
        description="参会人员（按您的权限脱敏）；记录会议决定前为受邀人员，之后为实际参会人员。"
    )
    async def attendees(self, info: Info[Context, None]) -> list[Person]:
        ids = await meeting_resolvers.attendees(info.context, self._row)
        return [Person.from_view(v) for v in await person_resolvers.people(info.context, ids)]

    @strawberry.field(description="会议记录所附的照片，按上传顺序。")
    async def photos(self, info: Info[Context, None]) -> list[Photo]:
        return await photos_of(info, AttachedTo.MEETING, self._row.id)


@strawberry.input(description="安排一次专题会议。")
class ScheduleMeetingInput:
    task_id: strawberry.ID = strawberry.field(description="事项的全局编号。")
    topic: str = strawberry.field(description="议题（最多 100 字）。")
    held_at: datetime.datetime = strawberry.field(description="会议时间，须带时区。")
    location: str | None = strawberry.field(default=None, description="地点（可选）。")
    attendee_ids: list[strawberry.ID] | None = strawberry.field(default=None, description="受邀参会人员。")


async def task_meetings(info: Info[Context, None], task: TaskRow) -> list[Meeting]:
    """The meetings `Task` shows."""
    return [Meeting.from_row(r) for r in await meeting_resolvers.meetings_of(info.context, task)]


_MEETING_ID = Annotated[strawberry.ID, strawberry.argument(description="会议的全局编号。")]


@strawberry.type
class Mutation:
    @strawberry.mutation(description="安排专题会议（小区班子、网格员、社区“两委”）。")
    async def schedule_meeting(
        self,
        info: Info[Context, None],
        input: Annotated[ScheduleMeetingInput, strawberry.argument(description="会议。")],
    ) -> Meeting:
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
        meeting_id: Annotated[strawberry.ID, strawberry.argument(description="会议的全局编号。")],
        decisions: Annotated[list[str], strawberry.argument(description="会议决定，每条最多 500 字。")],
        attendee_ids: Annotated[
            list[strawberry.ID] | None, strawberry.argument(description="实际参会人员；不填则沿用受邀人员。")
        ] = None,
        photos: Annotated[
            list[str] | None,
            strawberry.argument(
                description="会议照片（最多 9 张）：上传照片（`POST /uploads`）得到的编号，或 `cloud://` 开头的"
                "微信云存储文件 ID；填写时取代之前记录的照片，不填则保留。只能使用自己上传的照片。"
            ),
        ] = None,
    ) -> Meeting:
        row = await meeting_resolvers.record_decisions(
            info.context,
            meeting_id=meeting_resolvers.decode_meeting_id(meeting_id),
            decisions=decisions,
            attendee_ids=None
            if attendee_ids is None
            else meeting_resolvers.decode_people(attendee_ids, field="attendeeIds"),
            photo_refs=photos,
        )
        return Meeting.from_row(row)

    @strawberry.mutation(
        description="取消尚未记录决定的专题会议（安排会议的人员）；会议仍在事项中，标明已取消及原因。"
    )
    async def cancel_meeting(
        self,
        info: Info[Context, None],
        meeting_id: _MEETING_ID,
        reason: Annotated[str, strawberry.argument(description="取消原因（最多 200 字），受邀人员可见。")],
    ) -> Meeting:
        row = await meeting_resolvers.cancel(
            info.context, meeting_id=meeting_resolvers.decode_meeting_id(meeting_id), reason=reason
        )
        return Meeting.from_row(row)

    @strawberry.mutation(
        description="专题会议改期（安排会议的人员）：新的时间须晚于现在；原定时间保留在会议和事项记录中。"
    )
    async def reschedule_meeting(
        self,
        info: Info[Context, None],
        meeting_id: _MEETING_ID,
        held_at: Annotated[datetime.datetime, strawberry.argument(description="新的会议时间，须带时区。")],
        location: Annotated[str | None, strawberry.argument(description="新的地点；不填则不变。")] = None,
        reason: Annotated[
            str | None, strawberry.argument(description="改期原因（可选，最多 200 字）。")
        ] = None,
    ) -> Meeting:
        row = await meeting_resolvers.reschedule(
            info.context,
            meeting_id=meeting_resolvers.decode_meeting_id(meeting_id),
            held_at=held_at,
            location=location,
            reason=reason,
        )
        return Meeting.from_row(row)


NODES: Nodes = {"Meeting": node(Meeting.from_row, lambda ctx, i: meeting_resolvers.get(ctx, meeting_id=i))}


# --- the compiled read path (schema.compiler) ------------------------------------------------------

_MEET, _ATTENDEE = MeetingRow.__table__, MeetingAttendee.__table__


def meetings_sql(c: compiler.Compiler, r: compiler.Row, n: list[FieldNode]) -> Any:
    m = _MEET.alias()
    return c.many(
        "Meeting", m, compiler.Row(t=m), n, [m.c.task_id == r.t.c.id], [m.c.held_at, m.c.created_at, m.c.id]
    )


def _attendees(c: compiler.Compiler, r: compiler.Row, n: list[FieldNode]) -> Any:
    a, p = _ATTENDEE.alias(), alias(PersonRow)
    return c.many(
        "Person",
        a.join(p, p.c.id == a.c.person_id),
        compiler.Row(t=p),
        n,
        [a.c.meeting_id == r.t.c.id],
        [a.c.person_id],
    )


SQL = {
    "Task": compiler.TypeSQL({"meetings": meetings_sql}),
    "Meeting": compiler.TypeSQL(
        {
            "id": compiler.column(lambda r: compiler.global_id("Meeting", r.t.c.id)),
            "topic": compiler.column(lambda r: r.t.c.topic),
            "heldAt": compiler.column(lambda r: compiler.iso(r.t.c.held_at)),
            "location": compiler.column(lambda r: r.t.c.location),
            "decisions": compiler.column(lambda r: compiler.json_array(r.t.c.decisions)),
            "createdAt": compiler.column(lambda r: compiler.iso(r.t.c.created_at)),
            "cancelledAt": compiler.column(lambda r: compiler.iso(r.t.c.cancelled_at)),
            "cancelReason": compiler.column(lambda r: r.t.c.cancel_reason),
            "rescheduledAt": compiler.column(lambda r: compiler.iso(r.t.c.rescheduled_at)),
            "rescheduleReason": compiler.column(lambda r: r.t.c.reschedule_reason),
            "previousHeldAt": compiler.column(lambda r: compiler.iso(r.t.c.previous_held_at)),
            "attendees": _attendees,
        }
    ),
}
SQL_NODES = {"Meeting": (_MEET, visible_with_its_task)}
