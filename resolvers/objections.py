"""Objections to a published result (公示): an owner of the vote raises one within the objection
window, the owners' committee or the community committee answers it and says whether it is
settled; and where the vote's decision stands (`models.vote_rules.decision`)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from auth.policy import Action, Resource, not_visible, require_person
from models.errors import ConflictError
from models.place import Household
from models.vote import Vote, VoteObjection
from models.vote_rules import Decision, ObjectionStage, VoteKind, VoteResult, VoteStatus, decision
from resolvers.context import Context
from resolvers.loaders import by_key, grouped
from resolvers.pages import Key, Page, order, read, window
from resolvers.pipeline import Outcome, Target, Work, run
from resolvers.place import granted
from resolvers.text import clean_text

TEXT_MAX = 1_000
ANSWER_MAX = 1_000
#: a vote's objections, the earliest first
OBJECTIONS = order(Key("raised_at", datetime), Key("id"))
#: a vote acted on by a record of its own (an objection, a consent), with the database's clock
VOTE = Target(Resource.VOTE, Vote, lock=False, state=lambda: [sa.func.now().label("now")])


@dataclass(frozen=True)
class Standing:
    """Where a closed vote's decision stands, and its unresolved objections."""

    decision: Decision | None
    unresolved: int


def _unresolved(at: Any = None) -> sa.ColumnElement[bool]:
    """Unresolved now, or (`at`) when the window closed: raised by then and not settled by then."""
    o = VoteObjection.__table__
    if at is None:
        return o.c.settled_at.is_(None)
    return sa.and_(o.c.raised_at < at, sa.or_(o.c.settled_at.is_(None), o.c.settled_at > at))


async def standing(ctx: Context, vote: Vote) -> Standing:
    """Of a vote the caller may read: its decision and how many objections stay unresolved."""
    if vote.objection_until is None:
        return Standing(None, 0)
    o = VoteObjection.__table__
    loader = ctx.loaders.cached(
        "vote_objection_counts",
        lambda: grouped(
            ctx.sessions,
            lambda ids: (
                sa.select(
                    o.c.vote_id,
                    sa.func.count().filter(_unresolved()).label("now"),
                    sa.func.count()
                    .filter(
                        o.c.stage == ObjectionStage.RESULT.value,
                        _unresolved(Vote.__table__.c.objection_until),
                    )
                    .label("at_close"),
                )
                .select_from(o.join(Vote.__table__, Vote.__table__.c.id == o.c.vote_id))
                .where(o.c.vote_id.in_(ids))
                .group_by(o.c.vote_id)
            ),
            key=lambda r: r.vote_id,
            value=lambda r: (r.now, r.at_close),
        ),
    )
    counts = await loader.load(vote.id)
    now, at_close = counts[0] if counts else (0, 0)
    result = VoteResult(vote.result) if vote.result else None
    return Standing(
        decision(VoteKind(vote.kind), vote.objection_until, at_close, datetime.now(UTC), result), now
    )


async def raise_objection(ctx: Context, *, vote_id: uuid.UUID, text: str) -> VoteObjection:
    """An owner of the vote objects to its published result, within the window."""
    text = clean_text(text, field="text", label="异议", maximum=TEXT_MAX) or ""

    async def apply(work: Work[Vote]) -> Outcome[VoteObjection]:
        vote = work.row
        if vote.status != VoteStatus.CLOSED or vote.objection_until is None:
            raise ConflictError("表决结束、公布结果后才能对结果提出异议。")
        if work.state["now"] >= vote.objection_until:
            raise ConflictError("结果公示期已经结束，不能再提出异议。")
        row = VoteObjection(
            vote_id=vote.id, compound_id=vote.compound_id, raised_by=work.who.person_id, text=text
        )
        work.session.add(row)
        await work.session.flush()
        await work.session.refresh(row, ["raised_at"])
        return Outcome(row)

    return await run(ctx, VOTE, vote_id, Action.OBJECT, apply)


async def answer(ctx: Context, *, objection_id: uuid.UUID, text: str, settled: bool) -> VoteObjection:
    """The committees' answer; `settled`: the objection is resolved (withdrawn, agreed, or
    dismissed with reasons). An unsettled answer may be followed by another."""
    text = clean_text(text, field="answer", label="答复", maximum=ANSWER_MAX) or ""
    async with ctx.sessions() as session:
        vote_id = (
            await session.execute(sa.select(VoteObjection.vote_id).where(VoteObjection.id == objection_id))
        ).scalar()
    if vote_id is None:
        raise not_visible()

    async def apply(work: Work[Vote]) -> Outcome[VoteObjection]:
        row = (
            await work.session.execute(
                sa.select(VoteObjection).where(VoteObjection.id == objection_id).with_for_update()
            )
        ).scalar_one()
        if row.settled_at is not None:
            raise ConflictError("这条异议已经解决。")
        now = work.state["now"]
        row.answer, row.answered_by, row.answered_at = text, work.who.person_id, now
        row.settled_at = now if settled else None
        await work.session.flush()
        return Outcome(row, detail={"objection": str(row.id), "settled": settled})

    return await run(ctx, VOTE, vote_id, Action.ANSWER_OBJECTIONS, apply)


async def of_vote(ctx: Context, vote: Vote, *, first: int | None, after: str | None) -> Page[VoteObjection]:
    """A vote's objections: all of them for the committees, one's own for anyone else."""
    who = require_person(ctx.principal)
    statement = sa.select(VoteObjection).where(VoteObjection.vote_id == vote.id)
    if not await granted(ctx, Resource.VOTE, Action.ANSWER_OBJECTIONS, Vote).load(vote.id):
        statement = statement.where(VoteObjection.raised_by == who.person_id)
    w = window(OBJECTIONS, first=first, after=after)
    return await read(ctx.sessions, statement, VoteObjection.__table__, OBJECTIONS, w)


async def household_number(ctx: Context, household_id: uuid.UUID) -> str | None:
    """The number of the household a roll objection is about (shown with an objection the caller
    has been given)."""
    loader = ctx.loaders.cached("objection_household", lambda: by_key(ctx.sessions, Household, cache=True))
    found = await loader.load(household_id)
    return found.number if found else None
