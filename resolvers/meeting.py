"""Topical meetings (专题会议) about a task: when, on what, who came, what was decided.

The team schedules a meeting with its invitees and later records the decisions and who actually
attended. Attendance of the compound's Party members becomes a participation record (one per
person and meeting, kept in step with the final attendee list however often the minutes are
corrected), which feeds their periodic evaluation. Both steps are events on the task's timeline.

Every write takes the task's row lock first, then the meeting's, so two corrections of the same
minutes are applied one after the other and a failed call writes nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.dataloader import DataLoader

from auth.policy import NOT_VISIBLE, require_person
from models import Meeting, MeetingAttendee, Participation, RoleAssignment, Task
from models.enums import HomeRelation, Role
from models.errors import BadUserInputError, ConflictError, ForbiddenError
from models.task_rules import FINISHED, Actor
from resolvers import person as person_resolvers
from resolvers import task as tasks
from resolvers.context import Context
from resolvers.ids import decode, encode
from resolvers.loaders import grouped
from resolvers.person import PersonView

TOPIC_MAX = 100
LOCATION_MAX = 100
ATTENDEES_MAX = 500
DECISIONS_MAX = 20
DECISION_MAX = 500
#: how far ahead a meeting may be scheduled
SCHEDULE_AHEAD = timedelta(days=366)
#: attending a meeting counts as a participation; meetings record no duration
MEETING_HOURS = Decimal("0")
TEAM_ONLY = "只有小区班子、网格员或社区“两委”可以安排专题会议、记录会议决定。"


# --- IDs ------------------------------------------------------------------------------------------


def global_id(meeting_id: uuid.UUID) -> str:
    return encode("Meeting", meeting_id)


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


def forget(loader: DataLoader[Any, Any], key: Any) -> None:
    """Drop a key from a request's loader cache, whether or not it was loaded."""
    with contextlib.suppress(KeyError):
        loader.clear(key)


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
    """A task's meetings by time; whoever may read the task reads them."""
    await tasks.get(ctx, task_id=task.id)
    return await _meetings_by_task(ctx).load(task.id)


async def attendees(ctx: Context, meeting: Meeting) -> list[PersonView]:
    """Who attended (or was invited, until the minutes are recorded), masked as the policy says."""
    task = await tasks.get(ctx, task_id=meeting.task_id)
    return await view_people(ctx, task, await _attendees_by_meeting(ctx).load(meeting.id))


async def view_people(ctx: Context, task: Task, person_ids: Sequence[uuid.UUID]) -> list[PersonView]:
    """People shown on a task, each masked as the policy says for the task's compound (an owner
    there is shown to the owners' committee as an owner)."""
    place = await tasks.place_of(ctx, task)
    people = [p for p in await ctx.loaders.person.load_many(person_ids) if p is not None]
    homes = await ctx.loaders.homes_of_person.load_many([p.id for p in people])
    return list(
        await asyncio.gather(
            *(
                person_resolvers.view_at(
                    ctx,
                    person,
                    place,
                    is_owner_here=any(
                        h.compound_id == task.compound_id and h.relation == HomeRelation.OWNER for h in held
                    ),
                )
                for person, held in zip(people, homes, strict=True)
            )
        )
    )


async def get(ctx: Context, *, meeting_id: uuid.UUID) -> Meeting:
    async with ctx.sessions() as session:
        row = (await session.execute(sa.select(Meeting).where(Meeting.id == meeting_id))).scalar()
    if row is None:
        raise ForbiddenError(NOT_VISIBLE)
    await tasks.get(ctx, task_id=row.task_id)  # visible with its task, or not at all
    return row


# --- writing --------------------------------------------------------------------------------------


async def _require_team(ctx: Context, task_id: uuid.UUID) -> Task:
    task = await tasks.get(ctx, task_id=task_id)
    if Actor.TEAM not in await tasks.actors(ctx, task):
        raise ForbiddenError(TEAM_ONLY)
    return task


async def _check_people(
    session: AsyncSession, compound_id: uuid.UUID, people: list[uuid.UUID], *, field: str
) -> None:
    if len(people) > ATTENDEES_MAX:
        raise BadUserInputError(f"参会人员最多 {ATTENDEES_MAX} 人。", field=field)
    await tasks.check_people_in_scope(session, compound_id, people, field=field, label="参会人员")


async def schedule(
    ctx: Context,
    *,
    task_id: uuid.UUID,
    topic: str,
    held_at: datetime,
    location: str | None,
    attendee_ids: list[uuid.UUID],
) -> Meeting:
    principal = require_person(ctx.principal)
    await _require_team(ctx, task_id)
    topic_clean = tasks.clean_text(topic, field="topic", label="会议议题", maximum=TOPIC_MAX)
    location_clean = tasks.clean_text(
        location, field="location", label="会议地点", maximum=LOCATION_MAX, required=False
    )
    if held_at.tzinfo is None or held_at.utcoffset() is None:
        raise BadUserInputError("会议时间必须带时区，例如 2026-12-05T19:30:00+08:00。", field="heldAt")
    if held_at > datetime.now(UTC) + SCHEDULE_AHEAD:
        raise BadUserInputError("会议时间不能晚于一年以后。", field="heldAt")
    async with ctx.sessions() as session, session.begin():
        locked = await tasks._locked(session, task_id)
        if locked.status in FINISHED:
            raise ConflictError("事项已结束，不能再安排专题会议。")
        await _check_people(session, locked.compound_id, attendee_ids, field="attendeeIds")
        row = Meeting(
            task_id=locked.id,
            compound_id=locked.compound_id,
            topic=topic_clean or "",
            held_at=held_at,
            location=location_clean,
            created_by=principal.person_id,
        )
        session.add(row)
        await session.flush()
        for person_id in attendee_ids:
            session.add(MeetingAttendee(meeting_id=row.id, person_id=person_id, compound_id=row.compound_id))
        await tasks.add_event(
            session,
            locked,
            "MEETING",
            actor_id=principal.person_id,
            role="TEAM",
            payload={
                "text": f"安排专题会议「{row.topic}」",
                "meeting": str(row.id),
                "held_at": held_at.isoformat(),
                "attendees": len(attendee_ids),
            },
        )
        await session.refresh(row)
    forget(_meetings_by_task(ctx), task_id)
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
    ctx: Context, *, meeting_id: uuid.UUID, decisions: Sequence[str], attendee_ids: list[uuid.UUID] | None
) -> Meeting:
    """Record (or correct) the minutes: the decisions and, if given, who actually attended."""
    principal = require_person(ctx.principal)
    visible = await get(ctx, meeting_id=meeting_id)
    await _require_team(ctx, visible.task_id)
    cleaned = clean_decisions(decisions)
    async with ctx.sessions() as session, session.begin():
        locked = await tasks._locked(session, visible.task_id)
        row = (
            await session.execute(sa.select(Meeting).where(Meeting.id == meeting_id).with_for_update())
        ).scalar_one()
        if row.held_at > datetime.now(UTC):
            raise ConflictError("会议还没有召开，召开后才能记录会议决定。")
        if attendee_ids is not None:
            await _check_people(session, row.compound_id, attendee_ids, field="attendeeIds")
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
        await _sync_participation(session, row, final)
        await tasks.add_event(
            session,
            locked,
            "MEETING_DECISIONS",
            actor_id=principal.person_id,
            role="TEAM",
            payload={
                "text": f"专题会议「{row.topic}」决定："
                + "；".join(f"{i}. {d}" for i, d in enumerate(cleaned, start=1)),
                "meeting": str(row.id),
                "decisions": cleaned,
                "attendees": len(final),
            },
        )
        await session.refresh(row)
    forget(_meetings_by_task(ctx), row.task_id)
    forget(_attendees_by_meeting(ctx), row.id)
    return row


async def _sync_participation(session: AsyncSession, meeting: Meeting, attendee_ids: list[uuid.UUID]) -> None:
    """One MEETING participation per attending Party member of the compound, none for anyone else."""
    party = set(
        (
            await session.execute(
                sa.select(RoleAssignment.person_id).where(
                    RoleAssignment.role == Role.PARTY_MEMBER.value,
                    RoleAssignment.compound_id == meeting.compound_id,
                    RoleAssignment.person_id.in_(attendee_ids),
                )
            )
        ).scalars()
    )
    await session.execute(
        sa.delete(Participation).where(
            Participation.kind == "MEETING",
            Participation.ref_id == meeting.id,
            Participation.person_id.not_in(sorted(party)),
        )
    )
    if party:
        await session.execute(
            insert(Participation)
            .values(
                [
                    {
                        "person_id": person_id,
                        "compound_id": meeting.compound_id,
                        "kind": "MEETING",
                        "ref_id": meeting.id,
                        "hours": MEETING_HOURS,
                        "occurred_at": meeting.held_at,
                    }
                    for person_id in sorted(party)
                ]
            )
            .on_conflict_do_nothing(index_elements=["person_id", "kind", "ref_id"])
        )
