"""The register of who lives where: homes added and ended, a flat's sale recorded.

Every change locks the household first (`resolvers.pipeline.run` on `Action.MANAGE_HOMES`), so of
two staff changing one household at once the second sees what the first did. A home is never
deleted: it ends (`models.terms`). An open vote's electorate was frozen when it opened
(`resolvers.vote._freeze_electorate`) and is not touched here: a sale during a vote changes the
next vote, not this one.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from auth.masking import mask_phone
from auth.policy import Action, Resource, not_visible, params, refusal, where
from models.enums import HomeRelation
from models.errors import BadUserInputError, ConflictError
from models.person import NAME_MAX, PHONE_PATTERN, Home, Person
from models.place import Household, area_problem
from models.terms import end_problem, term_problem, today
from resolvers import place
from resolvers.context import Context
from resolvers.pages import Key, Page, order, read, window
from resolvers.pipeline import Outcome, Target, Work, run
from resolvers.text import clean_text

HOUSEHOLD = Target(Resource.HOUSEHOLD, Household)
#: the order of every list of terms (homes, positions, roles): the latest to begin first
TERMS = order(
    Key("starts_on", date, descending=True), Key("created_at", datetime, descending=True), Key("id")
)
#: co-owners of one flat, at most
OWNERS_MAX = 10
RELATION = {HomeRelation.OWNER: "业主", HomeRelation.TENANT: "租户"}


@dataclass(frozen=True)
class PersonRef:
    """Someone the caller may already see (`person_id`), or a name and a phone: the person with
    that phone if there is one under that name, else a new person."""

    person_id: uuid.UUID | None = None
    name: str | None = None
    phone: str | None = None


def checked_day(day: date | None, field: str) -> date:
    now = today()
    chosen = day or now
    problem = term_problem(chosen, None, now=now)
    if problem is not None:
        raise BadUserInputError(problem[1], field=field)
    return chosen


def clean_person(ref: PersonRef, field: str) -> PersonRef:
    """A reference as the rules take it, or `BAD_USER_INPUT` naming what to fix."""
    if ref.person_id is not None:
        if ref.name is not None or ref.phone is not None:
            raise BadUserInputError("已选择人员时不必再填写姓名和手机号。", field=f"{field}.personId")
        return ref
    name = clean_text(ref.name, field=f"{field}.name", label="姓名", maximum=NAME_MAX)
    phone = (ref.phone or "").strip()
    if not re.fullmatch(PHONE_PATTERN, phone):
        raise BadUserInputError("手机号格式不正确：应为以 1 开头的 11 位数字。", field=f"{field}.phone")
    return PersonRef(name=name, phone=phone)


async def person_of(work: Work[Any], ref: PersonRef, field: str) -> uuid.UUID:
    """The person a (cleaned) reference names, made when new, in the mutation's transaction."""
    session = work.session
    if ref.person_id is not None:
        p = Person.__table__
        seen = sa.select(p.c.id).where(
            p.c.id == ref.person_id, where(work.who, Resource.PERSON, Action.READ, p)
        )
        if (await session.execute(seen, params(work.who))).first() is None:
            raise BadUserInputError("找不到这位人员，或您无权查看。", field=f"{field}.personId")
        return ref.person_id
    # ON CONFLICT: of two staff registering one new phone at once, both end with the same person
    made = await session.execute(
        insert(Person).values(name=ref.name, phone=ref.phone).on_conflict_do_nothing().returning(Person.id)
    )
    new = made.scalar_one_or_none()
    if new is not None:
        return new
    found = (await session.execute(sa.select(Person.id, Person.name).where(Person.phone == ref.phone))).one()
    if found.name != ref.name:
        raise ConflictError(
            f"手机号 {mask_phone(ref.phone)} 已登记在另一位人员名下，请核对姓名和手机号；"
            "如需更正已登记的姓名，请先修改该人员信息。"
        )
    return found.id


async def open_home(session: AsyncSession, household_id: uuid.UUID, person_id: uuid.UUID) -> Home | None:
    statement = (
        sa.select(Home)
        .where(Home.household_id == household_id, Home.person_id == person_id, Home.ends_on.is_(None))
        .with_for_update()
    )
    return (await session.execute(statement)).scalars().first()


async def add_home(
    ctx: Context,
    *,
    household_id: uuid.UUID,
    person: PersonRef,
    relation: HomeRelation,
    starts_on: date | None,
) -> Home:
    """Record that someone owns or rents a household from a day on (today by default)."""
    ref = clean_person(person, "person")
    starts = checked_day(starts_on, "startsOn")

    async def apply(work: Work[Household]) -> Outcome[Home]:
        person_id = await person_of(work, ref, "person")
        held = await open_home(work.session, work.row.id, person_id)
        if held is not None:
            raise ConflictError(
                f"这位人员已登记为这一户的{RELATION[HomeRelation(held.relation)]}；"
                "如需变更，请先结束原来的登记。"
            )
        home = Home(
            compound_id=work.row.compound_id,
            household_id=work.row.id,
            person_id=person_id,
            relation=relation,
            starts_on=starts,
        )
        work.session.add(home)
        moved_in(work.row, relation)
        await flushed(work.session)
        return Outcome(home)

    return await run(ctx, HOUSEHOLD, household_id, Action.MANAGE_HOMES, apply)


async def flushed(session: AsyncSession) -> None:
    """Write a new home. The household is locked, so only an import running meanwhile (which
    writes homes without locking households) can have made the same term first: a conflict."""
    try:
        await session.flush()
    except IntegrityError:
        raise ConflictError("这一户的登记刚刚有了变化，请刷新后再试。") from None


def moved_in(household: Household, relation: HomeRelation) -> None:
    """A tenant moving in ends a vacancy (the household's row is locked by the caller); an owner
    may own a flat nobody lives in, so a new owner does not."""
    if relation == HomeRelation.TENANT:
        household.vacant_since = None


async def mark_vacant(
    ctx: Context, *, household_id: uuid.UUID, vacant: bool, since: date | None
) -> Household:
    """Mark a household vacant from a day on (today by default), its tenants' homes ending on that
    day; or lived in again. Its owners keep their homes, and their vote."""
    if not vacant and since is not None:
        raise BadUserInputError("取消空置时不必填写日期。", field="since")
    day = checked_day(since, "since") if vacant else None

    async def apply(work: Work[Household]) -> Outcome[Household]:
        household = work.row
        if not vacant:
            if household.vacant_since is None:
                raise ConflictError("这一户没有登记为空置。")
            household.vacant_since = None
        else:
            if household.vacant_since is not None:
                raise ConflictError(f"这一户已自 {household.vacant_since:%Y-%m-%d} 起登记为空置。")
            tenants = await work.session.execute(
                sa.select(Home)
                .where(
                    Home.household_id == household.id,
                    Home.relation == HomeRelation.TENANT,
                    sa.or_(Home.ends_on.is_(None), Home.ends_on > day),
                )
                .with_for_update()
            )
            now = today()
            for home in tenants.scalars():
                if home.starts_on > day:
                    raise ConflictError(
                        f"这一户有一位租户从 {home.starts_on:%Y-%m-%d} 起入住，晚于空置日期，请先核对。"
                    )
                if home.ends_on is not None and home.ends_on <= now:
                    # a tenancy that has ended is history: it is not rewritten to fit the vacancy
                    raise ConflictError(
                        f"这一户有一位租户住到 {home.ends_on:%Y-%m-%d}，晚于空置日期，请先核对空置日期。"
                    )
                home.ends_on = day
                home.ended_by = work.who.person_id
            household.vacant_since = day
        await work.session.flush()
        return Outcome(household)

    return await run(ctx, HOUSEHOLD, household_id, Action.MANAGE_HOMES, apply)


#: the longest reason given for correcting an area
REASON_MAX = 200


async def correct_area(ctx: Context, *, household_id: uuid.UUID, area: Decimal, reason: str) -> Household:
    """Correct a household's floor area (from the property certificate, say, after an owner's
    objection to a vote's roll), with the reason on the audit trail. An open vote keeps the area
    it froze; an announced one counts the corrected area when it opens."""
    reason = clean_text(reason, field="reason", label="更正原因", maximum=REASON_MAX) or ""
    problem = area_problem(area)
    if problem is not None:
        raise BadUserInputError(problem, field="area")
    area = area.quantize(Decimal("0.01"))

    async def apply(work: Work[Household]) -> Outcome[Household]:
        household = work.row
        if household.area == area:
            raise ConflictError(f"这一户登记的面积已是 {area} 平方米。")
        before, household.area = household.area, area
        await work.session.flush()
        detail = {"household": str(household.id), "from": str(before), "to": str(area), "reason": reason}
        return Outcome(household, detail=detail)

    return await run(ctx, HOUSEHOLD, household_id, Action.MANAGE_HOMES, apply)


async def end_home(ctx: Context, *, home_id: uuid.UUID, ends_on: date | None) -> Home:
    """End a home on a day (today by default: the first day it no longer holds); kept as history."""
    ends = ends_on or today()
    async with ctx.sessions() as session:
        household_id = (
            await session.execute(sa.select(Home.household_id).where(Home.id == home_id))
        ).scalar_one_or_none()
    if household_id is None:
        raise not_visible()

    async def apply(work: Work[Household]) -> Outcome[Home]:
        home = (
            await work.session.execute(sa.select(Home).where(Home.id == home_id).with_for_update())
        ).scalar_one()
        problem = end_problem(home.starts_on, home.ends_on, ends, now=today())
        if problem is not None:
            raise (ConflictError if home.ends_on is not None else BadUserInputError)(problem, field="endsOn")
        home.ends_on = ends
        home.ended_by = work.who.person_id
        await work.session.flush()
        return Outcome(home)

    return await run(ctx, HOUSEHOLD, household_id, Action.MANAGE_HOMES, apply)


async def transfer_ownership(
    ctx: Context, *, household_id: uuid.UUID, on: date, new_owners: list[PersonRef]
) -> list[Home]:
    """A sale: every owner's home ends on `on` and each new owner's begins on it (an owner who
    stays, a co-owner buying the other's share, keeps their home). A tenant who buys the flat stops
    being its tenant. Votes already open keep the electorate they froze."""
    if not new_owners:
        raise BadUserInputError("请至少填写一位新业主。", field="newOwners")
    if len(new_owners) > OWNERS_MAX:
        raise BadUserInputError(f"一户最多登记 {OWNERS_MAX} 位业主。", field="newOwners")
    refs = [clean_person(ref, f"newOwners[{i}]") for i, ref in enumerate(new_owners)]
    day = checked_day(on, "on")

    async def apply(work: Work[Household]) -> Outcome[list[Home]]:
        session = work.session
        buyers: list[uuid.UUID] = []
        for i, ref in enumerate(refs):
            person_id = await person_of(work, ref, f"newOwners[{i}]")
            if person_id in buyers:
                raise BadUserInputError("新业主中有重复的人员。", field=f"newOwners[{i}]")
            buyers.append(person_id)
        current = (
            (
                await session.execute(
                    sa.select(Home)
                    .where(
                        Home.household_id == work.row.id,
                        sa.or_(Home.ends_on.is_(None), Home.ends_on > day),
                    )
                    .order_by(Home.starts_on, Home.id)
                    .with_for_update()
                )
            )
            .scalars()
            .all()
        )
        staying = set()
        for home in current:
            owner = home.relation == HomeRelation.OWNER
            if owner and home.person_id in buyers:
                staying.add(home.person_id)
                continue
            if not owner and home.person_id not in buyers:
                continue  # a tenant's lease is the owners' business, not the sale's
            if home.starts_on > day:
                raise ConflictError(
                    f"这一户有一条从 {home.starts_on:%Y-%m-%d} 开始的登记，晚于过户日期，请先核对。"
                )
            home.ends_on = day
            home.ended_by = work.who.person_id
        await session.flush()  # the ended terms first: a person's open term is unique
        made = []
        for person_id in buyers:
            if person_id in staying:
                continue
            home = Home(
                compound_id=work.row.compound_id,
                household_id=work.row.id,
                person_id=person_id,
                relation=HomeRelation.OWNER,
                starts_on=day,
            )
            session.add(home)
            made.append(home)
        await session.flush()
        return Outcome(made)

    return await run(ctx, HOUSEHOLD, household_id, Action.MANAGE_HOMES, apply)


async def _require_keeper(ctx: Context, household_id: uuid.UUID) -> None:
    """The household's register is read by those who keep it: the one not-visible answer for a
    household the caller may not read, the policy's sentence for one they may read but not keep."""
    await place.household(ctx, household_id=household_id)
    if not await place.granted(ctx, Resource.HOUSEHOLD, Action.MANAGE_HOMES, Household).load(household_id):
        raise refusal(Resource.HOUSEHOLD, Action.MANAGE_HOMES)


async def records(
    ctx: Context, *, household_id: uuid.UUID, first: int | None, after: str | None
) -> Page[Home]:
    """Every home of a household, in force or ended, the latest first: for those who keep the register."""
    await _require_keeper(ctx, household_id)
    w = window(TERMS, first=first, after=after)
    statement = sa.select(Home).where(Home.household_id == household_id)
    return await read(ctx.sessions, statement, Home.__table__, TERMS, w)


async def record(ctx: Context, *, home_id: uuid.UUID) -> Home:
    """One home by its id (`node(id:)`), for those who keep its household's register."""
    async with ctx.sessions() as session:
        found = (await session.execute(sa.select(Home).where(Home.id == home_id))).scalar_one_or_none()
    keeps = place.granted(ctx, Resource.HOUSEHOLD, Action.MANAGE_HOMES, Household)
    if found is None or not await keeps.load(found.household_id):
        raise not_visible()
    return found
