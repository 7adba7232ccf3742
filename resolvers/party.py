"""Party members' registrations (报到) and building groups (党员楼栋小组).

A Party member who lives in a compound applies to register there from one of their homes; the
community committee approves or rejects. Approval is what makes them a registered member: in the
transaction that approves, the Party member role at the compound begins (if they did not hold it),
their profile says registered on that day, and their building gets its group if it had none. A
member may withdraw an application, end a registration, or transfer it to a new home (a new
application that, once approved, ends the old one). Nothing is deleted: every registration is
kept with what became of it, and who decided.

Building groups belong to a compound; a building belongs to at most one group and a member to
the group of the building they registered from, so membership follows from where members live.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import aggregate_order_by, insert
from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.dataloader import DataLoader

from auth.policy import Action, Resource, params, refusal, require_person, where
from models.enums import Role
from models.errors import BadUserInputError, ConflictError
from models.party import (
    REASON_MAX,
    SKILLS_MAX,
    TEXT_MAX,
    PartyGroup,
    PartyGroupBuilding,
    PartyProfile,
    PartyRegistration,
    RegistrationStatus,
    ServiceKind,
    group_name,
    leave_problem,
    member_since_problem,
    pending_problem,
)
from models.person import Home, Person, RoleAssignment
from models.place import Building, Compound, Household
from models.terms import in_force, today
from resolvers import messages, place
from resolvers.context import Context
from resolvers.loaders import PageKey, paged, visible_row
from resolvers.pages import Key, Page, order, read, window
from resolvers.pipeline import Outcome, Target, Work, run
from resolvers.text import clean_text

REGISTRATION = Target(Resource.PARTY_REGISTRATION, PartyRegistration)
GROUP = Target(Resource.PARTY_GROUP, PartyGroup)
COMPOUND = Target(Resource.COMPOUND, Compound)
#: a compound's queue, oldest first; a member's own registrations, newest first
QUEUE = order(Key("created_at", datetime), Key("id"))
MINE = order(Key("created_at", datetime, descending=True), Key("id"))
GROUPS = order(Key("name", str), Key("id"))
MEMBERS = order(Key("approved_on", date), Key("id"))
#: the most buildings one group may hold (a compound has at most a few dozen)
GROUP_BUILDINGS_MAX = 60
GROUP_NAME_MAX = 30


@dataclass(frozen=True)
class Details:
    """What a member writes on an application, checked."""

    employer: str
    party_org: str
    party_org_contact: str
    member_since: date
    skills: str | None
    services: list[str]


def details(
    *,
    employer: str,
    party_org: str,
    party_org_contact: str,
    member_since: date,
    skills: str | None,
    services: Sequence[ServiceKind],
) -> Details:
    """An application's details, or `BAD_USER_INPUT` naming the field to fix."""
    problem = member_since_problem(member_since, today=today())
    if problem is not None:
        raise BadUserInputError(problem, field="memberSince")
    return Details(
        employer=clean_text(employer, field="employer", label="工作单位", maximum=TEXT_MAX) or "",
        party_org=clean_text(party_org, field="partyOrganization", label="所在单位党组织", maximum=TEXT_MAX)
        or "",
        party_org_contact=clean_text(
            party_org_contact, field="partyOrganizationContact", label="党组织联系人及电话", maximum=TEXT_MAX
        )
        or "",
        member_since=member_since,
        skills=clean_text(skills, field="skills", label="特长", maximum=SKILLS_MAX, required=False),
        services=sorted({ServiceKind(s).value for s in services}),
    )


@dataclass(frozen=True)
class RegistrationView:
    id: uuid.UUID
    status: RegistrationStatus
    person_id: uuid.UUID
    compound_id: uuid.UUID
    compound_name: str
    household_number: str | None
    building_name: str | None
    employer: str | None
    party_org: str
    party_org_contact: str | None
    member_since: date | None
    skills: str | None
    services: list[str]
    reason: str | None
    created_at: datetime
    decided_at: datetime | None
    approved_on: date | None
    ended_on: date | None
    transferred_from: uuid.UUID | None
    group_id: uuid.UUID | None


def _views() -> sa.Select:
    x, k, h, b = (PartyRegistration.__table__, Compound.__table__, Household.__table__, Building.__table__)
    gb = PartyGroupBuilding.__table__
    columns = [c for c in x.c if c.name not in {"building_id", "household_id", "decided_by"}]
    return sa.select(
        *columns,
        k.c.name.label("compound_name"),
        h.c.number.label("household_number"),
        b.c.name.label("building_name"),
        gb.c.group_id,
    ).select_from(
        x.join(k, k.c.id == x.c.compound_id)
        .outerjoin(h, h.c.id == x.c.household_id)
        .outerjoin(b, b.c.id == x.c.building_id)
        .outerjoin(gb, gb.c.building_id == x.c.building_id)
    )


def _view(r: sa.Row) -> RegistrationView:
    m = r._mapping
    return RegistrationView(
        **{name: m[name] for name in RegistrationView.__dataclass_fields__ if name != "status"},
        status=RegistrationStatus(m["status"]),
    )


async def view(ctx: Context, registration_id: uuid.UUID) -> RegistrationView:
    """A registration the caller may read (its member, their community's committee); the one
    not-visible answer otherwise."""
    x = PartyRegistration.__table__
    statement = _views().where(x.c.id == registration_id)
    return _view(await visible_row(ctx, statement, Resource.PARTY_REGISTRATION, x))


async def _lock_member(session: AsyncSession, person_id: uuid.UUID) -> None:
    """The member's row, locked: their applications and transfers are made one at a time, so the
    one-waiting-application rule is checked, not left to a unique index to refuse."""
    await session.execute(sa.select(Person.id).where(Person.id == person_id).with_for_update())


async def _my_home(session: AsyncSession, person_id: uuid.UUID, household_id: uuid.UUID) -> Any:
    """The caller's household (in force today) with its compound and building, or a refusal that
    says nothing about a household that is not theirs."""
    hm, h = Home.__table__, Household.__table__
    found = (
        await session.execute(
            sa.select(h.c.id, h.c.compound_id, h.c.building_id)
            .select_from(h.join(hm, hm.c.household_id == h.c.id))
            .where(h.c.id == household_id, hm.c.person_id == person_id, in_force(hm))
            .limit(1)
        )
    ).first()
    if found is None:
        raise BadUserInputError("请选择您已登记的住房：党员向自己居住的小区报到。", field="householdId")
    return found


async def _registration_of(
    session: AsyncSession, person_id: uuid.UUID, status: RegistrationStatus
) -> PartyRegistration | None:
    statement = sa.select(PartyRegistration).where(
        PartyRegistration.person_id == person_id, PartyRegistration.status == status
    )
    return (await session.execute(statement)).scalars().first()


async def apply(ctx: Context, *, household_id: uuid.UUID, given: Details) -> RegistrationView:
    """Apply to register with the compound of one of the caller's homes. Refused while another
    application waits, and when already registered (a member who moved transfers instead)."""
    who = require_person(ctx.principal)
    async with ctx.sessions() as session, session.begin():
        await _lock_member(session, who.person_id)
        home = await _my_home(session, who.person_id, household_id)
        if await _registration_of(session, who.person_id, RegistrationStatus.PENDING) is not None:
            raise ConflictError("您已有一份报到申请正在等待社区审核，请等审核后再申请，或先撤回它。")
        held = await _registration_of(session, who.person_id, RegistrationStatus.APPROVED)
        if held is not None:
            if held.compound_id == home.compound_id:
                raise ConflictError("您已向这个小区报到，不必重复申请。")
            raise ConflictError("您已在其他小区报到；搬家后请用“转移报到”，原报到在新小区审核通过后结束。")
        row = PartyRegistration(
            person_id=who.person_id,
            compound_id=home.compound_id,
            building_id=home.building_id,
            household_id=home.id,
            employer=given.employer,
            party_org=given.party_org,
            party_org_contact=given.party_org_contact,
            member_since=given.member_since,
            skills=given.skills,
            services=given.services,
        )
        session.add(row)
        await session.flush()
        made = row.id
    return await view(ctx, made)


async def transfer(ctx: Context, *, registration_id: uuid.UUID, household_id: uuid.UUID) -> RegistrationView:
    """Apply to move an approved registration to another of the member's homes (they moved): a new
    application with the same details, which ends the old registration when it is approved."""

    async def apply_(work: Work[PartyRegistration]) -> Outcome[uuid.UUID]:
        old, session = work.row, work.session
        await _lock_member(session, old.person_id)
        problem = leave_problem(RegistrationStatus(old.status))
        if problem is not None:
            raise ConflictError(problem)
        home = await _my_home(session, work.who.person_id, household_id)
        if home.id == old.household_id:
            raise BadUserInputError("这就是您现在报到的住房；请选择新的住房。", field="householdId")
        if await _registration_of(session, old.person_id, RegistrationStatus.PENDING) is not None:
            raise ConflictError("您已有一份报到申请正在等待社区审核，请等审核后再转移，或先撤回它。")
        row = PartyRegistration(
            person_id=old.person_id,
            compound_id=home.compound_id,
            building_id=home.building_id,
            household_id=home.id,
            employer=old.employer,
            party_org=old.party_org,
            party_org_contact=old.party_org_contact,
            member_since=old.member_since,
            skills=old.skills,
            services=list(old.services),
            transferred_from=old.id,
        )
        session.add(row)
        await session.flush()
        return Outcome(row.id)

    made = await run(ctx, REGISTRATION, registration_id, Action.RETRACT, apply_)
    return await view(ctx, made)


async def withdraw(ctx: Context, *, registration_id: uuid.UUID, reason: str | None) -> RegistrationView:
    """The member takes back an application still waiting, or ends an approved registration (they
    no longer serve here); the Party member role stays with the community committee to end."""
    why = clean_text(reason, field="reason", label="原因", maximum=REASON_MAX, required=False)

    async def apply_(work: Work[PartyRegistration]) -> Outcome[uuid.UUID]:
        row, status = work.row, RegistrationStatus(work.row.status)
        if status == RegistrationStatus.PENDING:
            _decide(row, work, RegistrationStatus.WITHDRAWN)
        else:
            problem = leave_problem(status)
            if problem is not None:
                raise ConflictError(problem)
            row.status = RegistrationStatus.ENDED
            row.ended_on = today()
            await work.session.flush()
            await _registered_on(work.session, row.person_id, None)
            await leaders_still_members(work.session, row.compound_id)
        row.reason = why
        await work.session.flush()
        return Outcome(row.id)

    return await view(ctx, await run(ctx, REGISTRATION, registration_id, Action.RETRACT, apply_))


async def approve(ctx: Context, *, registration_id: uuid.UUID) -> RegistrationView:
    """Approve an application: registered from today, the Party member role at the compound held,
    the building's group made if it had none, a transferred registration ended."""

    async def apply_(work: Work[PartyRegistration]) -> Outcome[uuid.UUID]:
        row, session = work.row, work.session
        _still_pending(row)
        if row.household_id is not None:
            await _still_lives_there(session, row)
        on = today()
        old = None
        if row.transferred_from is not None:
            old = await session.get(PartyRegistration, row.transferred_from, with_for_update=True)
        held = await _registration_of(session, row.person_id, RegistrationStatus.APPROVED)
        if held is not None and (old is None or held.id != old.id):
            raise ConflictError("申请人已有一份生效的报到；请驳回这份申请。")
        if old is not None and old.status == RegistrationStatus.APPROVED:
            old.status = RegistrationStatus.TRANSFERRED
            old.ended_on = on
            await session.flush()  # the old one no longer holds before the new one does
            if old.compound_id != row.compound_id:
                await _end_member_role(session, row.person_id, old.compound_id, on, work.who.person_id)
        _decide(row, work, RegistrationStatus.APPROVED)
        row.approved_on = on
        await session.flush()
        await _hold_member_role(session, row.person_id, row.compound_id, on)
        await _profile(session, row.person_id, row.party_org, on)
        if row.building_id is not None:
            await group_of_building(session, row.compound_id, row.building_id)
        if old is not None:
            await leaders_still_members(session, old.compound_id)
        await messages.registration_approved(
            session,
            ctx.services.templates,
            registration_id=row.id,
            person_id=row.person_id,
            compound_id=row.compound_id,
        )
        return Outcome(row.id)

    return await view(ctx, await run(ctx, REGISTRATION, registration_id, Action.DECIDE, apply_))


async def reject(ctx: Context, *, registration_id: uuid.UUID, reason: str) -> RegistrationView:
    """Reject an application with a reason the applicant reads."""
    why = clean_text(reason, field="reason", label="驳回理由", maximum=REASON_MAX)

    async def apply_(work: Work[PartyRegistration]) -> Outcome[uuid.UUID]:
        _still_pending(work.row)
        _decide(work.row, work, RegistrationStatus.REJECTED)
        work.row.reason = why
        await work.session.flush()
        return Outcome(work.row.id)

    return await view(ctx, await run(ctx, REGISTRATION, registration_id, Action.DECIDE, apply_))


def _still_pending(row: PartyRegistration) -> None:
    problem = pending_problem(RegistrationStatus(row.status))
    if problem is not None:
        raise ConflictError(problem)


def _decide(row: PartyRegistration, work: Work[PartyRegistration], status: RegistrationStatus) -> None:
    row.status = status
    row.decided_by = work.who.person_id
    row.decided_at = datetime.now(UTC)


async def _still_lives_there(session: AsyncSession, row: PartyRegistration) -> None:
    hm = Home.__table__
    found = await session.execute(
        sa.select(hm.c.id).where(
            hm.c.household_id == row.household_id, hm.c.person_id == row.person_id, in_force(hm)
        )
    )
    if found.first() is None:
        raise ConflictError("申请人已不再登记为这一户的住户；请驳回这份申请，请其从现在的住房重新申请。")


async def _hold_member_role(
    session: AsyncSession, person_id: uuid.UUID, compound_id: uuid.UUID, on: date
) -> None:
    """The Party member role at the compound from `on`, unless a term of it holds or lies ahead."""
    r = RoleAssignment.__table__
    held = await session.execute(
        sa.select(r.c.id).where(
            r.c.person_id == person_id,
            r.c.role == Role.PARTY_MEMBER.value,
            r.c.compound_id == compound_id,
            sa.or_(r.c.ends_on.is_(None), r.c.ends_on > on),
        )
    )
    if held.first() is None:
        session.add(
            RoleAssignment(person_id=person_id, role=Role.PARTY_MEMBER, compound_id=compound_id, starts_on=on)
        )
        await session.flush()


async def _end_member_role(
    session: AsyncSession, person_id: uuid.UUID, compound_id: uuid.UUID, on: date, by: uuid.UUID
) -> None:
    """End the Party member role at the compound the member moved away from."""
    r = RoleAssignment.__table__
    await session.execute(
        sa.update(r)
        .where(
            r.c.person_id == person_id,
            r.c.role == Role.PARTY_MEMBER.value,
            r.c.compound_id == compound_id,
            sa.or_(r.c.ends_on.is_(None), r.c.ends_on > on),
        )
        .values(ends_on=sa.func.greatest(r.c.starts_on, on), ended_by=by)
    )


async def _profile(session: AsyncSession, person_id: uuid.UUID, party_org: str, on: date) -> None:
    pp = PartyProfile.__table__
    await session.execute(
        insert(pp)
        .values(person_id=person_id, work_unit=party_org, registered_on=on)
        .on_conflict_do_update(
            index_elements=["person_id"], set_={"work_unit": party_org, "registered_on": on}
        )
    )


async def _registered_on(session: AsyncSession, person_id: uuid.UUID, on: date | None) -> None:
    pp = PartyProfile.__table__
    await session.execute(sa.update(pp).where(pp.c.person_id == person_id).values(registered_on=on))


async def groups_locked(session: AsyncSession, compound_id: uuid.UUID) -> None:
    """The compound's groups are changed one transaction at a time (names are unique in a compound,
    a building is in one group): a second change waits and then sees the first."""
    key = sa.func.hashtextextended(f"party_group:{compound_id}", 11)
    await session.execute(sa.select(sa.func.pg_advisory_xact_lock(key)))


async def leaders_still_members(session: AsyncSession, compound_id: uuid.UUID | None) -> None:
    """A leader who is no longer a registered member of their group (they moved, left, or their
    building went to another group) leads it no more: in one compound, or everywhere (None)."""
    g, gb, x = PartyGroup.__table__, PartyGroupBuilding.__table__, PartyRegistration.__table__
    member = (
        sa.select(x.c.id)
        .select_from(x.join(gb, gb.c.building_id == x.c.building_id))
        .where(
            gb.c.group_id == g.c.id,
            x.c.person_id == g.c.leader_id,
            x.c.status == RegistrationStatus.APPROVED.value,
        )
    )
    await session.execute(
        sa.update(g)
        .where(
            g.c.leader_id.is_not(None),
            ~sa.exists(member),
            *([] if compound_id is None else [g.c.compound_id == compound_id]),
        )
        .values(leader_id=None)
    )


async def group_of_building(
    session: AsyncSession, compound_id: uuid.UUID, building_id: uuid.UUID
) -> uuid.UUID:
    """The group a building belongs to; a new one named after the building if it has none."""
    await groups_locked(session, compound_id)
    gb = PartyGroupBuilding.__table__
    found = (await session.execute(sa.select(gb.c.group_id).where(gb.c.building_id == building_id))).scalar()
    if found is not None:
        return found
    name = group_name(
        (await session.execute(sa.select(Building.name).where(Building.id == building_id))).scalar_one()
    )
    g = PartyGroup.__table__
    made = await session.execute(
        insert(g)
        .values(compound_id=compound_id, name=name)
        .on_conflict_do_update(constraint="party_group_name_unique", set_={"name": name})
        .returning(g.c.id)
    )
    group_id = made.scalar_one()
    await session.execute(
        insert(gb).values(building_id=building_id, group_id=group_id).on_conflict_do_nothing()
    )
    return group_id


# --- lists -----------------------------------------------------------------------------------------


async def queue(
    ctx: Context,
    *,
    compound_id: uuid.UUID,
    status: RegistrationStatus | None,
    first: int | None,
    after: str | None,
) -> Page[RegistrationView]:
    """A compound's registrations (waiting ones unless `status` says otherwise), oldest first: for
    the community committee, who decides."""
    found = await place.compound(ctx, compound_id=compound_id)
    if not await place.granted(ctx, Resource.COMPOUND, Action.READ_PARTY, Compound).load(found.id):
        raise refusal(Resource.COMPOUND, Action.READ_PARTY)
    x = PartyRegistration.__table__
    conditions = [
        x.c.compound_id == compound_id,
        where(ctx.principal, Resource.PARTY_REGISTRATION, Action.READ, x),
    ]
    if status is not None:
        conditions.append(x.c.status == status)
    w = window(QUEUE, first=first, after=after)
    page = await read(
        ctx.sessions, _views().where(*conditions), x, QUEUE, w, params(ctx.principal), scalars=False
    )
    return page.map(_view)


async def mine(ctx: Context, *, first: int | None, after: str | None) -> Page[RegistrationView]:
    """The caller's own registrations, newest first, whatever became of them."""
    who = require_person(ctx.principal)
    x = PartyRegistration.__table__
    w = window(MINE, first=first, after=after)
    page = await read(ctx.sessions, _views().where(x.c.person_id == who.person_id), x, MINE, w, scalars=False)
    return page.map(_view)


# --- building groups -------------------------------------------------------------------------------


@dataclass(frozen=True)
class GroupView:
    id: uuid.UUID
    compound_id: uuid.UUID
    compound_name: str
    name: str
    leader_id: uuid.UUID | None
    buildings: list[str]
    member_count: int


def _members_of(group_id: uuid.UUID) -> sa.Select:
    """The approved registrations of a group's members."""
    x, gb = PartyRegistration.__table__, PartyGroupBuilding.__table__
    return (
        sa.select(x.c.approved_on, x.c.id, x.c.person_id)
        .select_from(x.join(gb, gb.c.building_id == x.c.building_id))
        .where(gb.c.group_id == group_id, x.c.status == RegistrationStatus.APPROVED.value)
    )


def _group_views() -> sa.Select:
    g, k, gb, b = PartyGroup.__table__, Compound.__table__, PartyGroupBuilding.__table__, Building.__table__
    buildings = (
        sa.select(
            sa.func.coalesce(sa.func.array_agg(aggregate_order_by(b.c.name, b.c.name)), sa.text("'{}'"))
        )
        .select_from(gb.join(b, b.c.id == gb.c.building_id))
        .where(gb.c.group_id == g.c.id)
        .scalar_subquery()
    )
    x = PartyRegistration.__table__
    members = (
        sa.select(sa.func.count())
        .select_from(x.join(gb, gb.c.building_id == x.c.building_id))
        .where(gb.c.group_id == g.c.id, x.c.status == RegistrationStatus.APPROVED.value)
        .scalar_subquery()
    )
    return sa.select(
        g.c.id,
        g.c.compound_id,
        k.c.name.label("compound_name"),
        g.c.name,
        g.c.leader_id,
        buildings.label("buildings"),
        members.label("member_count"),
    ).select_from(g.join(k, k.c.id == g.c.compound_id))


def _group_view(r: sa.Row) -> GroupView:
    m = r._mapping
    return GroupView(**{name: m[name] for name in GroupView.__dataclass_fields__})


async def group(ctx: Context, group_id: uuid.UUID) -> GroupView:
    g = PartyGroup.__table__
    found = await visible_row(ctx, _group_views().where(g.c.id == group_id), Resource.PARTY_GROUP, g)
    return _group_view(found)


async def groups(
    ctx: Context, *, compound_id: uuid.UUID, first: int | None, after: str | None
) -> Page[GroupView]:
    """A compound's building groups, by name: for its Party members and those who work with them."""
    found = await place.compound(ctx, compound_id=compound_id)
    g = PartyGroup.__table__
    statement = _group_views().where(
        g.c.compound_id == found.id, where(ctx.principal, Resource.PARTY_GROUP, Action.READ, g)
    )
    w = window(GROUPS, first=first, after=after)
    page = await read(ctx.sessions, statement, g, GROUPS, w, params(ctx.principal), scalars=False)
    return page.map(_group_view)


def member_pages(ctx: Context) -> DataLoader[PageKey, Page[PartyRegistration]]:
    """Pages of many groups' members (their approved registrations) at once, for the `members` of
    a list of groups the caller already reads: one statement per page shape, however many groups."""
    x, gb = PartyRegistration.__table__, PartyGroupBuilding.__table__
    return ctx.loaders.cached(
        "party_group_members",
        lambda: paged(
            ctx.sessions,
            PartyRegistration,
            gb.c.group_id,
            MEMBERS,
            x.c.status == RegistrationStatus.APPROVED.value,
            source=x.join(gb, gb.c.building_id == x.c.building_id),
        ),
    )


async def _buildings(
    work: Work[Any], compound_id: uuid.UUID, building_ids: Sequence[uuid.UUID]
) -> list[uuid.UUID]:
    chosen = list(dict.fromkeys(building_ids))
    if not chosen:
        raise BadUserInputError("请至少选择一栋楼。", field="buildingIds")
    if len(chosen) > GROUP_BUILDINGS_MAX:
        raise BadUserInputError(f"一个小组最多包含 {GROUP_BUILDINGS_MAX} 栋楼。", field="buildingIds")
    found = await work.session.execute(
        sa.select(Building.id).where(Building.id.in_(chosen), Building.compound_id == compound_id)
    )
    if len(found.all()) != len(chosen):
        raise BadUserInputError("所选楼栋不都属于这个小区。", field="buildingIds")
    return chosen


async def _place_buildings(session: AsyncSession, group_id: uuid.UUID, building_ids: list[uuid.UUID]) -> None:
    """The group holds exactly these buildings: taken from other groups, given back by this one."""
    gb = PartyGroupBuilding.__table__
    await session.execute(
        sa.delete(gb).where(sa.or_(gb.c.building_id.in_(building_ids), gb.c.group_id == group_id))
    )
    await session.execute(insert(gb), [{"building_id": b, "group_id": group_id} for b in building_ids])


def _group_name(name: str) -> str:
    return clean_text(name, field="name", label="小组名称", maximum=GROUP_NAME_MAX) or ""


async def _name_free(
    session: AsyncSession, compound_id: uuid.UUID, name: str, group_id: uuid.UUID | None
) -> None:
    taken = await session.execute(
        sa.select(PartyGroup.id).where(
            PartyGroup.compound_id == compound_id, PartyGroup.name == name, PartyGroup.id != group_id
        )
    )
    if taken.first() is not None:
        raise ConflictError(f"这个小区已有名为“{name}”的小组，请换一个名称。")


async def create_group(
    ctx: Context, *, compound_id: uuid.UUID, name: str, building_ids: Sequence[uuid.UUID]
) -> GroupView:
    """Make a building group of these buildings (taking them from the groups they were in)."""
    chosen_name = _group_name(name)

    async def apply_(work: Work[Compound]) -> Outcome[uuid.UUID]:
        await groups_locked(work.session, work.row.id)
        buildings = await _buildings(work, work.row.id, building_ids)
        await _name_free(work.session, work.row.id, chosen_name, None)
        row = PartyGroup(compound_id=work.row.id, name=chosen_name)
        work.session.add(row)
        await work.session.flush()
        await _place_buildings(work.session, row.id, buildings)
        await leaders_still_members(work.session, work.row.id)
        return Outcome(row.id)

    return await group(ctx, await run(ctx, COMPOUND, compound_id, Action.APPOINT, apply_))


async def update_group(
    ctx: Context, *, group_id: uuid.UUID, name: str | None, building_ids: Sequence[uuid.UUID] | None
) -> GroupView:
    """Rename a group, or give it these buildings (others it held are left without a group)."""
    chosen_name = _group_name(name) if name is not None else None

    async def apply_(work: Work[PartyGroup]) -> Outcome[uuid.UUID]:
        row = work.row
        await groups_locked(work.session, row.compound_id)
        if chosen_name is not None:
            await _name_free(work.session, row.compound_id, chosen_name, row.id)
            row.name = chosen_name
        if building_ids is not None:
            await _place_buildings(
                work.session, row.id, await _buildings(work, row.compound_id, building_ids)
            )
        await work.session.flush()
        await leaders_still_members(work.session, row.compound_id)
        return Outcome(row.id)

    return await group(ctx, await run(ctx, GROUP, group_id, Action.APPOINT, apply_))


async def appoint_leader(ctx: Context, *, group_id: uuid.UUID, person_id: uuid.UUID | None) -> GroupView:
    """Make a registered member of the group its leader (None: the group has none)."""

    async def apply_(work: Work[PartyGroup]) -> Outcome[uuid.UUID]:
        row = work.row
        if person_id is not None:
            member = _members_of(row.id).where(PartyRegistration.__table__.c.person_id == person_id)
            if (await work.session.execute(member)).first() is None:
                raise BadUserInputError("组长必须是本小组已报到的党员。", field="personId")
        row.leader_id = person_id
        await work.session.flush()
        return Outcome(row.id)

    return await group(ctx, await run(ctx, GROUP, group_id, Action.APPOINT, apply_))
