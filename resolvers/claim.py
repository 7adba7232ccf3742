"""Residents' claims to a home (住户自助登记): made in the mini-program, confirmed or rejected by the
staff who keep the register, withdrawn by the claimant while they wait.

A claim is made by the person logged in, for a household named by its compound (the id a compound's
registration QR code carries) and its number; it needs a bound phone, so that the staff can reach
and verify the claimant. Nothing but the claim is written until it is confirmed: no home, so no
access to the compound, its households or its votes. A confirmation makes the home, in the same
transaction that closes the claim, and gives a person still called by WeChat's placeholder the
name they claimed under.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert

from auth.masking import mask_phone
from auth.policy import Action, Resource, params, refusal, require_person, where
from auth.principal import Principal
from models.claim import CLAIM_NAME_MAX, PENDING_MAX, REASON_MAX, ClaimStatus, HomeClaim, decided_problem
from models.enums import HomeRelation
from models.errors import BadUserInputError, ConflictError
from models.person import Home, Person
from models.place import Compound, Household
from resolvers import place
from resolvers.context import Context
from resolvers.homes import RELATION, checked_day, flushed, moved_in, open_home
from resolvers.loaders import visible_row
from resolvers.login import WECHAT_PLACEHOLDER_NAME
from resolvers.pages import Key, Page, order, read, window
from resolvers.pipeline import Outcome, Target, Work, run
from resolvers.text import clean_text

CLAIM = Target(Resource.HOME_CLAIM, HomeClaim)
#: a compound's queue, oldest first (they wait longest); a person's own claims, newest first
QUEUE = order(Key("created_at", datetime), Key("id"))
MINE = order(Key("created_at", datetime, descending=True), Key("id"))
NUMBER_MAX = 30


@dataclass(frozen=True)
class ClaimView:
    """A claim with what its readers are shown of it: the claimant's phone (to the claimant; to
    those who decide while it waits, so that they can call them, and masked once it is decided:
    a claimant who was refused or withdrew is no resident of theirs), the compound's name and the
    household's number as text (the claimant may not read the household itself until the claim
    is confirmed)."""

    id: uuid.UUID
    status: ClaimStatus
    relation: HomeRelation
    name: str
    phone: str | None
    compound_name: str
    household_number: str
    household_id: uuid.UUID
    person_id: uuid.UUID
    home_id: uuid.UUID | None
    reason: str | None
    created_at: datetime
    decided_at: datetime | None


def _views() -> sa.Select:
    c, h, p, k = HomeClaim.__table__, Household.__table__, Person.__table__, Compound.__table__
    return sa.select(
        c.c.id,
        c.c.status,
        c.c.relation,
        c.c.name,
        p.c.phone,
        k.c.name.label("compound_name"),
        h.c.number.label("household_number"),
        c.c.household_id,
        c.c.person_id,
        c.c.home_id,
        c.c.reason,
        c.c.created_at,
        c.c.decided_at,
    ).select_from(
        c.join(h, h.c.id == c.c.household_id)
        .join(k, k.c.id == c.c.compound_id)
        .join(p, p.c.id == c.c.person_id)
    )


def _view(r: sa.Row, who: Principal) -> ClaimView:
    status = ClaimStatus(r.status)
    phone = r.phone
    if phone is not None and status != ClaimStatus.PENDING and r.person_id != getattr(who, "person_id", None):
        phone = mask_phone(phone)
    return ClaimView(**{**r._mapping, "status": status, "relation": HomeRelation(r.relation), "phone": phone})


async def view(ctx: Context, claim_id: uuid.UUID) -> ClaimView:
    """A claim the caller may read; the one not-visible answer otherwise."""
    c = HomeClaim.__table__
    found = await visible_row(ctx, _views().where(c.c.id == claim_id), Resource.HOME_CLAIM, c)
    return _view(found, ctx.principal)


async def claim_home(
    ctx: Context, *, compound_id: uuid.UUID, number: str, relation: HomeRelation, name: str
) -> ClaimView:
    """Claim to own or rent a household. Refused with what to do when the claimant has no phone
    yet, names a household that is not there, already lives there, or waits on enough claims."""
    who = require_person(ctx.principal)
    name = clean_text(name, field="name", label="姓名", maximum=CLAIM_NAME_MAX) or ""
    number = clean_text(number, field="number", label="房号", maximum=NUMBER_MAX) or ""
    async with ctx.sessions() as session, session.begin():
        # the claimant's row, locked: their claims are counted and made one at a time
        me = (
            await session.execute(sa.select(Person.phone).where(Person.id == who.person_id).with_for_update())
        ).first()
        if me is None or me.phone is None:
            raise ConflictError("请先在小程序中绑定手机号，再申请登记住户，以便社区与您核实。")
        if (await session.execute(sa.select(Compound.id).where(Compound.id == compound_id))).first() is None:
            raise BadUserInputError("找不到这个小区，请重新扫描小区的住户登记二维码。", field="compoundId")
        household = (
            await session.execute(
                sa.select(Household.id, Household.building_id).where(
                    Household.compound_id == compound_id, Household.number == number
                )
            )
        ).first()
        if household is None:
            raise BadUserInputError("这个小区没有这一户，请核对房号（例如 6-1-302）。", field="number")
        held = await open_home(session, household.id, who.person_id)
        if held is not None:
            raise ConflictError(f"您已登记为这一户的{RELATION[HomeRelation(held.relation)]}，不必再申请。")
        waiting = await session.execute(
            sa.select(sa.func.count())
            .select_from(HomeClaim)
            .where(HomeClaim.person_id == who.person_id, HomeClaim.status == ClaimStatus.PENDING)
        )
        if waiting.scalar_one() >= PENDING_MAX:
            raise ConflictError(f"您已有 {PENDING_MAX} 条待确认的住户登记申请，请等社区处理后再申请。")
        made = await session.execute(
            insert(HomeClaim)
            .values(
                compound_id=compound_id,
                building_id=household.building_id,
                household_id=household.id,
                person_id=who.person_id,
                relation=relation,
                name=name,
            )
            .on_conflict_do_nothing(
                index_elements=["household_id", "person_id"], index_where=sa.text("status = 'PENDING'")
            )
            .returning(HomeClaim.id)
        )
        claim_id = made.scalar_one_or_none()
        if claim_id is None:
            raise ConflictError("您已申请登记这一户，正在等待社区确认。")
    return await view(ctx, claim_id)


async def confirm(ctx: Context, *, claim_id: uuid.UUID, starts_on: date | None) -> ClaimView:
    """Confirm a claim: the claimant's home begins (today by default), in the transaction that closes
    the claim. Refused when the claimant already holds a home there (reject the claim instead)."""
    starts = checked_day(starts_on, "startsOn")

    async def apply(work: Work[HomeClaim]) -> Outcome[uuid.UUID]:
        claim, session = work.row, work.session
        _still_pending(claim)
        household = (
            await session.execute(
                sa.select(Household).where(Household.id == claim.household_id).with_for_update(key_share=True)
            )
        ).scalar_one()
        held = await open_home(session, claim.household_id, claim.person_id)
        if held is not None:
            raise ConflictError(
                f"申请人已登记为这一户的{RELATION[HomeRelation(held.relation)]}；请驳回这条申请，或先结束原来的登记。"
            )
        home = Home(
            compound_id=claim.compound_id,
            household_id=claim.household_id,
            person_id=claim.person_id,
            relation=claim.relation,
            starts_on=starts,
        )
        session.add(home)
        moved_in(household, HomeRelation(claim.relation))
        await flushed(session)
        await session.execute(
            sa.update(Person)
            .where(Person.id == claim.person_id, Person.name == WECHAT_PLACEHOLDER_NAME)
            .values(name=claim.name)
        )
        _decide(claim, work, ClaimStatus.CONFIRMED)
        claim.home_id = home.id
        await session.flush()
        return Outcome(claim.id)

    return await view(ctx, await run(ctx, CLAIM, claim_id, Action.MANAGE_HOMES, apply))


async def reject(ctx: Context, *, claim_id: uuid.UUID, reason: str) -> ClaimView:
    """Reject a claim with a reason the claimant reads."""
    why = clean_text(reason, field="reason", label="驳回理由", maximum=REASON_MAX)

    async def apply(work: Work[HomeClaim]) -> Outcome[uuid.UUID]:
        _still_pending(work.row)
        _decide(work.row, work, ClaimStatus.REJECTED)
        work.row.reason = why
        await work.session.flush()
        return Outcome(work.row.id)

    return await view(ctx, await run(ctx, CLAIM, claim_id, Action.MANAGE_HOMES, apply))


async def withdraw(ctx: Context, *, claim_id: uuid.UUID) -> ClaimView:
    """The claimant takes back a claim still waiting."""

    async def apply(work: Work[HomeClaim]) -> Outcome[uuid.UUID]:
        _still_pending(work.row)
        _decide(work.row, work, ClaimStatus.WITHDRAWN)
        await work.session.flush()
        return Outcome(work.row.id)

    return await view(ctx, await run(ctx, CLAIM, claim_id, Action.RETRACT, apply))


def _still_pending(claim: HomeClaim) -> None:
    problem = decided_problem(ClaimStatus(claim.status))
    if problem is not None:
        raise ConflictError(problem)


def _decide(claim: HomeClaim, work: Work[HomeClaim], status: ClaimStatus) -> None:
    claim.status = status
    claim.decided_by = work.who.person_id
    claim.decided_at = datetime.now(UTC)


async def queue(
    ctx: Context,
    *,
    compound_id: uuid.UUID,
    status: ClaimStatus | None,
    first: int | None,
    after: str | None,
) -> Page[ClaimView]:
    """A compound's claims (waiting ones unless `status` says otherwise), oldest first: for the
    staff who keep its register."""
    found = await place.compound(ctx, compound_id=compound_id)
    if not await place.granted(ctx, Resource.COMPOUND, Action.MANAGE_HOMES, Compound).load(found.id):
        raise refusal(Resource.COMPOUND, Action.MANAGE_HOMES)
    c = HomeClaim.__table__
    conditions = [c.c.compound_id == compound_id, where(ctx.principal, Resource.HOME_CLAIM, Action.READ, c)]
    if status is not None:
        conditions.append(c.c.status == status)
    w = window(QUEUE, first=first, after=after)
    page = await read(
        ctx.sessions, _views().where(*conditions), c, QUEUE, w, params(ctx.principal), scalars=False
    )
    return page.map(lambda r: _view(r, ctx.principal))


async def mine(ctx: Context, *, first: int | None, after: str | None) -> Page[ClaimView]:
    """The caller's own claims, newest first, whatever became of them."""
    who = require_person(ctx.principal)
    c = HomeClaim.__table__
    w = window(MINE, first=first, after=after)
    page = await read(ctx.sessions, _views().where(c.c.person_id == who.person_id), c, MINE, w, scalars=False)
    return page.map(lambda r: _view(r, ctx.principal))
