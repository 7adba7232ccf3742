"""Owner votes: open, cast, close, read the tally, the turnout and receipts.

A ballot locks the caller's households of the frozen electorate, then moves the vote's tally row
by its delta in the statement that records it, only while the tally is not closed; the close locks
the vote and then the tally and marks it closed. So two ballots for one household apply one after
the other, the running tally always equals a recount, and nothing is counted after the close.
Distinct votes never wait for each other.
"""

from __future__ import annotations

import json
import secrets
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from strawberry.dataloader import DataLoader

from auth.policy import Action, Resource, not_visible, params, refusal, require_person, where
from models import procedure_rules
from models.enums import HomeRelation
from models.errors import BadUserInputError, ConflictError, ForbiddenError, sqlstate
from models.message import MessageKind, Template
from models.person import Home
from models.place import Building, Compound, Household
from models.procedure_rules import (
    Channel,
    DoubleVote,
    immediate_opening_problem,
    outranked_reason,
    preferred_channel,
)
from models.schedule_rules import shown
from models.task import Task
from models.task_rules import EventKind, Standing
from models.terms import in_force
from models.vote import Ballot, Vote, VoteElector, VoteObjection, VoteOwner, VoteTally
from models.vote_digest import leaf, proof, receipt_hash, root
from models.vote_rules import (
    LONGEST_VOTE,
    TALLY_MEASURES,
    Choice,
    Eligible,
    ObjectionStage,
    Tally,
    VoteKind,
    VoteMatter,
    VoteRule,
    VoteStatus,
    affected_problem,
    announcement_problem,
    cancel_problem,
    effective_rule,
    electorate_tally,
    extension_problem,
    head_key,
    scope_problem,
    works_result,
)
from resolvers import messages, paper_ballots, procedure, proxies, works
from resolvers import task as tasks
from resolvers.context import Context
from resolvers.events import CHANNEL, notify
from resolvers.loaders import by_key, grouped, visible_by_id
from resolvers.pages import Key, Page, order, read, window
from resolvers.pipeline import Event, Outcome, Target, Work, append_event, run, run_on_driver
from resolvers.place import granted
from resolvers.text import clean_text

TITLE_MAX = 100
DESCRIPTION_MAX = 5_000

OPENING = Target(Resource.COMPOUND, Compound, lock=False)


def _ballot_state() -> list[Any]:
    """What a ballot needs besides the vote and the policy's facts, read in the pipeline's one
    statement: the caller's households of the frozen electorate (their numbers, for the answer),
    and the database's clock. `record_ballot` locks them and reads their choices itself."""
    e, o = VoteElector.__table__.alias(), VoteOwner.__table__.alias()
    vote, person = sa.bindparam("target_id", type_=sa.Uuid), sa.bindparam("facts_person", type_=sa.Uuid)
    rows = (
        sa.select(e.c.number)
        .select_from(e.join(o, sa.and_(o.c.vote_id == e.c.vote_id, o.c.household_id == e.c.household_id)))
        .where(e.c.vote_id == vote, o.c.person_id == person)
        .subquery()
    )
    mine = sa.select(sa.func.array_agg(aggregate_order_by(rows.c.number, rows.c.number))).scalar_subquery()
    double_vote = next(c for c in paper_ballots.procedure_state() if c.name == "double_vote")
    return [mine.label("mine"), double_vote, sa.func.clock_timestamp().label("now")]


#: a ballot locks only the caller's households; ballots of one vote meet on the tally row, which
#: the ballot's one writing statement moves only while it is not closed
CASTING = Target(Resource.VOTE, Vote, lock=False, state=_ballot_state)
CLOSING = Target(Resource.VOTE, Vote)
REASON_MAX = 500


def topic(vote_id: uuid.UUID) -> str:
    return f"vote:{vote_id}"


def as_tally(row: VoteTally) -> Tally:
    return Tally(**{name: getattr(row, name) for name in TALLY_MEASURES})


@dataclass(frozen=True)
class TallyView:
    tally: Tally
    rule: VoteRule
    ballots_cast: int


@dataclass(frozen=True)
class CastResult:
    ballot_id: uuid.UUID
    choice: Choice
    cast_at: datetime
    receipt: str
    numbers: list[str]


@dataclass(frozen=True)
class HouseholdVote:
    household_id: uuid.UUID
    number: str
    area: Decimal
    choice: Choice | None


@dataclass(frozen=True)
class ReceiptCheck:
    vote_id: uuid.UUID
    choice: Choice
    cast_at: datetime
    numbers: list[str]
    counted: bool
    #: per household: (number, leaf, proof steps) once the vote has closed and published its digest
    proofs: list[tuple[str, str, list[tuple[str, bool]]]]


# --- reading ------------------------------------------------------------------------------------


def vote_loader(ctx: Context) -> DataLoader[uuid.UUID, Vote | None]:
    return ctx.loaders.cached("vote", lambda: visible_by_id(ctx.sessions, ctx.principal, Resource.VOTE, Vote))


async def vote(ctx: Context, *, vote_id: uuid.UUID) -> Vote:
    row = await vote_loader(ctx).load(vote_id)
    if row is None:
        raise not_visible()
    return row


async def tally(ctx: Context, row: Vote) -> TallyView:
    """The live tally (or the final one) of a vote the caller may read. Never cached: a live
    subscription reads it again after every ballot."""
    loader = ctx.loaders.cached(
        "vote_tally", lambda: by_key(ctx.sessions, VoteTally, VoteTally.vote_id, cache=False)
    )
    counted = await loader.load(row.id)
    if counted is None:  # announced: nothing to count until it opens
        return TallyView(Tally(), VoteRule(row.rule), 0)
    return TallyView(as_tally(counted), VoteRule(row.rule), counted.ballots_cast)


async def my_ballot(ctx: Context, row: Vote) -> list[HouseholdVote]:
    """The households of the electorate whose choice the caller may see (their own) and how each
    currently stands."""
    electors = VoteElector.__table__
    loader = ctx.loaders.cached(
        "vote_choices",
        lambda: _choices_loader(ctx, where(ctx.principal, Resource.ELECTOR, Action.READ_CHOICE, electors)),
    )
    return await loader.load(row.id)


def _choices_loader(
    ctx: Context, allowed: sa.ColumnElement[bool]
) -> DataLoader[uuid.UUID, list[HouseholdVote]]:
    return grouped(
        ctx.sessions,
        lambda ids: (
            sa.select(VoteElector)
            .where(VoteElector.vote_id.in_(ids), allowed)
            .order_by(VoteElector.vote_id, VoteElector.number)
        ),
        key=lambda r: r.VoteElector.vote_id,
        value=lambda r: HouseholdVote(
            r.VoteElector.household_id,
            r.VoteElector.number,
            r.VoteElector.area,
            Choice(r.VoteElector.choice) if r.VoteElector.choice else None,
        ),
        values=params(ctx.principal),
    )


async def _require(ctx: Context, row: Vote, action: Action) -> None:
    if not await granted(ctx, Resource.VOTE, action, Vote).load(row.id):
        raise refusal(Resource.VOTE, action)


#: electors by household number; votes newest first; my open votes closing soonest first
#: (a household's number is unique in its compound, so in a vote: no hidden id in a cursor)
ELECTORS = order(Key("number", str))
VOTES = order(Key("created_at", datetime, descending=True), Key("id"))
CLOSING_SOONEST = order(Key("closes_at", datetime), Key("id"))


async def turnout(ctx: Context, row: Vote, *, first: int | None, after: str | None) -> Page[VoteElector]:
    """Households that have not voted yet, for door-knocking (a building convener sees their own
    building): never anyone's choice."""
    await _require(ctx, row, Action.READ_TURNOUT)
    statement = sa.select(VoteElector).where(
        VoteElector.vote_id == row.id,
        VoteElector.choice.is_(None),
        where(ctx.principal, Resource.ELECTOR, Action.READ_TURNOUT, VoteElector.__table__),
    )
    w = window(ELECTORS, first=first, after=after)
    return await read(ctx.sessions, statement, VoteElector.__table__, ELECTORS, w, params(ctx.principal))


@dataclass(frozen=True)
class ElectorView:
    number: str
    area: Decimal
    #: the headcount group as a number within this vote (first appearance by household number);
    #: says which households count as one person without revealing whose they are
    group: int


async def electorate(ctx: Context, row: Vote, *, first: int | None, after: str | None) -> Page[ElectorView]:
    await _require(ctx, row, Action.READ_ELECTORATE)
    firsts = (
        sa.select(VoteElector.head, sa.func.min(VoteElector.number).label("first"))
        .where(VoteElector.vote_id == row.id)
        .group_by(VoteElector.head)
        .subquery()
    )
    groups = sa.select(
        firsts.c.head, sa.func.row_number().over(order_by=(firsts.c.first, firsts.c.head)).label("group")
    ).subquery()
    elector = VoteElector.__table__
    statement = (
        sa.select(elector.c.number, elector.c.household_id, elector.c.area, groups.c.group)
        .join(groups, groups.c.head == elector.c.head)
        .where(elector.c.vote_id == row.id)
    )
    w = window(ELECTORS, first=first, after=after)
    page = await read(ctx.sessions, statement, elector, ELECTORS, w, scalars=False)
    return page.map(lambda r: ElectorView(r.number, r.area, r.group))


async def votes_of_compound(
    ctx: Context, compound: Compound, *, first: int | None, after: str | None
) -> Page[Vote]:
    """The compound's votes the caller may read, newest first."""
    statement = sa.select(Vote).where(
        Vote.compound_id == compound.id, where(ctx.principal, Resource.VOTE, Action.READ, Vote.__table__)
    )
    page = await read(
        ctx.sessions,
        statement,
        Vote.__table__,
        VOTES,
        window(VOTES, first=first, after=after),
        params(ctx.principal),
    )
    for r in page.rows:
        vote_loader(ctx).prime(r.id, r)
    return page


async def my_open_votes(ctx: Context, *, first: int | None, after: str | None) -> Page[Vote]:
    """The open votes the caller may still cast in (an owner of their frozen electorate), the one
    closing soonest first."""
    statement = sa.select(Vote).where(
        where(ctx.principal, Resource.VOTE, Action.CAST, Vote.__table__),
        Vote.status == VoteStatus.OPEN,
        Vote.closes_at > sa.func.now(),
    )
    page = await read(
        ctx.sessions,
        statement,
        Vote.__table__,
        CLOSING_SOONEST,
        window(CLOSING_SOONEST, first=first, after=after),
        params(ctx.principal),
    )
    for r in page.rows:
        vote_loader(ctx).prime(r.id, r)
    return page


async def affected_numbers(ctx: Context, row: Vote) -> list[str]:
    """Works: the numbers of the directly affected households named when the vote opened."""
    if not row.affected_household_ids:
        return []
    loader = ctx.loaders.cached(
        "vote_affected",
        lambda: grouped(
            ctx.sessions,
            lambda ids: (
                sa.select(VoteElector.vote_id, VoteElector.number)
                .join(Vote, Vote.id == VoteElector.vote_id)
                .where(
                    VoteElector.vote_id.in_(ids),
                    VoteElector.household_id == sa.any_(Vote.affected_household_ids),
                )
                .order_by(VoteElector.vote_id, VoteElector.number)
            ),
            key=lambda r: r.vote_id,
            value=lambda r: r.number,
        ),
    )
    return await loader.load(row.id)


async def result_text(ctx: Context, row: Vote) -> str | None:
    """The result in plain Chinese as it is published (`models.procedure_rules.explain`), from the
    final tally and what the close recorded."""
    if row.status == VoteStatus.OPEN:
        return None
    counted = await tally(ctx, row)
    held_under = await procedure.of_vote(ctx, row)
    silent = None
    if row.unreturned_area is not None and row.unreturned_headcount is not None:
        side = Choice(row.unreturned_as) if row.unreturned_as else None
        silent = procedure_rules.Unreturned(row.unreturned_area, row.unreturned_headcount, side)
    return procedure_rules.explain(
        counted.tally,
        VoteRule(row.rule),
        VoteStatus(row.status),
        row.cancel_reason,
        silent,
        held_under.procedure.version,
        kind=VoteKind(row.kind),
        affected=len(row.affected_household_ids),
        unconsented=row.unconsented or (),
    )


# --- opening ------------------------------------------------------------------------------------


async def open_vote(
    ctx: Context,
    *,
    compound_id: uuid.UUID,
    building_ids: list[uuid.UUID] | None,
    whole_compound: bool = False,
    title: str,
    description: str,
    matter: VoteMatter,
    rule: VoteRule | None,
    closes_at: datetime,
    task_id: uuid.UUID | None = None,
    kind: VoteKind = VoteKind.ASSEMBLY,
    affected_household_ids: list[uuid.UUID] | None = None,
    opens_at: datetime | None = None,
    now: datetime | None = None,
) -> Vote:
    """Open a vote now, or (`opens_at`) announce it: its owner roll is published until then for
    owners to check, and it opens once every objection to the roll is settled (`open_due_votes`)."""
    title = clean_text(title, field="title", label="表决标题", maximum=TITLE_MAX) or ""
    description = (
        clean_text(description, field="description", label="表决说明", maximum=DESCRIPTION_MAX) or ""
    )
    chosen = effective_rule(matter, rule)
    if chosen is None:
        raise BadUserInputError(
            "该事项依法须经专有部分面积和人数四分之三以上同意（特别多数），不能改为普通多数。", field="rule"
        )
    problem = scope_problem(building_ids, whole_compound)
    if problem is not None:
        raise BadUserInputError(problem[1], field=problem[0])
    affected = sorted(set(affected_household_ids or ()))
    works = affected_problem(kind, affected, whole_compound)
    if works is not None:
        raise BadUserInputError(works, field="affectedHouseholdIds")
    now = now or datetime.now(UTC)
    if closes_at.tzinfo is None:
        raise BadUserInputError("截止时间必须带时区，例如 2026-12-31T18:00:00+08:00。", field="closesAt")
    if closes_at <= now + timedelta(minutes=1):
        raise BadUserInputError("截止时间必须晚于现在。", field="closesAt")
    if closes_at > now + LONGEST_VOTE and opens_at is None:
        raise BadUserInputError("表决时间不能超过一年。", field="closesAt")
    in_scope = sorted(set(building_ids or ()))

    async def apply(work: Work[Compound]) -> Outcome[Vote]:
        session, compound = work.session, work.row
        if task_id is not None:
            linked = (
                await session.execute(
                    sa.select(Task.id).where(
                        Task.id == task_id, Task.compound_id == compound.id, tasks.readable(ctx)
                    ),
                    params(ctx.principal),
                )
            ).first()
            if linked is None:
                raise BadUserInputError("关联的事项不存在，或不属于该小区。", field="taskId")
        if in_scope:
            found = set(
                (
                    await session.execute(
                        sa.select(Building.id).where(
                            Building.id.in_(in_scope), Building.compound_id == compound.id
                        )
                    )
                ).scalars()
            )
            if found != set(in_scope):
                raise BadUserInputError("所选楼栋不属于该小区。", field="buildingIds")
        procedure_id, held_under = await procedure.current(session, compound.id)
        if opens_at is None:
            required = immediate_opening_problem(held_under)
            if required is not None:
                raise BadUserInputError(required, field="opensAt")
        else:
            clock = (await session.execute(sa.select(sa.func.now()))).scalar_one()
            problem = announcement_problem(opens_at, closes_at, clock, held_under.roll_days)
            if problem is not None:
                raise BadUserInputError(problem, field="opensAt")
        row = Vote(
            compound_id=compound.id,
            building_ids=in_scope,
            title=title,
            description=description,
            matter=matter,
            rule=chosen,
            status=VoteStatus.OPEN if opens_at is None else VoteStatus.ANNOUNCED,
            closes_at=closes_at,
            opens_at=opens_at,
            task_id=task_id,
            opened_by=work.who.person_id,
            procedure_id=procedure_id,
            kind=kind,
            affected_household_ids=affected,
        )
        session.add(row)
        await session.flush()
        if opens_at is None:
            await _begin(session, ctx.services.templates, row)
        else:
            in_scope_households = set(
                (await session.execute(_households_in_scope(row).with_only_columns(Household.id))).scalars()
            )
            if not in_scope_households:
                raise BadUserInputError("表决范围内没有住户，无法发起表决。", field="buildingIds")
            if not set(affected) <= in_scope_households:
                raise BadUserInputError(
                    "所列直接受影响的住户不在本次表决范围内。", field="affectedHouseholdIds"
                )
            await messages.vote_announced(
                session,
                ctx.services.templates,
                vote_id=row.id,
                title=row.title,
                compound_id=row.compound_id,
                building_ids=row.building_ids,
                opens_at=opens_at,
            )
        if task_id is not None:
            await append_event(
                session,
                task_id,
                compound.id,
                Event(EventKind.VOTE_OPENED, {"text": f"发起业主表决「{title}」", "vote": str(row.id)}),
                actor_id=work.who.person_id,
                role=Standing.TEAM,
            )
        return Outcome(row, topics=(f"compound-votes:{compound.id}",))

    return await run(ctx, OPENING, compound_id, Action.OPEN_VOTE, apply)


async def _begin(session: AsyncSession, templates: Mapping[MessageKind, Template], row: Vote) -> None:
    """Open the vote now: freeze its electorate, make its tally, tell its owners (in the
    transaction that opens it)."""
    frozen = await _freeze_electorate(session, row)
    if not frozen:
        raise BadUserInputError("表决范围内没有住户，无法发起表决。", field="buildingIds")
    if not set(row.affected_household_ids) <= {e.household for e in frozen}:
        raise BadUserInputError("所列直接受影响的住户不在本次表决范围内。", field="affectedHouseholdIds")
    denominators = electorate_tally(frozen)
    session.add(
        VoteTally(
            vote_id=row.id,
            compound_id=row.compound_id,
            eligible_area=denominators.eligible_area,
            eligible_headcount=denominators.eligible_headcount,
        )
    )
    await session.flush()
    await messages.vote_opened(
        session,
        templates,
        vote_id=row.id,
        title=row.title,
        compound_id=row.compound_id,
        closes_at=row.closes_at,
    )


def _households_in_scope(row: Vote) -> Any:
    statement = sa.select(Household).where(Household.compound_id == row.compound_id)
    if row.building_ids:
        statement = statement.where(Household.building_id.in_(row.building_ids))
    return statement


async def _unsettled_roll_objections(session: AsyncSession, vote_id: uuid.UUID) -> int:
    return (
        await session.execute(
            sa.select(sa.func.count()).where(
                VoteObjection.vote_id == vote_id,
                VoteObjection.stage == ObjectionStage.ROLL.value,
                VoteObjection.settled_at.is_(None),
            )
        )
    ).scalar_one()


async def open_due_votes(
    sessions: async_sessionmaker[AsyncSession],
    templates: Mapping[MessageKind, Template],
    *,
    limit: int = 20,
) -> int:
    """Open every announced vote whose roll publication has ended and whose roll objections are
    all settled: its electorate is frozen from the register as corrected. Safe in many processes
    at once (SKIP LOCKED); one waiting for objections is looked at again next round."""
    opened = 0
    async with sessions() as session, session.begin():
        due = (
            (
                await session.execute(
                    sa.select(Vote)
                    .where(Vote.status == VoteStatus.ANNOUNCED, Vote.opens_at <= sa.func.now())
                    .order_by(Vote.opens_at)
                    .limit(limit)
                    .with_for_update(skip_locked=True, key_share=True)
                )
            )
            .scalars()
            .all()
        )
        for row in due:
            if await _unsettled_roll_objections(session, row.id):
                continue
            async with session.begin_nested():
                try:
                    await _begin(session, templates, row)
                except BadUserInputError:
                    # nothing left to vote on (every household gone from the register): withdrawn
                    row.status, row.cancelled_at = VoteStatus.CANCELLED, datetime.now(UTC)
                    row.cancel_reason = "开始时表决范围内已没有住户。"
                    continue
                row.status = VoteStatus.OPEN
            await notify(session, f"compound-votes:{row.compound_id}")
            opened += 1
    return opened


async def _freeze_electorate(session: AsyncSession, row: Vote) -> list[Eligible]:
    """Copy the households in scope, their areas and owner sets: later sales, imports or role
    changes never move them. Read in one statement (one snapshot of `home`); each household's
    headcount group is the law's (`models.vote_rules.head_key`), computed here, not in SQL."""
    owners = sa.func.array_agg(Home.person_id).filter(Home.relation == HomeRelation.OWNER)
    statement = (
        sa.select(
            Household.id, Household.building_id, Household.number, Household.area, owners.label("owners")
        )
        .outerjoin(Home, sa.and_(Home.household_id == Household.id, in_force(Home.__table__)))
        .where(Household.compound_id == row.compound_id)
        .group_by(Household.id)
        .order_by(Household.number)
    )
    if row.building_ids:
        statement = statement.where(Household.building_id.in_(row.building_ids))
    found = (await session.execute(statement)).all()
    electorate = [
        Eligible(h.id, h.area, frozenset(p for p in h.owners or () if p is not None)) for h in found
    ]
    if not electorate:
        return []
    await session.execute(
        sa.insert(VoteElector),
        [
            {
                "vote_id": row.id,
                "household_id": h.id,
                "compound_id": row.compound_id,
                "building_id": h.building_id,
                "number": h.number,
                "area": h.area,
                "head": head_key(e),
            }
            for h, e in zip(found, electorate, strict=True)
        ],
    )
    owner_rows = [
        {"vote_id": row.id, "household_id": e.household, "person_id": p, "compound_id": row.compound_id}
        for e in electorate
        for p in sorted(e.owners)
    ]
    if owner_rows:
        await session.execute(sa.insert(VoteOwner), owner_rows)
    return electorate


# --- casting ------------------------------------------------------------------------------------


async def cast_ballot(
    ctx: Context,
    *,
    vote_id: uuid.UUID,
    choice: Choice,
    on_behalf_of: uuid.UUID | None = None,
    now: datetime | None = None,
) -> CastResult:
    """One ballot in two statements and no transaction around them: the pipeline's load (the
    vote, the policy's facts and the caller's households), and `cast_ballot`, which writes the
    ballot, the households' choices and the tally (the database's rule: the service may not update
    those rows itself), with the live tally's notice, and commits on its own."""

    async def apply(work: Work[Vote]) -> Outcome[CastResult]:
        row, who = work.row, work.who
        numbers: list[str] = list(work.state["mine"] or ())
        at = now or work.state["now"]
        if row.status == VoteStatus.CANCELLED:
            raise _cancelled()
        if row.status == VoteStatus.ANNOUNCED:
            raise _not_open(row.status, "投票")
        if row.status != VoteStatus.OPEN or row.closes_at <= at:
            raise _closed(row.closes_at)
        person, proxy = who.person_id, None
        if on_behalf_of is not None and on_behalf_of != who.person_id:
            person, proxy, numbers = on_behalf_of, *await _under_proxy(work, on_behalf_of)
        elif not numbers:
            raise BadUserInputError(
                "您不是表决范围内住户的业主；受业主委托代为投票时，请指明委托您的业主（onBehalfOf）。",
                field="onBehalfOf",
            )
        code = secrets.token_urlsafe(24)
        rule = DoubleVote(work.state["double_vote"])
        prefer = preferred_channel(rule)
        notice = json.dumps({"topic": topic(vote_id)})
        ballot = (
            uuid.uuid4(),
            vote_id,
            person,
            choice.value,
            receipt_hash(code),
            prefer and prefer.value,
            proxy,
        )
        written = await _write_ballot(work, (CHANNEL, notice, *ballot))
        if written is None:
            # the vote closed between the load and this statement, which wrote nothing
            raise _closed(row.closes_at)
        if written["out_tallies"] == -1:
            whose = "该业主家" if proxy is not None else "您家"
            raise ConflictError(f"{whose}已交书面表决票。{outranked_reason(rule, Channel.ONLINE)}")
        if len(written["out_households"]) != len(numbers):
            # a ballot ranking higher stands on some of the owner's heads: this one went to the rest
            numbers = await _numbers(work, vote_id, written["out_households"])
        return Outcome(CastResult(written["out_id"], choice, written["out_cast_at"], code, numbers))

    try:
        if on_behalf_of is None or on_behalf_of == getattr(ctx.principal, "person_id", None):
            # the caller's own ballot: on the driver, without a session (`run_on_driver`)
            return await run_on_driver(ctx, CASTING, vote_id, Action.CAST, apply)
        return await run(ctx, CASTING, vote_id, Action.CAST, apply, alone=True)
    except ForbiddenError:
        # before it opens, nobody is an owner of its (not yet frozen) electorate: say why instead
        row = await vote_loader(ctx).load(vote_id)
        if row is not None and row.status == VoteStatus.ANNOUNCED:
            raise _not_open(row.status, "投票") from None
        raise


async def _under_proxy(work: Work[Vote], owner: uuid.UUID) -> tuple[uuid.UUID, list[str]]:
    """The appointment under which the caller casts for `owner`, and the owner's households: one
    more statement, for ballots cast under a written proxy only."""
    accepted, version = await proxies.accepts(work.session, work.row)
    if not accepted:
        raise ConflictError(f"本表决依据的议事规则（第{version}版）不接受书面委托，请业主本人投票。")
    found = await proxies.usable(work.session, work.who.person_id, owner, work.row)
    if found is None:
        raise ForbiddenError("您没有这位业主在本次表决中可用的书面委托（未核实、已撤销或不在委托期间）。")
    return found


async def _write_ballot(work: Work[Vote], arguments: tuple[Any, ...]) -> Mapping[str, Any] | None:
    """`CAST_BALLOT`: its row, or None when the tally was sealed (nothing written)."""
    try:
        return await work.fetchrow(CAST_BALLOT, *arguments)
    except Exception as exc:
        if sqlstate(exc) == TALLY_CLOSED:
            return None
        raise


async def _numbers(work: Work[Vote], vote_id: uuid.UUID, households: list[uuid.UUID]) -> list[str]:
    found = await work.fetchrow(NUMBERS, vote_id, households)
    return list(found["numbers"] or ()) if found is not None else []


def _closed(closes_at: datetime) -> ConflictError:
    return ConflictError(f"表决已于 {shown(closes_at)} 截止，不能再投票。")


def _cancelled() -> ConflictError:
    return _not_open(VoteStatus.CANCELLED, "再投票")


def _not_open(status: str, doing: str) -> ConflictError:
    """Why `doing` cannot happen to a vote that is no longer open."""
    ended = {VoteStatus.CANCELLED: "已撤销", VoteStatus.ANNOUNCED: "尚未开始（业主名册公示中）"}.get(
        VoteStatus(status), "已经结束"
    )
    return ConflictError(f"该表决{ended}，不能{doing}。")


#: the ballot through the database's function (migrations 0031 and 0038) and the live tally's
#: notice, in one statement that commits on its own (`resolvers.pipeline.run`'s `alone`, and
#: `run_on_driver`); the function refuses a ballot racing the close with `TALLY_CLOSED`, having
#: written nothing. SQL text, sent as it is: the channel, the notice, then `cast_ballot`'s arguments
CAST_BALLOT = (
    "SELECT b.*, pg_notify($1, $2) AS sent"
    " FROM cast_ballot($3::uuid, $4::uuid, $5::uuid, $6::text, $7::text, $8::text, $9::uuid) AS b"
)
TALLY_CLOSED = "55000"
#: the numbers of a vote's households, for a ballot that went to some of the owner's only
NUMBERS = (
    "SELECT array_agg(number ORDER BY number) AS numbers FROM vote_electorate"
    " WHERE vote_id = $1 AND household_id = ANY ($2::uuid[])"
)


# --- closing ------------------------------------------------------------------------------------


async def close_vote(ctx: Context, *, vote_id: uuid.UUID) -> Vote:
    async def apply(work: Work[Vote]) -> Outcome[Vote]:
        if work.row.status in (VoteStatus.CANCELLED, VoteStatus.ANNOUNCED):
            raise _not_open(work.row.status, "公布结果")
        closed = await _close(work.session, ctx.services.templates, vote_id, closed_by=work.who.person_id)
        if closed is None:
            raise ConflictError("该表决已经结束，结果不能更改。")
        return Outcome(closed)

    row = await run(ctx, CLOSING, vote_id, Action.CLOSE, apply)
    ctx.loaders.forget("vote", vote_id)
    return row


#: seals the tally (the service may not update it itself): every later ballot moves nothing
CLOSE_TALLY = sa.text("SELECT * FROM close_tally(:vote)")


async def _close(
    session: AsyncSession,
    templates: Mapping[MessageKind, Template],
    vote_id: uuid.UUID,
    *,
    closed_by: uuid.UUID | None,
) -> Vote | None:
    """Close one vote in the caller's transaction: lock order vote, then tally (as every closer),
    and tell its owners the result.

    The vote's lock is NO KEY UPDATE: a ballot's row refers to the vote by key, and the key share
    its insert takes must not wait for the close (which would wait for the ballot's tally lock).
    `close_tally`'s update takes the tally's lock, also NO KEY UPDATE (no key changes)."""
    row = (
        await session.execute(
            sa.select(Vote)
            .where(Vote.id == vote_id, Vote.status == VoteStatus.OPEN)
            .with_for_update(key_share=True)
        )
    ).scalar()
    if row is None:
        return None
    counted = (
        await session.execute(sa.select(VoteTally).from_statement(CLOSE_TALLY), {"vote": vote_id})
    ).scalar_one()
    final = as_tally(counted)
    held_under = await procedure.held(session, row.procedure_id)
    silent = await _unreturned(session, row, held_under, final)
    unconsented = await works.unconsented(session, row)
    row.status = VoteStatus.CLOSED
    row.result = works_result(
        procedure_rules.result(final, VoteRule(row.rule), silent), VoteKind(row.kind), unconsented
    )
    if silent is not None:
        row.unreturned_area, row.unreturned_headcount = silent.area, silent.headcount
        row.unreturned_as = silent.side
    row.unconsented = unconsented if row.kind == VoteKind.WORKS else None
    row.closed_at = datetime.now(UTC)
    row.objection_until = row.closed_at + timedelta(days=held_under.objection_days)
    row.closed_by = closed_by
    row.digest = root(await _leaves(session, vote_id))
    await notify(session, topic(vote_id))
    await session.flush()
    await messages.vote_result(
        session, templates, vote_id=vote_id, title=row.title, compound_id=row.compound_id, result=row.result
    )
    return row


async def _unreturned(
    session: AsyncSession, row: Vote, held_under: procedure_rules.Procedure, final: Tally
) -> procedure_rules.Unreturned | None:
    """The owners served who did not vote, as the vote's rules of procedure count them (None: they
    do not). Served: a household with a recorded owner, told in the app when the vote opened."""
    if not held_under.unreturned_with_majority:
        return None
    served = sa.exists().where(
        VoteOwner.vote_id == VoteElector.vote_id, VoteOwner.household_id == VoteElector.household_id
    )
    area, heads = (
        await session.execute(
            sa.select(
                sa.func.coalesce(sa.func.sum(VoteElector.area), 0),
                sa.func.count(sa.distinct(VoteElector.head)),
            ).where(VoteElector.vote_id == row.id, VoteElector.choice.is_(None), served)
        )
    ).one()
    return procedure_rules.unreturned(held_under, final, Decimal(area), int(heads))


async def cancel_vote(ctx: Context, *, vote_id: uuid.UUID, reason: str | None) -> Vote:
    """Stop an open vote without a result: before its first ballot (opened by mistake) freely, after
    it only with a reason published with the vote. The tally is sealed as at a close, so a ballot
    racing the cancellation is either counted before it or refused; electorate and ballots stay."""
    reason = clean_text(reason, field="reason", label="撤销理由", maximum=REASON_MAX, required=False)

    async def apply(work: Work[Vote]) -> Outcome[Vote]:
        row, session = work.row, work.session
        if row.status not in (VoteStatus.OPEN, VoteStatus.ANNOUNCED):
            raise _not_open(row.status, "撤销")
        cast = 0
        if row.status == VoteStatus.OPEN:
            sealed = (
                await session.execute(sa.select(VoteTally).from_statement(CLOSE_TALLY), {"vote": vote_id})
            ).scalar_one_or_none()
            if sealed is None:  # sealed already: the vote closed by itself at this moment
                raise _not_open(VoteStatus.CLOSED, "撤销")
            cast = sealed.ballots_cast
        problem = cancel_problem(cast, reason)
        if problem is not None:
            raise BadUserInputError(problem, field="reason")
        row.status = VoteStatus.CANCELLED
        row.cancelled_at = datetime.now(UTC)
        row.cancelled_by = work.who.person_id
        row.cancel_reason = reason
        await session.flush()
        await messages.vote_cancelled(
            session,
            ctx.services.templates,
            vote_id=vote_id,
            title=row.title,
            compound_id=row.compound_id,
            reason=reason,
        )
        return Outcome(row, topics=(topic(vote_id), f"compound-votes:{row.compound_id}"))

    row = await run(ctx, CLOSING, vote_id, Action.CANCEL, apply)
    ctx.loaders.forget("vote", vote_id)
    return row


async def extend_vote(ctx: Context, *, vote_id: uuid.UUID, closes_at: datetime) -> Vote:
    """Give owners more time: a later closing time, never an earlier one."""

    async def apply(work: Work[Vote]) -> Outcome[Vote]:
        row = work.row
        if row.status != VoteStatus.OPEN:
            raise _not_open(row.status, "再延长")
        now = (await work.session.execute(sa.select(sa.func.now()))).scalar_one()
        problem = extension_problem(row.closes_at, closes_at, row.opens_at or row.created_at, now)
        if problem is not None:
            raise BadUserInputError(problem, field="closesAt")
        row.closes_at = closes_at
        await work.session.flush()
        return Outcome(row, topics=(topic(vote_id),))

    row = await run(ctx, CLOSING, vote_id, Action.EXTEND, apply)
    ctx.loaders.forget("vote", vote_id)
    return row


async def _leaves(session: AsyncSession, vote_id: uuid.UUID) -> list[str]:
    rows = await session.execute(
        sa.select(VoteElector.household_id, VoteElector.choice, Ballot.receipt_hash)
        .join(Ballot, Ballot.id == VoteElector.ballot_id)
        .where(VoteElector.vote_id == vote_id)
        .order_by(VoteElector.household_id)
    )
    return [leaf(str(vote_id), str(h), c, r) for h, c, r in rows]


async def close_due_votes(
    sessions: async_sessionmaker[AsyncSession],
    templates: Mapping[MessageKind, Template],
    *,
    limit: int = 100,
) -> int:
    """Close every open vote whose time is up, telling its owners the result. Safe in many
    processes at once (SKIP LOCKED)."""
    closed = 0
    async with sessions() as session, session.begin():
        due = (
            (
                await session.execute(
                    sa.select(Vote.id)
                    .where(Vote.status == VoteStatus.OPEN, Vote.closes_at <= sa.func.now())
                    .order_by(Vote.closes_at)
                    .limit(limit)
                    .with_for_update(skip_locked=True)
                )
            )
            .scalars()
            .all()
        )
        for vote_id in due:
            if await _close(session, templates, vote_id, closed_by=None) is not None:
                closed += 1
    return closed


# --- receipts -----------------------------------------------------------------------------------


async def verify_receipt(ctx: Context, *, code: str) -> ReceiptCheck:
    """What a receipt proves: the ballot it stands for, whether it is the one counted for each of
    its households, and (after the close) each household's Merkle proof to the published digest."""
    require_person(ctx.principal)
    code = code.strip()
    if not code or len(code) > 100:
        raise BadUserInputError("回执码格式不正确。", field="code")
    async with ctx.sessions() as session:
        ballot = (
            await session.execute(sa.select(Ballot).where(Ballot.receipt_hash == receipt_hash(code)))
        ).scalar()
        if ballot is None:
            raise BadUserInputError("没有找到这张回执，请核对回执码。", field="code")
        status = (await session.execute(sa.select(Vote.status).where(Vote.id == ballot.vote_id))).scalar_one()
        households = (
            (
                await session.execute(
                    sa.select(VoteElector)
                    .where(
                        VoteElector.vote_id == ballot.vote_id,
                        VoteElector.household_id.in_(ballot.household_ids),
                    )
                    .order_by(VoteElector.household_id)
                )
            )
            .scalars()
            .all()
        )
        counted = all(h.ballot_id == ballot.id for h in households)
        proofs: list[tuple[str, str, list[tuple[str, bool]]]] = []
        if status == VoteStatus.CLOSED and counted:
            leaves = await _leaves(session, ballot.vote_id)
            order = (
                (
                    await session.execute(
                        sa.select(VoteElector.household_id)
                        .where(VoteElector.vote_id == ballot.vote_id, VoteElector.ballot_id.is_not(None))
                        .order_by(VoteElector.household_id)
                    )
                )
                .scalars()
                .all()
            )
            index = {h: i for i, h in enumerate(order)}
            for h in households:
                i = index[h.household_id]
                proofs.append(
                    (h.number, leaves[i], [(s.sibling, s.sibling_on_left) for s in proof(leaves, i)])
                )
    return ReceiptCheck(
        vote_id=ballot.vote_id,
        choice=Choice(ballot.choice),
        cast_at=ballot.cast_at,
        numbers=[h.number for h in households],
        counted=counted,
        proofs=proofs,
    )
