"""Works votes: the directly affected households' explicit consents (同意书), given openly and apart
from their secret ballots — by an owner of the household in the app, or as a signed 同意书 the
committees enter with its photo. The latest for each household stands until the close."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import distinct_on
from sqlalchemy.ext.asyncio import AsyncSession

from auth.policy import Action, Resource
from models.errors import BadUserInputError, ConflictError
from models.photos import AttachedTo
from models.vote import Vote, VoteElector, VoteOwner, WorksConsent
from models.vote_rules import VoteKind, VoteStatus
from resolvers import photos
from resolvers.context import Context
from resolvers.loaders import grouped
from resolvers.objections import VOTE
from resolvers.pipeline import Outcome, Work, run
from resolvers.place import granted


@dataclass(frozen=True)
class ConsentView:
    number: str
    agree: bool
    given_at: datetime


def _latest(vote_ids: object) -> sa.Select:
    c, e = WorksConsent.__table__, VoteElector.__table__
    return (
        sa.select(c.c.vote_id, e.c.number, c.c.agree, c.c.given_at)
        .ext(distinct_on(c.c.vote_id, c.c.household_id))
        .select_from(c.join(e, sa.and_(e.c.vote_id == c.c.vote_id, e.c.household_id == c.c.household_id)))
        .where(c.c.vote_id.in_(vote_ids))
        .order_by(c.c.vote_id, c.c.household_id, c.c.given_at.desc())
    )


async def consents(ctx: Context, vote: Vote) -> list[ConsentView]:
    """Each affected household's standing consent or refusal, by number (public: it is signed)."""
    if vote.kind != VoteKind.WORKS:
        return []
    loader = ctx.loaders.cached(
        "works_consents",
        lambda: grouped(
            ctx.sessions,
            _latest,
            key=lambda r: r.vote_id,
            value=lambda r: ConsentView(r.number, r.agree, r.given_at),
        ),
    )
    return sorted(await loader.load(vote.id), key=lambda v: v.number)


async def unconsented(session: AsyncSession, vote: Vote) -> list[str]:
    """At the close: the affected households whose standing word is not a consent, by number."""
    if not vote.affected_household_ids:
        return []
    agreed = {r.number for r in await session.execute(_latest([vote.id])) if r.agree}
    numbers = await session.execute(
        sa.select(VoteElector.number)
        .where(VoteElector.vote_id == vote.id, VoteElector.household_id.in_(vote.affected_household_ids))
        .order_by(VoteElector.number)
    )
    return [n for n in numbers.scalars() if n not in agreed]


async def record(
    ctx: Context, *, vote_id: uuid.UUID, household_id: uuid.UUID, agree: bool, photo_refs: list[str]
) -> ConsentView:
    """An affected household consents to the works, or refuses, while the vote is open: one of its
    owners in the app, or the committees entering its signed 同意书 (with the photo)."""
    refs = photos.parse_refs(photo_refs)

    async def apply(work: Work[Vote]) -> Outcome[ConsentView]:
        session, vote = work.session, work.row
        if vote.kind != VoteKind.WORKS:
            raise BadUserInputError("只有单元或楼栋内的工程表决需要受影响住户的同意书。", field="voteId")
        if vote.status != VoteStatus.OPEN or vote.closes_at <= work.state["now"]:
            raise ConflictError("表决进行中才能登记同意书。")
        if household_id not in vote.affected_household_ids:
            raise BadUserInputError("这户不是本工程直接受影响的住户。", field="householdId")
        owner = (
            await session.execute(
                sa.select(VoteOwner.person_id).where(
                    VoteOwner.vote_id == vote.id,
                    VoteOwner.household_id == household_id,
                    VoteOwner.person_id == work.who.person_id,
                )
            )
        ).first()
        if owner is None:
            if not await granted(ctx, Resource.VOTE, Action.ENTER_PAPER_BALLOTS, Vote).load(vote.id):
                raise BadUserInputError("只能为自己名下的住户表示同意。", field="householdId")
            if not refs:
                raise BadUserInputError("代为登记时请附上业主签字的同意书照片。", field="photos")
        row = WorksConsent(
            vote_id=vote.id,
            compound_id=vote.compound_id,
            household_id=household_id,
            agree=agree,
            recorded_by=work.who.person_id,
        )
        session.add(row)
        await session.flush()
        await photos.attach(session, work.who, AttachedTo.WORKS_CONSENT, row.id, refs)
        await session.refresh(row, ["given_at"])
        number = (
            await session.execute(
                sa.select(VoteElector.number).where(
                    VoteElector.vote_id == vote.id, VoteElector.household_id == household_id
                )
            )
        ).scalar_one()
        return Outcome(ConsentView(number, agree, row.given_at), detail={"household": number, "agree": agree})

    return await run(ctx, VOTE, vote_id, Action.CONSENT, apply)
