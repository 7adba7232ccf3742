"""A vote's owner roll (业主名册) as it is published (公示): before the vote opens, the households in
its scope from the register as it stands, so that a correction shows at once; from its opening, the
electorate as frozen. Owners' names are masked. Owners object to their own entry before the vote
opens; the committees settle each objection (`resolvers.objections.answer`), correcting the
register first, and the vote opens only once all are settled."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import aggregate_order_by

from auth.masking import mask_name
from auth.policy import Action, Resource, refusal
from models.enums import HomeRelation
from models.errors import BadUserInputError, ConflictError
from models.person import Home, Person
from models.photos import AttachedTo
from models.place import Household
from models.terms import in_force
from models.vote import Vote, VoteElector, VoteObjection, VoteOwner
from models.vote_rules import ObjectionStage, RollIssue, VoteStatus
from resolvers import photos
from resolvers.context import Context
from resolvers.objections import TEXT_MAX, VOTE
from resolvers.pages import Key, Page, order, read, window
from resolvers.pipeline import Outcome, Work, run
from resolvers.place import granted
from resolvers.text import clean_text

ENTRIES = order(Key("number", str))


@dataclass(frozen=True)
class RollEntry:
    household_id: uuid.UUID
    number: str
    area: Decimal
    #: the owners' names, masked
    owners: list[str]


async def roll(ctx: Context, vote: Vote, *, first: int | None, after: str | None) -> Page[RollEntry]:
    """The roll as published, by household number, for the people of the compound."""
    if not await granted(ctx, Resource.VOTE, Action.READ_ROLL, Vote).load(vote.id):
        raise refusal(Resource.VOTE, Action.READ_ROLL)
    p = Person.__table__
    if vote.status == VoteStatus.ANNOUNCED:
        h, home = Household.__table__, Home.__table__
        names = (
            sa.select(sa.func.array_agg(aggregate_order_by(p.c.name, p.c.name)))
            .select_from(home.join(p, p.c.id == home.c.person_id))
            .where(home.c.household_id == h.c.id, home.c.relation == HomeRelation.OWNER.value, in_force(home))
            .scalar_subquery()
        )
        statement = sa.select(
            h.c.id.label("household_id"), h.c.number, h.c.area, names.label("owners")
        ).where(h.c.compound_id == vote.compound_id)
        if vote.building_ids:
            statement = statement.where(h.c.building_id.in_(vote.building_ids))
        table = h
    else:
        e, o = VoteElector.__table__, VoteOwner.__table__
        names = (
            sa.select(sa.func.array_agg(aggregate_order_by(p.c.name, p.c.name)))
            .select_from(o.join(p, p.c.id == o.c.person_id))
            .where(o.c.vote_id == e.c.vote_id, o.c.household_id == e.c.household_id)
            .scalar_subquery()
        )
        statement = sa.select(e.c.household_id, e.c.number, e.c.area, names.label("owners")).where(
            e.c.vote_id == vote.id
        )
        table = e
    w = window(ENTRIES, first=first, after=after)
    page = await read(ctx.sessions, statement, table, ENTRIES, w, scalars=False)
    return page.map(
        lambda r: RollEntry(r.household_id, r.number, r.area, [mask_name(n) or "" for n in r.owners or ()])
    )


async def object_to_entry(
    ctx: Context,
    *,
    vote_id: uuid.UUID,
    household_id: uuid.UUID,
    issue: RollIssue,
    text: str,
    photo_refs: list[str],
) -> VoteObjection:
    """An owner objects to their own household's entry of an announced vote's roll (a wrong area,
    a co-owner missing, a flat sold), with evidence."""
    text = clean_text(text, field="text", label="异议", maximum=TEXT_MAX) or ""
    refs = photos.parse_refs(photo_refs)

    async def apply(work: Work[Vote]) -> Outcome[VoteObjection]:
        session, vote = work.session, work.row
        if vote.status != VoteStatus.ANNOUNCED or work.state["now"] >= vote.opens_at:
            raise ConflictError("业主名册公示期内才能对名册提出异议。")
        statement = sa.select(Household.id).where(
            Household.id == household_id, Household.compound_id == vote.compound_id
        )
        if vote.building_ids:
            statement = statement.where(Household.building_id.in_(vote.building_ids))
        owned = statement.where(
            sa.exists().where(
                Home.household_id == Household.id,
                Home.person_id == work.who.person_id,
                Home.relation == HomeRelation.OWNER,
                in_force(Home.__table__),
            )
        )
        if (await session.execute(owned)).first() is None:
            raise BadUserInputError("只能对自己名下、在表决范围内的住户提出名册异议。", field="householdId")
        row = VoteObjection(
            vote_id=vote.id,
            compound_id=vote.compound_id,
            raised_by=work.who.person_id,
            stage=ObjectionStage.ROLL,
            household_id=household_id,
            issue=issue,
            text=text,
        )
        session.add(row)
        await session.flush()
        await photos.attach(session, work.who, AttachedTo.VOTE_OBJECTION, row.id, refs)
        await session.refresh(row, ["raised_at"])
        return Outcome(row)

    return await run(ctx, VOTE, vote_id, Action.OBJECT_TO_ROLL, apply)
