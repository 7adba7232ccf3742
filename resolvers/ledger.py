"""The participation record (参与记录) of Party members: written from what happens, read by the
member and their community committee, corrected only by appending.

Writers call `settle` in the transaction of the change that causes it (minutes recorded, a task
resolved or reopened, a mediation's outcome): for one source (a meeting, a task) and kind it makes
the record's net say exactly who is credited, appending an entry for each person newly credited and
a reversing entry for each no longer credited. Nothing is changed or deleted (the table refuses
it). A volunteer's served shift is written by the check-in itself (`resolvers.volunteer`).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from auth.budget import client_address
from auth.facts import AreaFacts
from auth.policy import Action, Resource, allows, not_visible, params, refusal, require_person, where
from models.enums import Role
from models.errors import BadUserInputError, ConflictError, ForbiddenError
from models.evaluation import PeriodKind
from models.participation_rules import Entry, Summary, points, summarize
from models.party import REASON_MAX, Participation, ParticipationKind
from models.person import Person, RoleAssignment, TeamPosition
from models.place import Community, Compound
from models.schedule_rules import CHINA
from models.terms import in_force, today, today_sql
from resolvers import audit
from resolvers.context import Context
from resolvers.pages import Key, Page, order, read, window
from resolvers.text import clean_text

#: a record, newest first
NEWEST = order(
    Key("occurred_at", datetime, descending=True), Key("created_at", datetime, descending=True), Key("id")
)
#: the days a record may be read between
EARLIEST, LATEST = date(2000, 1, 1), date(2100, 12, 31)
#: the longest period one reading of a record may cover: an evaluation's year, with room
PERIOD_MAX = timedelta(days=400)


async def party_members(
    session: AsyncSession, compound_id: uuid.UUID, person_ids: Iterable[uuid.UUID]
) -> set[uuid.UUID]:
    """Those of `person_ids` who are Party members of the compound today: the record is theirs."""
    ids = sorted(set(person_ids))
    if not ids:
        return set()
    r = RoleAssignment.__table__
    found = await session.execute(
        sa.select(r.c.person_id).where(
            r.c.role == Role.PARTY_MEMBER.value,
            r.c.compound_id == compound_id,
            r.c.person_id.in_(ids),
            in_force(r),
        )
    )
    return set(found.scalars())


async def settle(
    session: AsyncSession,
    *,
    kind: ParticipationKind,
    ref_id: uuid.UUID,
    compound_id: uuid.UUID,
    listed: Iterable[uuid.UUID],
    occurred_at: datetime,
    reason: str,
    hours: Decimal = Decimal(0),
) -> None:
    """Make the record's net for this source follow who is `listed` now (the attendees, those who
    handled the task): credited stay credited while listed; the listed who are Party members of
    the compound today and not yet credited are credited (an entry each); the credited no longer
    listed are reversed (with `reason`, on the day the entry was for). Someone whose entry the
    committee reversed by hand is not credited again from the same source. Run it under the lock
    of the source's row."""
    p = Participation.__table__
    rows = await session.execute(
        sa.select(
            p.c.id, p.c.person_id, p.c.count, p.c.hours, p.c.occurred_at, p.c.reverses_id, p.c.recorded_by
        )
        .where(p.c.kind == kind.value, p.c.ref_id == ref_id)
        .order_by(p.c.created_at, p.c.id)
    )
    entries = rows.all()
    reversed_ = {e.reverses_id for e in entries if e.reverses_id is not None}
    net: dict[uuid.UUID, int] = {}
    standing: dict[uuid.UUID, Any] = {}  # person → their entry not reversed
    by_hand: set[uuid.UUID] = set()  # people whose last reversal was the committee's
    for e in entries:
        net[e.person_id] = net.get(e.person_id, 0) + e.count
        if e.count > 0 and e.id not in reversed_:
            standing[e.person_id] = e
        if e.reverses_id is not None:
            (by_hand.add if e.recorded_by is not None else by_hand.discard)(e.person_id)
    now_listed = set(listed)
    credited = {person for person, n in net.items() if n > 0}
    newcomers = await party_members(session, compound_id, now_listed - credited - by_hand)
    added = [
        {
            "person_id": person,
            "compound_id": compound_id,
            "kind": kind.value,
            "ref_id": ref_id,
            "hours": hours,
            "occurred_at": occurred_at,
        }
        for person in sorted(newcomers)
    ]
    reversals = [
        {
            "person_id": person,
            "compound_id": compound_id,
            "kind": kind.value,
            "ref_id": ref_id,
            "hours": -standing[person].hours,
            "count": -1,
            "occurred_at": standing[person].occurred_at,
            "reverses_id": standing[person].id,
            "reason": reason,
        }
        for person in sorted(credited - now_listed)
        if person in standing
    ]
    if added:
        await session.execute(sa.insert(p), added)
    if reversals:
        # a committee member's reversal of the same entry, committed meanwhile, stands
        await session.execute(
            insert(p).on_conflict_do_nothing(
                index_elements=["reverses_id"], index_where=p.c.reverses_id.is_not(None)
            ),
            reversals,
        )


async def credit_positions(sessions: async_sessionmaker[AsyncSession]) -> int:
    """A periodic job: each team position held today by a Party member of its compound earns one
    entry for the current period of its community (a quarter, or a year), dated the period's first
    day (the term's, if it began later). A term earns nothing in a period that already holds an
    entry of it (whichever kind of period wrote it, reversed by the committee or not), and a unique
    index keeps processes running it at once to one. Today is PostgreSQL's, as the terms' are.
    Returns how many it wrote."""
    t, r, p = TeamPosition.__table__, RoleAssignment.__table__, Participation.__table__
    k, c = Compound.__table__, Community.__table__
    day = today_sql()
    yearly = c.c.evaluation_period == PeriodKind.YEAR.value
    unit = sa.case((yearly, sa.literal("year")), else_=sa.literal("quarter"))
    starts = sa.cast(sa.func.date_trunc(unit, day), sa.Date)
    length = sa.case((yearly, sa.text("interval '1 year'")), else_=sa.text("interval '3 months'"))
    ends = sa.cast(starts + length, sa.Date)
    occurred = sa.func.timezone(CHINA.key, sa.cast(sa.func.greatest(starts, t.c.starts_on), sa.DateTime))
    member = sa.exists().where(
        r.c.person_id == t.c.person_id,
        r.c.compound_id == t.c.compound_id,
        r.c.role == Role.PARTY_MEMBER.value,
        in_force(r),
    )
    credited = sa.exists().where(
        p.c.kind == ParticipationKind.POSITION.value,
        p.c.ref_id == t.c.id,
        p.c.occurred_at >= sa.func.timezone(CHINA.key, sa.cast(starts, sa.DateTime)),
        p.c.occurred_at < sa.func.timezone(CHINA.key, sa.cast(ends, sa.DateTime)),
    )
    held = (
        sa.select(
            sa.func.gen_random_uuid(),  # each row its own (the model's default would be one for all)
            t.c.person_id,
            t.c.compound_id,
            sa.literal(ParticipationKind.POSITION.value),
            t.c.id,
            sa.literal(Decimal(0)),
            occurred,
        )
        .select_from(t.join(k, k.c.id == t.c.compound_id).join(c, c.c.id == k.c.community_id))
        .where(in_force(t), member, ~credited)
    )
    statement = (
        insert(p)
        .from_select(["id", "person_id", "compound_id", "kind", "ref_id", "hours", "occurred_at"], held)
        .on_conflict_do_nothing(
            index_elements=["ref_id", "occurred_at"],
            index_where=sa.and_(p.c.kind == ParticipationKind.POSITION.value, p.c.reverses_id.is_(None)),
        )
    )
    async with sessions() as session, session.begin():
        return (await session.execute(statement)).rowcount or 0


# --- reading -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class EntryView:
    id: uuid.UUID
    kind: ParticipationKind
    ref_id: uuid.UUID
    hours: Decimal
    count: int
    points: Decimal
    occurred_at: datetime
    reverses_id: uuid.UUID | None
    reason: str | None
    created_at: datetime


@dataclass(frozen=True)
class Record:
    person_id: uuid.UUID
    starts_on: date
    ends_on: date
    summary: Summary


def period(starts_on: date | None, ends_on: date | None) -> tuple[date, date]:
    """[starts_on, ends_on) in Beijing days: this year by default."""
    for day, field in ((starts_on, "startsOn"), (ends_on, "endsOn")):
        if day is not None and not EARLIEST <= day <= LATEST:
            raise BadUserInputError("日期不合理，请填写 2000 年至 2100 年之间的日期。", field=field)
    year = (ends_on - timedelta(days=1)).year if ends_on is not None else today().year
    starts = starts_on or date(year, 1, 1)
    ends = ends_on or date(starts.year + 1, 1, 1)
    if ends <= starts:
        raise BadUserInputError("结束日期必须晚于开始日期。", field="endsOn")
    if ends - starts > PERIOD_MAX:
        raise BadUserInputError("一次最多查看一年多一点（400 天）的参与记录。", field="startsOn")
    return starts, ends


def moment(day: date) -> datetime:
    """The first moment of a Beijing day: a period's bounds as `occurred_at` compares them."""
    return datetime.combine(day, time(0), tzinfo=CHINA)


async def _readable(ctx: Context, person_id: uuid.UUID) -> None:
    """The person's record is the caller's to read (the member, their community committee):
    the one not-visible answer for a person the caller may not see at all."""
    p = Person.__table__
    statement = sa.select(
        where(ctx.principal, Resource.PERSON, Action.READ, p).label("sees"),
        where(ctx.principal, Resource.PERSON, Action.READ_PARTY, p).label("reads"),
    ).where(p.c.id == person_id)
    async with ctx.sessions() as session:
        found = (await session.execute(statement, params(ctx.principal))).first()
    if found is None or not found.sees:
        raise not_visible()
    if not found.reads:
        raise refusal(Resource.PERSON, Action.READ_PARTY)


def _in_period(person_id: uuid.UUID, starts: date, ends: date) -> list[sa.ColumnElement[bool]]:
    p = Participation.__table__
    return [p.c.person_id == person_id, p.c.occurred_at >= moment(starts), p.c.occurred_at < moment(ends)]


async def record(
    ctx: Context, *, person_id: uuid.UUID, starts_on: date | None, ends_on: date | None
) -> Record:
    """A member's record over a period, with its totals and points."""
    require_person(ctx.principal)
    starts, ends = period(starts_on, ends_on)
    await _readable(ctx, person_id)
    p = Participation.__table__
    async with ctx.sessions() as session:
        rows = await session.execute(
            sa.select(p.c.kind, p.c.count, p.c.hours).where(*_in_period(person_id, starts, ends))
        )
        entries = [Entry(ParticipationKind(r.kind), r.count, r.hours) for r in rows]
    return Record(person_id, starts, ends, summarize(entries))


async def entries(ctx: Context, found: Record, *, first: int | None, after: str | None) -> Page[EntryView]:
    """The entries of a record already read (and allowed), newest first."""
    p = Participation.__table__
    statement = sa.select(
        p.c.id,
        p.c.kind,
        p.c.ref_id,
        p.c.hours,
        p.c.count,
        p.c.occurred_at,
        p.c.reverses_id,
        p.c.reason,
        p.c.created_at,
    ).where(*_in_period(found.person_id, found.starts_on, found.ends_on))
    page = await read(
        ctx.sessions, statement, p, NEWEST, window(NEWEST, first=first, after=after), scalars=False
    )

    def view(r: sa.Row) -> EntryView:
        kind = ParticipationKind(r.kind)
        return EntryView(**{**r._mapping, "kind": kind}, points=points(Entry(kind, r.count, r.hours)))

    return page.map(view)


async def entry(ctx: Context, entry_id: uuid.UUID) -> EntryView:
    """One entry, for those who may read its member's record; the one not-visible answer otherwise."""
    require_person(ctx.principal)
    p = Participation.__table__
    async with ctx.sessions() as session:
        found = (await session.execute(sa.select(p).where(p.c.id == entry_id))).first()
    if found is None:
        raise not_visible()
    try:
        await _readable(ctx, found.person_id)
    except ForbiddenError:
        raise not_visible() from None
    return _entry_view(found)


# --- correcting -------------------------------------------------------------------------------------


async def reverse(ctx: Context, *, entry_id: uuid.UUID, reason: str) -> EntryView:
    """The community committee reverses an entry that should not stand (credited by mistake): a new
    entry with the negated hours, a count of -1 and the reason. The old one stays."""
    who = require_person(ctx.principal)
    why = clean_text(reason, field="reason", label="更正理由", maximum=REASON_MAX) or ""
    p = Participation.__table__
    async with ctx.sessions() as session, session.begin():
        entry = (await session.execute(sa.select(Participation).where(p.c.id == entry_id))).scalar()
        if entry is None:
            raise not_visible()
        person = Person.__table__
        # the member's row, locked: corrections of one record are made one at a time
        allowed = (
            await session.execute(
                sa.select(
                    where(who, Resource.PERSON, Action.READ_PARTY, person).label("reads"),
                    where(who, Resource.PERSON, Action.CORRECT_PARTY_RECORD, person).label("corrects"),
                )
                .where(person.c.id == entry.person_id)
                .with_for_update(of=person),
                params(who),
            )
        ).first()
        if allowed is None or not allowed.reads:
            raise not_visible()
        if not allowed.corrects:
            raise refusal(Resource.PERSON, Action.CORRECT_PARTY_RECORD)
        community_id = (
            await session.execute(sa.select(Compound.community_id).where(Compound.id == entry.compound_id))
        ).scalar()
        # the committee of the community where it happened: a member who moved away takes their
        # record along, not the right to correct it to their new community
        if not allows(who, Resource.COMMUNITY, Action.EVALUATE, AreaFacts(community_id=community_id)):
            raise refusal(Resource.PERSON, Action.CORRECT_PARTY_RECORD)
        if entry.reverses_id is not None:
            raise ConflictError("这是一条更正记录，不能再更正；如有错误，请补记一条。")
        done = await session.execute(sa.select(p.c.id).where(p.c.reverses_id == entry.id))
        if done.first() is not None:
            raise ConflictError("这条记录已经更正过了。")
        inserted = (
            await session.execute(
                insert(p)
                .values(
                    person_id=entry.person_id,
                    compound_id=entry.compound_id,
                    kind=entry.kind,
                    ref_id=entry.ref_id,
                    hours=-entry.hours,
                    count=-1,
                    occurred_at=entry.occurred_at,
                    reverses_id=entry.id,
                    reason=why,
                    recorded_by=who.person_id,
                )
                .on_conflict_do_nothing(
                    index_elements=["reverses_id"], index_where=p.c.reverses_id.is_not(None)
                )
                .returning(p)
            )
        ).first()
        if inserted is None:  # the system reversed it meanwhile (corrected minutes, a reopened task)
            raise ConflictError("这条记录已经更正过了。")
        made = inserted
        await audit.append(
            session,
            action=Action.CORRECT_PARTY_RECORD.value,
            actor=audit.person(who),
            object_type="PARTICIPATION",
            object_id=entry.id,
            community_id=community_id,
            compound_id=entry.compound_id,
            address=client_address(ctx.request),
            detail={"reason": why},
        )
    return _entry_view(made)


def _entry_view(made: sa.Row) -> EntryView:
    kind = ParticipationKind(made.kind)
    return EntryView(
        id=made.id,
        kind=kind,
        ref_id=made.ref_id,
        hours=made.hours,
        count=made.count,
        points=points(Entry(kind, made.count, made.hours)),
        occurred_at=made.occurred_at,
        reverses_id=made.reverses_id,
        reason=made.reason,
        created_at=made.created_at,
    )


async def summary_of(session: AsyncSession, person_id: uuid.UUID, starts: date, ends: date) -> Summary:
    """A record's totals over [starts, ends), read in the caller's transaction (an evaluation
    drafted from it)."""
    p = Participation.__table__
    rows = await session.execute(
        sa.select(p.c.kind, p.c.count, p.c.hours).where(*_in_period(person_id, starts, ends))
    )
    return summarize(Entry(ParticipationKind(r.kind), r.count, r.hours) for r in rows)
