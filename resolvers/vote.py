"""Owner votes: open, cast, close, read the tally, the turnout and receipts.

Every ballot of a vote and its close take the vote's tally row `FOR UPDATE` first, so ballots are
applied one at a time per vote, the running tally always equals a recount, and nothing is counted
after the close. Distinct votes never wait for each other.
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from auth.policy import NOT_VISIBLE, Place, Rel, can, require, require_person, scope_clause
from auth.principal import PersonPrincipal, Principal
from models import Building, Compound, Task, Vote, VoteElector, VoteOwner, VoteTally
from models.errors import BadUserInputError, ConflictError, ForbiddenError
from models.vote import Ballot
from models.vote_digest import leaf, proof, receipt_hash, root
from models.vote_rules import (
    Choice,
    HouseholdChange,
    Tally,
    VoteMatter,
    VoteResult,
    VoteRule,
    ballot_delta,
    effective_rule,
)
from resolvers import task as tasks
from resolvers.context import Context
from resolvers.events import notify
from resolvers.ids import page_size
from resolvers.loaders import Page
from resolvers.place import compound_place

TITLE_MAX = 100
DESCRIPTION_MAX = 5_000
LONGEST_VOTE = timedelta(days=366)
TALLY_FIELDS = (
    "eligible_area",
    "eligible_headcount",
    "participating_area",
    "participating_headcount",
    "agree_area",
    "agree_headcount",
    "disagree_area",
    "disagree_headcount",
    "abstain_area",
    "abstain_headcount",
)


def topic(vote_id: uuid.UUID) -> str:
    return f"vote:{vote_id}"


def as_tally(row: VoteTally) -> Tally:
    return Tally(**{name: getattr(row, name) for name in TALLY_FIELDS})


@dataclass(frozen=True)
class TallyView:
    tally: Tally
    rule: VoteRule
    ballots_cast: int


@dataclass(frozen=True)
class CastResult:
    ballot: Ballot
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
    vote: Vote
    choice: Choice
    cast_at: datetime
    numbers: list[str]
    counted: bool
    #: per household: (number, leaf, proof steps) once the vote has closed and published its digest
    proofs: list[tuple[str, str, list[tuple[str, bool]]]]


# --- reading ------------------------------------------------------------------------------------


async def _place(ctx: Context, vote: Vote) -> Place:
    compound = await ctx.loaders.compound.load(vote.compound_id)
    assert compound is not None
    return compound_place(compound)


async def _facts(ctx: Context, vote: Vote) -> frozenset[Rel]:
    principal = ctx.principal
    if not isinstance(principal, PersonPrincipal):
        return frozenset()
    owned = await ctx.loaders.vote_households_of_caller.load(vote.id)
    return frozenset({Rel.ELIGIBLE_OWNER}) if owned else frozenset()


async def can_read(ctx: Context, vote: Vote) -> bool:
    action = "read_open" if vote.status == "OPEN" else "read_closed"
    return can(ctx.principal, "vote", action, await _place(ctx, vote), facts=await _facts(ctx, vote))


async def vote(ctx: Context, *, vote_id: uuid.UUID) -> Vote:
    row = await ctx.loaders.vote.load(vote_id)
    if row is None or not await can_read(ctx, row):
        raise ForbiddenError(NOT_VISIBLE)
    return row


async def tally(ctx: Context, row: Vote) -> TallyView:
    """The live tally (or the final one): readable by whoever may read the vote itself."""
    if not await can_read(ctx, row):
        raise ForbiddenError(NOT_VISIBLE)
    counted = await ctx.loaders.vote_tally.load(row.id)
    assert counted is not None
    return TallyView(as_tally(counted), VoteRule(row.rule), counted.ballots_cast)


async def my_ballot(ctx: Context, row: Vote) -> list[HouseholdVote]:
    """The caller's own households in the electorate and how each currently stands."""
    return [
        HouseholdVote(h.household_id, h.number, h.area, Choice(h.choice) if h.choice else None)
        for h in await ctx.loaders.vote_households_of_caller.load(row.id)
    ]


async def turnout(ctx: Context, row: Vote, *, first: int | None, offset: int) -> Page[VoteElector]:
    """Households that have not voted yet, for door-knocking: never anyone's choice."""
    place = await _place(ctx, row)
    require(ctx.principal, "vote.turnout", "read", _widest(place, ctx.principal))
    limit = page_size(first)
    where = scope_clause(
        ctx.principal,
        "vote.turnout",
        "read",
        {"compound": VoteElector.compound_id, "building": VoteElector.building_id},
    )
    statement = (
        sa.select(VoteElector)
        .where(VoteElector.vote_id == row.id, VoteElector.choice.is_(None), where)
        .order_by(VoteElector.number, VoteElector.household_id)
        .offset(offset)
        .limit(limit + 1)
    )
    async with ctx.sessions() as session:
        rows = list((await session.execute(statement)).scalars())
    return Page(rows[:limit], offset, len(rows) > limit)


def _widest(place: Place, principal: Principal) -> Place:
    """A building convener holds turnout rights for their building: the compound-level check asks
    whether the caller convenes any building of it; the list then keeps only theirs."""
    if isinstance(principal, PersonPrincipal) and place.compound_id is not None:
        for position in principal.positions:
            if position.compound_id == place.compound_id and position.building_id is not None:
                return Place(place.community_id, place.grid_id, place.compound_id, position.building_id)
    return place


@dataclass(frozen=True)
class ElectorView:
    number: str
    area: Decimal
    #: the headcount group as a number within this vote (first appearance by household number);
    #: says which households count as one person without revealing whose they are
    group: int


async def electorate(ctx: Context, row: Vote, *, first: int | None, offset: int) -> Page[ElectorView]:
    require(ctx.principal, "vote.electorate", "read", await _place(ctx, row))
    limit = page_size(first)
    firsts = (
        sa.select(VoteElector.head, sa.func.min(VoteElector.number).label("first"))
        .where(VoteElector.vote_id == row.id)
        .group_by(VoteElector.head)
        .subquery()
    )
    groups = sa.select(
        firsts.c.head, sa.func.row_number().over(order_by=(firsts.c.first, firsts.c.head)).label("group")
    ).subquery()
    statement = (
        sa.select(VoteElector.number, VoteElector.area, groups.c.group)
        .join(groups, groups.c.head == VoteElector.head)
        .where(VoteElector.vote_id == row.id)
        .order_by(VoteElector.number, VoteElector.household_id)
        .offset(offset)
        .limit(limit + 1)
    )
    async with ctx.sessions() as session:
        rows = [ElectorView(n, a, g) for n, a, g in (await session.execute(statement)).all()]
    return Page(rows[:limit], offset, len(rows) > limit)


async def votes_of_compound(
    ctx: Context, compound: Compound, *, first: int | None, offset: int
) -> Page[Vote]:
    """The compound's votes the caller may read, newest first."""
    limit = page_size(first)
    place = compound_place(compound)
    open_ok = can(ctx.principal, "vote", "read_open", place)
    closed_ok = can(ctx.principal, "vote", "read_closed", place)
    mine = sa.false()
    if isinstance(ctx.principal, PersonPrincipal):
        mine = sa.exists().where(VoteOwner.vote_id == Vote.id, VoteOwner.person_id == ctx.principal.person_id)
    visible = sa.or_(
        sa.and_(Vote.status == "OPEN", sa.true() if open_ok else mine),
        sa.and_(Vote.status == "CLOSED", sa.true() if closed_ok else mine),
    )
    statement = (
        sa.select(Vote)
        .where(Vote.compound_id == compound.id, visible)
        .order_by(Vote.created_at.desc(), Vote.id)
        .offset(offset)
        .limit(limit + 1)
    )
    async with ctx.sessions() as session:
        rows = list((await session.execute(statement)).scalars())
    for r in rows:
        ctx.loaders.vote.prime(r.id, r)
    return Page(rows[:limit], offset, len(rows) > limit)


# --- opening ------------------------------------------------------------------------------------


async def open_vote(
    ctx: Context,
    *,
    compound_id: uuid.UUID,
    building_ids: list[uuid.UUID],
    title: str,
    description: str,
    matter: VoteMatter,
    rule: VoteRule | None,
    closes_at: datetime,
    task_id: uuid.UUID | None = None,
    now: datetime | None = None,
) -> Vote:
    principal = require_person(ctx.principal)
    compound = await ctx.loaders.compound.load(compound_id)
    if compound is None:
        raise ForbiddenError(NOT_VISIBLE)
    require(principal, "compound", "read", compound_place(compound))  # the same answer as a missing one
    require(
        principal,
        "vote",
        "open",
        compound_place(compound),
        message="只有本小区的业委会成员或社区“两委”成员可以发起表决。",
    )
    if task_id is not None:
        linked = await ctx.loaders.task.load(task_id)
        if linked is None or linked.compound_id != compound.id or not await tasks.can_read(ctx, linked):
            raise BadUserInputError("关联的事项不存在，或不属于该小区。", field="taskId")
    title = tasks.clean_text(title, field="title", label="表决标题", maximum=TITLE_MAX) or ""
    description = (
        tasks.clean_text(description, field="description", label="表决说明", maximum=DESCRIPTION_MAX) or ""
    )
    chosen = effective_rule(matter, rule)
    if chosen is None:
        raise BadUserInputError(
            "该事项依法须经专有部分面积和人数四分之三以上同意（特别多数），不能改为普通多数。", field="rule"
        )
    now = now or datetime.now(UTC)
    if closes_at.tzinfo is None:
        raise BadUserInputError("截止时间必须带时区，例如 2026-12-31T18:00:00+08:00。", field="closesAt")
    if closes_at <= now + timedelta(minutes=1):
        raise BadUserInputError("截止时间必须晚于现在。", field="closesAt")
    if closes_at > now + LONGEST_VOTE:
        raise BadUserInputError("表决时间不能超过一年。", field="closesAt")
    unique_buildings = sorted(set(building_ids))

    async with ctx.sessions() as session, session.begin():
        if unique_buildings:
            found = set(
                (
                    await session.execute(
                        sa.select(Building.id).where(
                            Building.id.in_(unique_buildings), Building.compound_id == compound.id
                        )
                    )
                ).scalars()
            )
            if found != set(unique_buildings):
                raise BadUserInputError("所选楼栋不属于该小区。", field="buildingIds")
        row = Vote(
            compound_id=compound.id,
            building_ids=unique_buildings,
            title=title,
            description=description,
            matter=matter,
            rule=chosen,
            status="OPEN",
            closes_at=closes_at,
            task_id=task_id,
            opened_by=principal.person_id,
        )
        session.add(row)
        await session.flush()
        await _freeze_electorate(session, row)
        totals = (
            await session.execute(
                sa.select(sa.func.count(), sa.func.coalesce(sa.func.sum(VoteElector.area), 0)).where(
                    VoteElector.vote_id == row.id
                )
            )
        ).one()
        if totals[0] == 0:
            raise BadUserInputError("表决范围内没有住户，无法发起表决。", field="buildingIds")
        heads = (
            await session.execute(
                sa.select(sa.func.count(sa.distinct(VoteElector.head))).where(VoteElector.vote_id == row.id)
            )
        ).scalar_one()
        session.add(
            VoteTally(
                vote_id=row.id, compound_id=compound.id, eligible_area=totals[1], eligible_headcount=heads
            )
        )
        if task_id is not None:
            linked_row = (
                await session.execute(sa.select(Task).where(Task.id == task_id).with_for_update())
            ).scalar_one()
            await tasks.add_event(
                session,
                linked_row,
                "VOTE_OPENED",
                actor_id=principal.person_id,
                role="TEAM",
                payload={"text": f"发起业主表决「{title}」", "vote": str(row.id)},
            )
        await notify(session, f"compound-votes:{compound.id}")
    return row


async def _freeze_electorate(session: AsyncSession, row: Vote) -> None:
    """Copy the households in scope, their areas and owner sets: later changes never move them.

    Owners are copied first and each household's headcount group is computed from that copy, so
    the groups and the owner sets come from one reading of `home` even if an import commits
    between the two statements."""
    params = {"vote": row.id, "compound": row.compound_id, "buildings": row.building_ids}
    in_scope = (
        "h.compound_id = :compound AND (cardinality(CAST(:buildings AS uuid[])) = 0 "
        "OR h.building_id = ANY(CAST(:buildings AS uuid[])))"
    )
    await session.execute(
        sa.text(
            "INSERT INTO vote_owner (vote_id, household_id, person_id, compound_id) "
            "SELECT :vote, o.household_id, o.person_id, h.compound_id FROM home o "
            f"JOIN household h ON h.id = o.household_id WHERE o.relation = 'OWNER' AND {in_scope}"
        ),
        params,
    )
    await session.execute(
        sa.text(
            "INSERT INTO vote_electorate (vote_id, household_id, compound_id, building_id, number, area, head) "
            "SELECT :vote, h.id, h.compound_id, h.building_id, h.number, h.area, COALESCE("
            "  (SELECT md5(string_agg(o.person_id::text, ',' ORDER BY o.person_id)) FROM vote_owner o "
            "   WHERE o.vote_id = :vote AND o.household_id = h.id),"
            "  'household:' || h.id::text) "
            f"FROM household h WHERE {in_scope}"
        ),
        params,
    )


# --- casting ------------------------------------------------------------------------------------


async def cast_ballot(
    ctx: Context, *, vote_id: uuid.UUID, choice: Choice, now: datetime | None = None
) -> CastResult:
    principal = require_person(ctx.principal)
    async with ctx.sessions() as session, session.begin():
        counted = (
            await session.execute(sa.select(VoteTally).where(VoteTally.vote_id == vote_id).with_for_update())
        ).scalar()
        row = (await session.execute(sa.select(Vote).where(Vote.id == vote_id))).scalar()
        if counted is None or row is None:
            raise ForbiddenError(NOT_VISIBLE)
        mine = (
            (
                await session.execute(
                    sa.select(VoteElector)
                    .join(
                        VoteOwner,
                        sa.and_(
                            VoteOwner.vote_id == VoteElector.vote_id,
                            VoteOwner.household_id == VoteElector.household_id,
                        ),
                    )
                    .where(VoteElector.vote_id == vote_id, VoteOwner.person_id == principal.person_id)
                    .order_by(VoteElector.number)
                )
            )
            .scalars()
            .all()
        )
        if not mine:
            if await can_read(ctx, row):
                raise ForbiddenError("只有表决范围内住户的业主才能投票（租户不能投票）。")
            raise ForbiddenError(NOT_VISIBLE)
        # the database's clock, read under the lock: the same clock the closing job and cast_at use
        now = now or (await session.execute(sa.select(sa.func.clock_timestamp()))).scalar_one()
        if row.status != "OPEN" or row.closes_at <= now:
            raise ConflictError(
                f"表决已于 {row.closes_at.astimezone(_CHINA):%Y-%m-%d %H:%M} 截止，不能再投票。"
            )
        delta = ballot_delta(
            HouseholdChange(h.area, h.head, Choice(h.choice) if h.choice else None, choice) for h in mine
        )
        code = secrets.token_urlsafe(24)
        ballot = Ballot(
            vote_id=vote_id,
            compound_id=row.compound_id,
            person_id=principal.person_id,
            choice=choice,
            household_ids=[h.household_id for h in mine],
            receipt_hash=receipt_hash(code),
        )
        session.add(ballot)
        await session.flush()
        await session.execute(
            sa.update(VoteElector)
            .where(
                VoteElector.vote_id == vote_id, VoteElector.household_id.in_([h.household_id for h in mine])
            )
            .values(choice=choice.value, ballot_id=ballot.id)
        )
        await session.execute(
            sa.update(VoteTally)
            .where(VoteTally.vote_id == vote_id)
            .values(
                ballots_cast=VoteTally.ballots_cast + 1,
                **{name: getattr(VoteTally, name) + getattr(delta, name) for name in TALLY_FIELDS},
            )
        )
        await notify(session, topic(vote_id))
        await session.refresh(ballot)
    return CastResult(ballot=ballot, receipt=code, numbers=[h.number for h in mine])


_CHINA = __import__("zoneinfo").ZoneInfo("Asia/Shanghai")


# --- closing ------------------------------------------------------------------------------------


async def close_vote(ctx: Context, *, vote_id: uuid.UUID) -> Vote:
    principal = require_person(ctx.principal)
    row = await ctx.loaders.vote.load(vote_id)
    if row is None or not await can_read(ctx, row):
        raise ForbiddenError(NOT_VISIBLE)
    require(
        principal,
        "vote",
        "close",
        await _place(ctx, row),
        message="只有本小区的业委会成员或社区“两委”成员可以结束表决。",
    )
    async with ctx.sessions() as session, session.begin():
        closed = await _close(session, vote_id, closed_by=principal.person_id)
        if closed is None:
            raise ConflictError("该表决已经结束，结果不能更改。")
    ctx.loaders.vote.clear(vote_id)
    return closed


async def _close(session: AsyncSession, vote_id: uuid.UUID, *, closed_by: uuid.UUID | None) -> Vote | None:
    """Close one vote in the caller's transaction: lock order vote, then tally (as every closer)."""
    row = (
        await session.execute(
            sa.select(Vote).where(Vote.id == vote_id, Vote.status == "OPEN").with_for_update()
        )
    ).scalar()
    if row is None:
        return None
    counted = (
        await session.execute(sa.select(VoteTally).where(VoteTally.vote_id == vote_id).with_for_update())
    ).scalar_one()
    final = as_tally(counted)
    row.status = "CLOSED"
    row.result = final.result(VoteRule(row.rule))
    row.closed_at = datetime.now(UTC)
    row.closed_by = closed_by
    row.digest = root(await _leaves(session, vote_id))
    await notify(session, topic(vote_id))
    await session.flush()
    return row


async def _leaves(session: AsyncSession, vote_id: uuid.UUID) -> list[str]:
    rows = await session.execute(
        sa.select(VoteElector.household_id, VoteElector.choice, Ballot.receipt_hash)
        .join(Ballot, Ballot.id == VoteElector.ballot_id)
        .where(VoteElector.vote_id == vote_id)
        .order_by(VoteElector.household_id)
    )
    return [leaf(str(vote_id), str(h), c, r) for h, c, r in rows]


async def close_due_votes(sessions: async_sessionmaker[AsyncSession], *, limit: int = 100) -> int:
    """Close every open vote whose time is up. Safe in many processes at once (SKIP LOCKED)."""
    closed = 0
    async with sessions() as session, session.begin():
        due = (
            (
                await session.execute(
                    sa.select(Vote.id)
                    .where(Vote.status == "OPEN", Vote.closes_at <= sa.func.now())
                    .order_by(Vote.closes_at)
                    .limit(limit)
                    .with_for_update(skip_locked=True)
                )
            )
            .scalars()
            .all()
        )
        for vote_id in due:
            if await _close(session, vote_id, closed_by=None) is not None:
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
        row = (await session.execute(sa.select(Vote).where(Vote.id == ballot.vote_id))).scalar_one()
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
        if row.status == "CLOSED" and counted:
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
        vote=row,
        choice=Choice(ballot.choice),
        cast_at=ballot.cast_at,
        numbers=[h.number for h in households],
        counted=counted,
        proofs=proofs,
    )


__all__ = ["VoteResult"]
