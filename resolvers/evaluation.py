"""Evaluations of Party members (评价鉴定): drafted by the compound's chief convener (or the community
committee) from the member's participation record, confirmed by the community committee, never
changed once confirmed (a correction is a new version that supersedes it when confirmed).

A member is evaluated where they were registered during the period: the latest of their
registrations whose days meet the period's (a member who moved in the middle of a quarter is
evaluated by the community they moved to). The period is the community's kind (quarter or year).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from auth.policy import Action, Resource, not_visible, params, refusal, require_person, where
from models.errors import BadUserInputError, ConflictError, ForbiddenError
from models.evaluation import (
    COMMENT_MAX,
    EvaluationStatus,
    Grade,
    PartyEvaluation,
    PeriodKind,
    draft_problem,
    period_days,
)
from models.party import PartyRegistration, RegistrationStatus
from models.place import Community, Compound
from resolvers import ledger, place
from resolvers.context import Context
from resolvers.loaders import visible_row
from resolvers.pages import Key, Page, order, read, window
from resolvers.pipeline import Outcome, Target, Work, run
from resolvers.text import clean_text

EVALUATION = Target(Resource.PARTY_EVALUATION, PartyEvaluation)
COMPOUND = Target(Resource.COMPOUND, Compound)
COMMUNITY = Target(Resource.COMMUNITY, Community)
LIST = order(Key("created_at", datetime), Key("id"))
MINE = order(Key("created_at", datetime, descending=True), Key("id"))


@dataclass(frozen=True)
class EvaluationView:
    id: uuid.UUID
    person_id: uuid.UUID
    compound_id: uuid.UUID
    compound_name: str
    period: str
    starts_on: date
    ends_on: date
    version: int
    grade: Grade
    comment: str
    status: EvaluationStatus
    hours: Decimal
    meetings: int
    shifts: int
    tasks: int
    disputes: int
    positions: int
    points: Decimal
    drafted_at: datetime
    confirmed_at: datetime | None
    supersedes_id: uuid.UUID | None
    created_at: datetime


def _views() -> sa.Select:
    e, k = PartyEvaluation.__table__, Compound.__table__
    names = set(EvaluationView.__dataclass_fields__) - {"compound_name"}
    return sa.select(*(e.c[n] for n in sorted(names)), k.c.name.label("compound_name")).select_from(
        e.join(k, k.c.id == e.c.compound_id)
    )


def _view(r: sa.Row) -> EvaluationView:
    m = r._mapping
    fields = {n: m[n] for n in EvaluationView.__dataclass_fields__}
    return EvaluationView(**{**fields, "grade": Grade(m["grade"]), "status": EvaluationStatus(m["status"])})


async def view(ctx: Context, evaluation_id: uuid.UUID) -> EvaluationView:
    e = PartyEvaluation.__table__
    found = await visible_row(ctx, _views().where(e.c.id == evaluation_id), Resource.PARTY_EVALUATION, e)
    return _view(found)


def _comment(comment: str) -> str:
    return clean_text(comment, field="comment", label="评语", maximum=COMMENT_MAX) or ""


async def set_period(ctx: Context, *, community_id: uuid.UUID, kind: PeriodKind) -> PeriodKind:
    """How often the community evaluates its Party members; evaluations already made keep theirs."""

    async def apply(work: Work[Community]) -> Outcome[PeriodKind]:
        work.row.evaluation_period = kind
        await work.session.flush()
        return Outcome(kind)

    return await run(ctx, COMMUNITY, community_id, Action.EVALUATE, apply)


@dataclass(frozen=True)
class Where:
    compound_id: uuid.UUID
    starts_on: date
    ends_on: date


async def _registered(
    session: AsyncSession, person_id: uuid.UUID, period: str
) -> tuple[Where | str | None, uuid.UUID | None]:
    """(where the member was registered during the period — the latest such registration — and the
    period's days, or what is wrong with the period, or None; the compound of their latest
    registration, None if they never registered)."""
    x, k, c = PartyRegistration.__table__, Compound.__table__, Community.__table__
    rows = await session.execute(
        sa.select(x.c.compound_id, x.c.approved_on, x.c.ended_on, c.c.evaluation_period)
        .select_from(x.join(k, k.c.id == x.c.compound_id).join(c, c.c.id == k.c.community_id))
        .where(
            x.c.person_id == person_id,
            x.c.status.in_(
                [
                    RegistrationStatus.APPROVED.value,
                    RegistrationStatus.ENDED.value,
                    RegistrationStatus.TRANSFERRED.value,
                ]
            ),
        )
        .order_by(x.c.approved_on.desc(), x.c.created_at.desc())
    )
    problem: str | None = None
    latest: uuid.UUID | None = None
    for r in rows:
        latest = latest or r.compound_id
        days = period_days(period, PeriodKind(r.evaluation_period))
        if isinstance(days, str):
            problem = problem or days
            continue
        starts, ends = days
        if r.approved_on < ends and (r.ended_on is None or r.ended_on > starts):
            return Where(r.compound_id, starts, ends), latest
    return problem, latest


async def draft(
    ctx: Context, *, person_id: uuid.UUID, period: str, grade: Grade, comment: str
) -> EvaluationView:
    """Draft (or redraft) a member's evaluation for a period, its totals taken from their record
    now. Refused when the period's evaluation is confirmed (revise it instead)."""
    who = require_person(ctx.principal)
    text = _comment(comment)
    period = period.strip().upper()
    if person_id == who.person_id:
        raise ForbiddenError("不能为自己起草评价。")
    async with ctx.sessions() as session:
        found, latest = await _registered(session, person_id, period)
    if not isinstance(found, Where):
        # what is wrong is said only to those who may evaluate the member: to anyone else, whether
        # someone is a registered Party member is not to be learnt from a refusal
        if latest is None or not await place.granted(ctx, Resource.COMPOUND, Action.EVALUATE, Compound).load(
            latest
        ):
            raise not_visible()
        raise BadUserInputError(found or "这位党员在这一期间没有在本社区报到，不能评价。", field="period")

    async def apply(work: Work[Compound]) -> Outcome[uuid.UUID]:
        session = work.session
        e = PartyEvaluation
        held = (
            (
                await session.execute(
                    sa.select(e)
                    .where(
                        e.person_id == person_id, e.period == period, e.status != EvaluationStatus.SUPERSEDED
                    )
                    .with_for_update()
                )
            )
            .scalars()
            .all()
        )
        drafts = [h for h in held if h.status == EvaluationStatus.DRAFT]
        if not drafts and held:
            raise ConflictError(
                "这位党员这一期间的评价已经确认；如需更正，请提出新版本（reviseEvaluation）。"
            )
        totals = await ledger.summary_of(session, person_id, found.starts_on, found.ends_on)
        row = drafts[0] if drafts else None
        if row is None:
            versions = await session.execute(
                sa.select(sa.func.coalesce(sa.func.max(e.version), 0)).where(
                    e.person_id == person_id, e.period == period
                )
            )
            row = PartyEvaluation(
                person_id=person_id,
                compound_id=found.compound_id,
                period=period,
                starts_on=found.starts_on,
                ends_on=found.ends_on,
                version=versions.scalar_one() + 1,
                grade=grade,
                comment=text,
                drafted_at=datetime.now(UTC),
            )
            session.add(row)
        _write(row, work, grade, text, totals)
        await session.flush()
        return Outcome(row.id)

    return await view(ctx, await run(ctx, COMPOUND, found.compound_id, Action.EVALUATE, apply))


def _write(row: PartyEvaluation, work: Work[object], grade: Grade, text: str, totals: ledger.Summary) -> None:
    row.grade = grade
    row.comment = text
    row.hours, row.meetings, row.shifts = totals.hours, totals.meetings, totals.shifts
    row.tasks, row.disputes, row.points = totals.tasks, totals.disputes, totals.points
    row.positions = totals.positions
    row.drafted_by = work.who.person_id
    row.drafted_at = datetime.now(UTC)


async def revise(ctx: Context, *, evaluation_id: uuid.UUID, grade: Grade, comment: str) -> EvaluationView:
    """A new version of a confirmed evaluation, as a draft; confirmed, it supersedes the old one."""
    text = _comment(comment)

    async def apply(work: Work[PartyEvaluation]) -> Outcome[uuid.UUID]:
        old, session = work.row, work.session
        if old.status != EvaluationStatus.CONFIRMED:
            raise ConflictError(
                "只有已确认的评价才需要提出新版本；草稿可以直接修改。"
                if old.status == EvaluationStatus.DRAFT
                else "这份评价已被新版本取代；请修改最新的版本。"
            )
        e = PartyEvaluation
        waiting = await session.execute(
            sa.select(e.id).where(
                e.person_id == old.person_id, e.period == old.period, e.status == EvaluationStatus.DRAFT
            )
        )
        if waiting.first() is not None:
            raise ConflictError("这一期间已有一份待确认的新版本，请修改它。")
        row = PartyEvaluation(
            person_id=old.person_id,
            compound_id=old.compound_id,
            period=old.period,
            starts_on=old.starts_on,
            ends_on=old.ends_on,
            version=old.version + 1,
            grade=grade,
            comment=text,
            drafted_at=datetime.now(UTC),
            supersedes_id=old.id,
        )
        session.add(row)
        _write(
            row,
            work,
            grade,
            text,
            await ledger.summary_of(session, old.person_id, old.starts_on, old.ends_on),
        )
        await session.flush()
        return Outcome(row.id)

    return await view(ctx, await run(ctx, EVALUATION, evaluation_id, Action.EVALUATE, apply))


async def confirm(ctx: Context, *, evaluation_id: uuid.UUID) -> EvaluationView:
    """Confirm a draft: from now on it never changes; the version it corrects is superseded."""

    async def apply(work: Work[PartyEvaluation]) -> Outcome[uuid.UUID]:
        row, session = work.row, work.session
        problem = draft_problem(EvaluationStatus(row.status))
        if problem is not None:
            raise ConflictError(problem)
        if row.supersedes_id is not None:
            old = await session.get(PartyEvaluation, row.supersedes_id, with_for_update=True)
            if old is not None and old.status == EvaluationStatus.CONFIRMED:
                old.status = EvaluationStatus.SUPERSEDED
                await session.flush()
        row.status = EvaluationStatus.CONFIRMED
        row.confirmed_by = work.who.person_id
        row.confirmed_at = datetime.now(UTC)
        await session.flush()
        return Outcome(row.id)

    return await view(ctx, await run(ctx, EVALUATION, evaluation_id, Action.DECIDE, apply))


async def of_compound(
    ctx: Context,
    *,
    compound_id: uuid.UUID,
    period: str | None,
    status: EvaluationStatus | None,
    first: int | None,
    after: str | None,
) -> Page[EvaluationView]:
    """A compound's evaluations (of a period, in a status), in the order they were drafted: for
    those who draft and confirm them."""
    found = await place.compound(ctx, compound_id=compound_id)
    if not await place.granted(ctx, Resource.COMPOUND, Action.EVALUATE, Compound).load(found.id):
        raise refusal(Resource.COMPOUND, Action.EVALUATE)
    e = PartyEvaluation.__table__
    conditions = [
        e.c.compound_id == found.id,
        where(ctx.principal, Resource.PARTY_EVALUATION, Action.READ, e),
    ]
    if period is not None:
        conditions.append(e.c.period == period.strip().upper())
    if status is not None:
        conditions.append(e.c.status == status.value)
    w = window(LIST, first=first, after=after)
    page = await read(
        ctx.sessions, _views().where(*conditions), e, LIST, w, params(ctx.principal), scalars=False
    )
    return page.map(_view)


async def mine(ctx: Context, *, first: int | None, after: str | None) -> Page[EvaluationView]:
    """The caller's own evaluations, newest first, drafts and superseded versions included."""
    who = require_person(ctx.principal)
    e = PartyEvaluation.__table__
    w = window(MINE, first=first, after=after)
    page = await read(ctx.sessions, _views().where(e.c.person_id == who.person_id), e, MINE, w, scalars=False)
    return page.map(_view)
