"""The demo's living story, told through the same resolvers a client would call.

In the pilot, building 6's elevator replacement stalled just below the ¾ line until a building
convener won over the last households door by door. The demo opens that vote and casts the
ballots that leave it there: most of 6栋 has voted, agreement stands just under ¾ by head, and
a few households (6-1-302 among them, 13800000007's) have not voted yet.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from auth.backend import load_person_principal
from models import Building, Compound, Person, Vote, VoteElector, VoteOwner
from models.vote_rules import Choice, VoteMatter
from resolvers import vote as votes
from resolvers.context import Context, Services

COMPOUND = "qianshan-meilin"
TITLE = "6栋加装电梯（既有住宅增设电梯）"
OPENER = "13800000006"  # the owners' committee member
HOLDOUT = "6-1-302"  # left for the newcomer to cast
AGREE, DISAGREE, ABSTAIN = 17, 4, 3  # of 27 heads: 24 take part, 17/24 ≈ 70.8 % agree


async def _context(sessions: async_sessionmaker[AsyncSession], phone: str) -> Context:
    async with sessions() as session:
        person_id = (await session.execute(sa.select(Person.id).where(Person.phone == phone))).scalar_one()
        principal = await load_person_principal(session, person_id)
    assert principal is not None
    services = Services(sessions=sessions, secret="", token_ttl_seconds=0, is_dev=True)
    return Context(principal=principal, services=services)


async def tell(sessions: async_sessionmaker[AsyncSession]) -> bool:
    """Open the building-6 vote with its ballots, unless the compound already has a vote."""
    async with sessions() as session:
        compound = (await session.execute(sa.select(Compound).where(Compound.key == COMPOUND))).scalar()
        if compound is None:
            return False
        if (
            await session.execute(sa.select(Vote.id).where(Vote.compound_id == compound.id).limit(1))
        ).first():
            return False
        building = (
            await session.execute(
                sa.select(Building.id).where(Building.compound_id == compound.id, Building.name == "6栋")
            )
        ).scalar_one()
    opener = await _context(sessions, OPENER)
    vote = await votes.open_vote(
        opener,
        compound_id=compound.id,
        building_ids=[building],
        title=TITLE,
        description=(
            "6栋为1998年建成的7层住宅，申请加装电梯。总造价约62万元，财政补贴后由6栋业主按专有部分面积分摊，"
            "每户约200–300元。改建建筑物及其附属设施（民法典第二百七十八条第一款第七项），"
            "须经参与表决的专有部分面积和人数均四分之三以上同意。"
        ),
        matter=VoteMatter.RENOVATE_OR_REBUILD,
        rule=None,
        closes_at=datetime.now(UTC) + timedelta(days=14),
    )
    async with sessions() as session:
        voters = (
            await session.execute(
                sa.select(Person.phone, sa.func.min(VoteElector.number).label("first"))
                .join(VoteOwner, VoteOwner.person_id == Person.id)
                .join(
                    VoteElector,
                    sa.and_(
                        VoteElector.vote_id == VoteOwner.vote_id,
                        VoteElector.household_id == VoteOwner.household_id,
                    ),
                )
                .where(VoteOwner.vote_id == vote.id, VoteElector.number != HOLDOUT)
                .group_by(Person.phone, VoteElector.head)
                .order_by("first", Person.phone)
            )
        ).all()
    # one voter per head: the first owner (by phone) of each head's first household
    seen_first: set[str] = set()
    plan = [Choice.AGREE] * AGREE + [Choice.DISAGREE] * DISAGREE + [Choice.ABSTAIN] * ABSTAIN
    for phone, first in voters:
        if first in seen_first or not plan:
            continue
        seen_first.add(first)
        await votes.cast_ballot(await _context(sessions, phone), vote_id=vote.id, choice=plan.pop(0))
    return True
