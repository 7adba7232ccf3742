"""Reminders (提醒), a periodic job: a vote closing within a day, tomorrow's meeting or volunteer
shift, a task past its community's service deadline, the last week of an evaluation period.

Each reminder is written once per person and key (`models.reminder_rules`), whatever restarts or
concurrent processes do: a round holds a transaction-level advisory lock (another process's round
skips, it has nothing to add), reads only the people not yet told of that key, and the unique index
on (person, key) is the safety net: a duplicate rolls the whole round back, the consents it took
included, and the next round writes what is still due. The conditions below are the rules of
`models.reminder_rules`, in SQL.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from models.evaluation import PeriodKind
from models.meeting import Meeting, MeetingAttendee
from models.message import MessageKind, Notification, Template
from models.party import PartyRegistration, RegistrationStatus
from models.place import Community, Compound
from models.reminder_rules import (
    STAMP_SQL,
    VOTE_CLOSING_WITHIN,
    china_today,
    evaluation_closing,
    evaluation_key,
    tomorrow,
)
from models.schedule_rules import CHINA, shown, shown_span
from models.task import Task, TaskMember
from models.task_rules import WORKING_ROLES, TaskStatus
from models.volunteer import SignupStatus, VolunteerCall, VolunteerSignup
from models.vote import Vote, VoteElector, VoteOwner
from models.vote_rules import VoteStatus
from resolvers.messages import Said, tell

#: the advisory lock one round of reminders holds (any fixed key no other lock uses)
REMIND_LOCK = 0x51_4C4A_524D
#: the most people one kind of reminder reaches in a round; the rest are reached in the next
BATCH = 2_000

Templates = Mapping[MessageKind, Template]


async def remind(
    sessions: async_sessionmaker[AsyncSession], templates: Templates, *, now: datetime | None = None
) -> int:
    """One round: every reminder due at `now` (the database's clock by default) that its person
    has not had. Returns how many messages it wrote (0 when another process is writing them)."""
    async with sessions() as session, session.begin():
        locked = await session.execute(sa.select(sa.func.pg_try_advisory_xact_lock(REMIND_LOCK)))
        if not locked.scalar_one():
            return 0
        if now is None:
            now = (await session.execute(sa.select(sa.func.now()))).scalar_one()
        told = 0
        for kind in (votes_closing, meetings_tomorrow, shifts_tomorrow, tasks_overdue, evaluations_closing):
            told += await kind(session, templates, now)
        return told


def _key(prefix: str, ident: Any, at: Any | None = None) -> Any:
    """A key in SQL, as `models.reminder_rules` writes it."""
    parts = [sa.literal(f"{prefix}:"), sa.cast(ident, sa.Text)]
    if at is not None:
        parts += [sa.literal(":"), sa.func.to_char(sa.func.timezone("UTC", at), STAMP_SQL)]
    return sa.func.concat(*parts)


def _untold(person: Any, key: Any) -> Any:
    n = Notification.__table__
    return ~sa.exists().where(n.c.person_id == person, n.c.once_key == key)


async def _tell(
    session: AsyncSession,
    templates: Templates,
    kind: MessageKind,
    ref_type: str,
    rows: Sequence[Any],
    say: Callable[[Any], tuple[str, str, dict[str, str]]],
) -> int:
    """Write the messages of `rows` (each a person, the thing reminded of as `ref`, its `key`),
    one `tell` per thing; `say` gives a row's title, body and template values."""
    by_ref: dict[uuid.UUID, list[Said]] = {}
    for r in rows:
        title, body, values = say(r)
        by_ref.setdefault(r.ref, []).append(Said(r.person_id, title, body, values, once_key=r.key))
    for ref, said in by_ref.items():
        await tell(session, templates, kind=kind, ref_type=ref_type, ref_id=ref, said=said)
    return len(rows)


async def votes_closing(session: AsyncSession, templates: Templates, now: datetime) -> int:
    """`vote_closing_due`: owners of households that have not voted, in an open vote's last day."""
    v, e, o, k = Vote.__table__, VoteElector.__table__, VoteOwner.__table__, Compound.__table__
    key = _key(MessageKind.VOTE_CLOSING.value, v.c.id, v.c.closes_at)
    rows = (
        await session.execute(
            sa.select(
                o.c.person_id, v.c.id.label("ref"), key.label("key"), v.c.title, v.c.closes_at, k.c.name
            )
            .distinct()
            .select_from(
                v.join(e, e.c.vote_id == v.c.id)
                .join(o, sa.and_(o.c.vote_id == e.c.vote_id, o.c.household_id == e.c.household_id))
                .join(k, k.c.id == v.c.compound_id)
            )
            .where(
                v.c.status == VoteStatus.OPEN.value,
                v.c.closes_at > now,
                v.c.closes_at <= now + VOTE_CLOSING_WITHIN,
                v.c.closes_at - v.c.created_at > VOTE_CLOSING_WITHIN,
                e.c.choice.is_(None),
                _untold(o.c.person_id, key),
            )
            .limit(BATCH)
        )
    ).all()

    def say(r: Any) -> tuple[str, str, dict[str, str]]:
        at = shown(r.closes_at)
        body = f"{r.name}的业主表决“{r.title}”将于 {at} 截止，您家还没有投票，请及时投票。"
        return "表决即将截止", body, {"title": r.title, "place": r.name, "at": at, "note": "您家尚未投票"}

    return await _tell(session, templates, MessageKind.VOTE_CLOSING, "Vote", rows, say)


async def meetings_tomorrow(session: AsyncSession, templates: Templates, now: datetime) -> int:
    """`day_before_due`: the people on a meeting that is not called off, the evening before."""
    span = tomorrow(now)
    if span is None:
        return 0
    m, a, k = Meeting.__table__, MeetingAttendee.__table__, Compound.__table__
    key = _key(MessageKind.MEETING_TOMORROW.value, m.c.id, m.c.held_at)
    rows = (
        await session.execute(
            sa.select(
                a.c.person_id,
                m.c.id.label("ref"),
                key.label("key"),
                m.c.topic,
                m.c.held_at,
                m.c.location,
                k.c.name,
            )
            .select_from(m.join(a, a.c.meeting_id == m.c.id).join(k, k.c.id == m.c.compound_id))
            .where(
                m.c.cancelled_at.is_(None),
                m.c.held_at >= span[0],
                m.c.held_at < span[1],
                _untold(a.c.person_id, key),
            )
            .limit(BATCH)
        )
    ).all()

    def say(r: Any) -> tuple[str, str, dict[str, str]]:
        where = r.location or r.name
        clock = f"{r.held_at.astimezone(CHINA):%H:%M}"
        body = f"{r.name}的专题会议“{r.topic}”定于明天 {clock} 召开，地点：{where}。请准时参加。"
        values = {"title": r.topic, "place": where, "at": shown(r.held_at), "note": "明天召开，请准时参加"}
        return "明天有专题会议", body, values

    return await _tell(session, templates, MessageKind.MEETING_TOMORROW, "Meeting", rows, say)


async def shifts_tomorrow(session: AsyncSession, templates: Templates, now: datetime) -> int:
    """`day_before_due`: the volunteers signed up (not waitlisted) for a shift not called off."""
    span = tomorrow(now)
    if span is None:
        return 0
    c, s, k = VolunteerCall.__table__, VolunteerSignup.__table__, Compound.__table__
    key = _key(MessageKind.SHIFT_TOMORROW.value, c.c.id, c.c.starts_at)
    rows = (
        await session.execute(
            sa.select(
                s.c.person_id,
                c.c.id.label("ref"),
                key.label("key"),
                c.c.title,
                c.c.starts_at,
                c.c.ends_at,
                k.c.name,
            )
            .select_from(c.join(s, s.c.call_id == c.c.id).join(k, k.c.id == c.c.compound_id))
            .where(
                c.c.cancelled_at.is_(None),
                c.c.starts_at >= span[0],
                c.c.starts_at < span[1],
                s.c.status == SignupStatus.SIGNED.value,
                _untold(s.c.person_id, key),
            )
            .limit(BATCH)
        )
    ).all()

    def say(r: Any) -> tuple[str, str, dict[str, str]]:
        span_ = shown_span(r.starts_at, r.ends_at)
        body = f"您报名的志愿服务“{r.title}”（{r.name}）明天开始：{span_}。请准时到场，谢谢您！"
        values = {"title": r.title, "place": r.name, "at": shown(r.starts_at), "note": "明天开始，请准时到场"}
        return "明天有志愿服务", body, values

    return await _tell(session, templates, MessageKind.SHIFT_TOMORROW, "VolunteerCall", rows, say)


async def tasks_overdue(session: AsyncSession, templates: Templates, now: datetime) -> int:
    """`task_overdue`: the people working a task accepted or in progress past its community's
    service deadline, once per task."""
    t, m, k, c = Task.__table__, TaskMember.__table__, Compound.__table__, Community.__table__
    due = t.c.created_at + sa.func.make_interval(0, 0, 0, c.c.service_days)
    key = _key(MessageKind.TASK_OVERDUE.value, t.c.id)
    rows = (
        await session.execute(
            sa.select(
                m.c.person_id,
                t.c.id.label("ref"),
                key.label("key"),
                t.c.title,
                due.label("due"),
                c.c.service_days,
                k.c.name,
            )
            .distinct()
            .select_from(
                t.join(m, m.c.task_id == t.c.id)
                .join(k, k.c.id == t.c.compound_id)
                .join(c, c.c.id == k.c.community_id)
            )
            .where(
                t.c.status.in_([TaskStatus.ACCEPTED.value, TaskStatus.IN_PROGRESS.value]),
                m.c.role.in_(sorted(WORKING_ROLES)),
                due <= now,
                _untold(m.c.person_id, key),
            )
            .limit(BATCH)
        )
    ).all()

    def say(r: Any) -> tuple[str, str, dict[str, str]]:
        at = shown(r.due)
        body = (
            f"{r.name}的事项“{r.title}”已超过社区规定的 {r.service_days} 天办理时限（{at} 到期），"
            "请尽快办理并在小程序中更新进展。"
        )
        values = {"title": r.title, "place": r.name, "at": at, "note": f"已超过{r.service_days}天办理时限"}
        return "事项已超过办理时限", body, values

    return await _tell(session, templates, MessageKind.TASK_OVERDUE, "Task", rows, say)


async def evaluations_closing(session: AsyncSession, templates: Templates, now: datetime) -> int:
    """`evaluation_closing`: the Party members registered in a community, in the last week of its
    evaluation period, once per person and period."""
    today = china_today(now)
    told = 0
    for kind in PeriodKind:
        closing = evaluation_closing(today, kind)
        if closing is not None:
            told += await _evaluation_closing(session, templates, kind, *closing)
    return told


async def _evaluation_closing(
    session: AsyncSession, templates: Templates, kind: PeriodKind, period: str, last_day: date
) -> int:
    r, k, c = PartyRegistration.__table__, Compound.__table__, Community.__table__
    key = evaluation_key(period)
    rows = (
        await session.execute(
            sa.select(r.c.person_id, c.c.id.label("ref"), sa.literal(key).label("key"), c.c.name)
            .select_from(r.join(k, k.c.id == r.c.compound_id).join(c, c.c.id == k.c.community_id))
            .where(
                r.c.status == RegistrationStatus.APPROVED.value,
                c.c.evaluation_period == kind.value,
                _untold(r.c.person_id, sa.literal(key)),
            )
            .limit(BATCH)
        )
    ).all()
    ends = f"{last_day:%Y-%m-%d}"

    def say(row: Any) -> tuple[str, str, dict[str, str]]:
        body = (
            f"{row.name}{period} 期间的党员评价将于 {ends} 截止。"
            "请在小程序中核对您本期的参与记录，有遗漏请及时联系社区。"
        )
        values = {"title": f"{period} 党员评价", "place": row.name, "at": ends, "note": "请核对本期参与记录"}
        return "本期党员评价即将截止", body, values

    return await _tell(session, templates, MessageKind.EVALUATION_CLOSING, "Community", rows, say)
