"""Topical meetings (专题会议) about a task: when, on what, who came, what was decided.

The team schedules a meeting with its invitees and later records the decisions and who actually
attended. Attendance of the compound's Party members becomes a participation record (one per
person and meeting, kept in step with the final attendee list however often the minutes are
corrected), which feeds their periodic evaluation. Both steps are events on the task's timeline.

Scheduling locks the task; recording the minutes locks the meeting, so two corrections of the
same minutes are applied one after the other and a failed call writes nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.dataloader import DataLoader

from auth.policy import Action, Resource, not_visible, params
from models.errors import BadUserInputError, ConflictError
from models.meeting import Meeting, MeetingAttendee
from models.party import ParticipationKind
from models.photos import AttachedTo
from models.schedule_rules import SCHEDULE_AHEAD, meeting_change_problem, meeting_time_problem, shown
from models.task import Task
from models.task_rules import EventKind
from resolvers import ledger, photos
from resolvers import task as tasks
from resolvers.context import Context
from resolvers.ids import decode
from resolvers.loaders import grouped
from resolvers.pipeline import Event, Outcome, Target, Work, run
from resolvers.text import clean_text

TOPIC_MAX = 100
LOCATION_MAX = 100
ATTENDEES_MAX = 500
DECISIONS_MAX = 20
DECISION_MAX = 500
REASON_MAX = 200
#: attending a meeting counts as a participation; meetings record no duration
MEETING_HOURS = Decimal("0")

MEETING = Target(Resource.TASK, Meeting, task_of="task_id")


# --- IDs ------------------------------------------------------------------------------------------


def decode_meeting_id(value: str, *, field: str = "meetingId") -> uuid.UUID:
    """The UUID of a meeting's global ID; a malformed one is an error on `field`."""
    try:
        return decode(value, "Meeting")[1]
    except BadUserInputError:
        raise BadUserInputError("会议编号格式不正确。", field=field) from None


def decode_people(values: Sequence[str] | None, *, field: str) -> list[uuid.UUID]:
    """Person global IDs, deduplicated in their order; a malformed one is an error on `field`."""
    out: list[uuid.UUID] = []
    for value in values or []:
        try:
            ident = decode(value, "Person")[1]
        except BadUserInputError:
            raise BadUserInputError("人员编号格式不正确。", field=field) from None
        if ident not in out:
            out.append(ident)
    return out


# --- reading --------------------------------------------------------------------------------------


def _meetings_by_task(ctx: Context) -> DataLoader[uuid.UUID, list[Meeting]]:
    return ctx.loaders.cached(
        "meetings_by_task",
        lambda: grouped(
            ctx.sessions,
            lambda ids: (
                sa.select(Meeting)
                .where(Meeting.task_id.in_(ids))
                .order_by(Meeting.held_at, Meeting.created_at, Meeting.id)
            ),
            key=lambda row: row.Meeting.task_id,
            value=lambda row: row.Meeting,
        ),
    )


def _attendees_by_meeting(ctx: Context) -> DataLoader[uuid.UUID, list[uuid.UUID]]:
    return ctx.loaders.cached(
        "attendees_by_meeting",
        lambda: grouped(
            ctx.sessions,
            lambda ids: (
                sa.select(MeetingAttendee.meeting_id, MeetingAttendee.person_id)
                .where(MeetingAttendee.meeting_id.in_(ids))
                .order_by(MeetingAttendee.meeting_id, MeetingAttendee.person_id)
            ),
            key=lambda row: row.meeting_id,
            value=lambda row: row.person_id,
        ),
    )


async def meetings_of(ctx: Context, task: Task) -> list[Meeting]:
    """A (visible) task's meetings by time."""
    return await _meetings_by_task(ctx).load(task.id)


async def attendees(ctx: Context, meeting: Meeting) -> list[uuid.UUID]:
    """Who attended (or was invited, until the minutes are recorded)."""
    return await _attendees_by_meeting(ctx).load(meeting.id)


async def get(ctx: Context, *, meeting_id: uuid.UUID) -> Meeting:
    """A meeting: visible with its task, or not at all."""
    statement = sa.select(Meeting).where(
        Meeting.id == meeting_id, Meeting.task_id.in_(tasks.visible_tasks(ctx))
    )
    async with ctx.sessions() as session:
        row = (await session.execute(statement, params(ctx.principal))).scalar()
    if row is None:
        raise not_visible()
    return row


# --- writing --------------------------------------------------------------------------------------


async def _check_people(
    session: AsyncSession, work: Work[Any], people: list[uuid.UUID], *, field: str
) -> None:
    if len(people) > ATTENDEES_MAX:
        raise BadUserInputError(f"参会人员最多 {ATTENDEES_MAX} 人。", field=field)
    await tasks.check_attachable(session, work.facts, people, field=field, label="参会人员")


async def schedule(
    ctx: Context,
    *,
    task_id: uuid.UUID,
    topic: str,
    held_at: datetime,
    location: str | None,
    attendee_ids: list[uuid.UUID],
) -> Meeting:
    topic_clean = clean_text(topic, field="topic", label="会议议题", maximum=TOPIC_MAX) or ""
    location_clean = clean_text(
        location, field="location", label="会议地点", maximum=LOCATION_MAX, required=False
    )
    if held_at.tzinfo is None or held_at.utcoffset() is None:
        raise BadUserInputError("会议时间必须带时区，例如 2026-12-05T19:30:00+08:00。", field="heldAt")
    if held_at > datetime.now(UTC) + SCHEDULE_AHEAD:
        raise BadUserInputError("会议时间不能晚于一年以后。", field="heldAt")

    async def apply(work: Work[Task]) -> Outcome[Meeting]:
        session = work.session
        await _check_people(session, work, attendee_ids, field="attendeeIds")
        row = Meeting(
            task_id=work.row.id,
            compound_id=work.row.compound_id,
            topic=topic_clean,
            held_at=held_at,
            location=location_clean,
            created_by=work.who.person_id,
        )
        session.add(row)
        await session.flush()
        for person_id in attendee_ids:
            session.add(MeetingAttendee(meeting_id=row.id, person_id=person_id, compound_id=row.compound_id))
        await session.flush()
        await session.refresh(row)
        payload = {
            "text": f"安排专题会议「{row.topic}」",
            "meeting": str(row.id),
            "held_at": held_at.isoformat(),
            "attendees": len(attendee_ids),
        }
        return Outcome(row, Event(EventKind.MEETING, payload))

    row = await run(ctx, tasks.TASK, task_id, Action.SCHEDULE_MEETING, apply, open_task="再安排专题会议")
    ctx.loaders.forget("meetings_by_task", task_id)
    return row


def clean_decisions(decisions: Sequence[str]) -> list[str]:
    cleaned = [d.strip() for d in decisions]
    if not 1 <= len(cleaned) <= DECISIONS_MAX:
        raise BadUserInputError(f"会议决定应为 1 到 {DECISIONS_MAX} 条。", field="decisions")
    for number, text in enumerate(cleaned, start=1):
        if not text:
            raise BadUserInputError(f"第 {number} 条会议决定是空的。", field="decisions")
        if len(text) > DECISION_MAX:
            raise BadUserInputError(
                f"第 {number} 条会议决定不能超过 {DECISION_MAX} 个字。", field="decisions"
            )
    return cleaned


async def record_decisions(
    ctx: Context,
    *,
    meeting_id: uuid.UUID,
    decisions: Sequence[str],
    attendee_ids: list[uuid.UUID] | None,
    photo_refs: Sequence[str] | None = None,
) -> Meeting:
    """Record (or correct) the minutes: the decisions and, if given, who actually attended and the
    photos of the meeting (which replace the ones recorded before)."""
    cleaned = clean_decisions(decisions)
    attached = None if photo_refs is None else photos.parse_refs(photo_refs)

    async def apply(work: Work[Meeting]) -> Outcome[Meeting]:
        row, session = work.row, work.session
        if row.cancelled_at is not None:
            raise ConflictError("这次会议已经取消，不能记录会议决定。")
        if row.held_at > datetime.now(UTC):
            raise ConflictError("会议还没有召开，召开后才能记录会议决定。")
        if attendee_ids is not None:
            await _check_people(session, work, attendee_ids, field="attendeeIds")
            await session.execute(sa.delete(MeetingAttendee).where(MeetingAttendee.meeting_id == row.id))
            for person_id in attendee_ids:
                session.add(
                    MeetingAttendee(meeting_id=row.id, person_id=person_id, compound_id=row.compound_id)
                )
            await session.flush()
            final = attendee_ids
        else:
            final = list(
                (
                    await session.execute(
                        sa.select(MeetingAttendee.person_id).where(MeetingAttendee.meeting_id == row.id)
                    )
                ).scalars()
            )
        row.decisions = cleaned
        if attached is not None:
            await photos.attach(session, work.who, AttachedTo.MEETING, row.id, attached, replace=True)
        await _sync_participation(session, row, final)
        await session.flush()
        await session.refresh(row)
        payload = {
            "text": f"专题会议「{row.topic}」决定："
            + "；".join(f"{i}. {d}" for i, d in enumerate(cleaned, start=1)),
            "meeting": str(row.id),
            "decisions": cleaned,
            "attendees": len(final),
        }
        return Outcome(row, Event(EventKind.MEETING_DECISIONS, payload))

    row = await run(ctx, MEETING, meeting_id, Action.RECORD_DECISIONS, apply)
    ctx.loaders.forget("meetings_by_task", row.task_id)
    ctx.loaders.forget("attendees_by_meeting", row.id)
    photos.forget(ctx, AttachedTo.MEETING, row.id)
    return row


async def cancel(ctx: Context, *, meeting_id: uuid.UUID, reason: str) -> Meeting:
    """Call a meeting off before it is held; it stays on the task, marked cancelled with the reason.
    Locks the meeting, so a cancellation racing the minutes lands before them or not at all."""
    reason_clean = clean_text(reason, field="reason", label="取消原因", maximum=REASON_MAX) or ""

    async def apply(work: Work[Meeting]) -> Outcome[Meeting]:
        row = work.row
        problem = meeting_change_problem(
            cancelled=row.cancelled_at is not None, minutes_recorded=bool(row.decisions), change="取消"
        )
        if problem is not None:
            raise ConflictError(problem)
        row.cancelled_at = datetime.now(UTC)
        row.cancelled_by = work.who.person_id
        row.cancel_reason = reason_clean
        await work.session.flush()
        payload = {"text": f"取消专题会议「{row.topic}」：{reason_clean}", "meeting": str(row.id)}
        return Outcome(row, Event(EventKind.MEETING_CANCELLED, payload))

    row = await run(ctx, MEETING, meeting_id, Action.SCHEDULE_MEETING, apply)
    ctx.loaders.forget("meetings_by_task", row.task_id)
    return row


async def reschedule(
    ctx: Context, *, meeting_id: uuid.UUID, held_at: datetime, location: str | None, reason: str | None
) -> Meeting:
    """Move a meeting to a new time (and, if given, place); the time it replaced is kept on it and
    on the timeline, so the invitees see what changed."""
    location_clean = clean_text(
        location, field="location", label="会议地点", maximum=LOCATION_MAX, required=False
    )
    reason_clean = clean_text(reason, field="reason", label="改期原因", maximum=REASON_MAX, required=False)

    async def apply(work: Work[Meeting]) -> Outcome[Meeting]:
        row = work.row
        problem = meeting_change_problem(
            cancelled=row.cancelled_at is not None, minutes_recorded=bool(row.decisions), change="改期"
        )
        if problem is not None:
            raise ConflictError(problem)
        moved = meeting_time_problem(row.held_at, held_at, datetime.now(UTC))
        if moved is not None:
            raise BadUserInputError(moved, field="heldAt")
        previous = row.held_at
        row.previous_held_at, row.held_at = previous, held_at
        row.rescheduled_at = datetime.now(UTC)
        row.reschedule_reason = reason_clean
        if location_clean is not None:
            row.location = location_clean
        await work.session.flush()
        text = f"专题会议「{row.topic}」改期：由 {shown(previous)} 改为 {shown(held_at)}"
        payload = {
            "text": text + (f"（{reason_clean}）" if reason_clean else ""),
            "meeting": str(row.id),
            "previous_held_at": previous.isoformat(),
            "held_at": held_at.isoformat(),
        }
        return Outcome(row, Event(EventKind.MEETING_RESCHEDULED, payload))

    row = await run(ctx, MEETING, meeting_id, Action.SCHEDULE_MEETING, apply, open_task="再调整会议时间")
    ctx.loaders.forget("meetings_by_task", row.task_id)
    return row


async def _sync_participation(session: AsyncSession, meeting: Meeting, attendee_ids: list[uuid.UUID]) -> None:
    """The attending Party members of the compound are credited with the meeting, and nobody else:
    corrected minutes append reversing entries for those no longer listed."""
    await ledger.settle(
        session,
        kind=ParticipationKind.MEETING,
        ref_id=meeting.id,
        compound_id=meeting.compound_id,
        listed=attendee_ids,
        occurred_at=meeting.held_at,
        reason="会议出席名单更正：未出席",
        hours=MEETING_HOURS,
    )
