"""Team positions and roles with terms: appointed, granted and ended by the community committee.

A position belongs to a compound's team, a role to the place `models.enums.ROLE_SCOPE` names; each
change locks that place (`Action.APPOINT`), so two appointments at one place never interleave.
Nothing is deleted: a term ends (`models.terms`), and the policy reads only the terms in force at
the moment of a request (`auth.backend`, `auth.bindings`).
"""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

import sqlalchemy as sa

from auth.policy import Action, Resource, not_visible, refusal
from models.enums import ROLE_SCOPE, Position, Role
from models.errors import BadUserInputError, ConflictError, ForbiddenError
from models.person import RoleAssignment, TeamPosition
from models.place import Building, Community, Compound, Grid
from models.terms import end_problem, term_problem, today
from resolvers import place
from resolvers.context import Context
from resolvers.homes import TERMS, PersonRef, clean_person, person_of
from resolvers.pages import Page, read, window
from resolvers.pipeline import Outcome, Target, Work, run

COMPOUND = Target(Resource.COMPOUND, Compound)
GRID = Target(Resource.GRID, Grid)
COMMUNITY = Target(Resource.COMMUNITY, Community)
#: where a role is held: the place's target and the column of `role_assignment` naming it
ROLE_PLACES: dict[str, tuple[Target[Any], str]] = {
    "compound": (COMPOUND, "compound_id"),
    "grid": (GRID, "grid_id"),
    "community": (COMMUNITY, "community_id"),
}
POSITION_NAMES = {
    Position.CHIEF_CONVENER: "总召集人",
    Position.DEPUTY_CONVENER: "副总召集人",
    Position.COMMITTEE_MEMBER: "委员",
    Position.BUILDING_CONVENER: "楼栋召集人",
}
ROLE_NAMES = {
    Role.PARTY_MEMBER: "在职党员",
    Role.COMMUNITY_COMMITTEE: "社区“两委”成员",
    Role.GRID_WORKER: "网格员",
    Role.PROPERTY_STAFF: "物业人员",
    Role.OWNERS_COMMITTEE: "业委会成员",
    Role.ADMIN: "管理员",
}


def _term(starts_on: date | None, ends_on: date | None) -> tuple[date, date | None]:
    now = today()
    starts = starts_on or now
    problem = term_problem(starts, ends_on, now=now)
    if problem is not None:
        raise BadUserInputError(problem[1], field=problem[0])
    return starts, ends_on


async def appoint(
    ctx: Context,
    *,
    compound_id: uuid.UUID,
    person: PersonRef,
    position: Position,
    building_id: uuid.UUID | None,
    starts_on: date | None,
    ends_on: date | None,
) -> TeamPosition:
    """Appoint someone to a compound's team for a term (open-ended unless it says when it ends)."""
    ref = clean_person(person, "person")
    if (position == Position.BUILDING_CONVENER) != (building_id is not None):
        raise BadUserInputError("楼栋召集人必须指定楼栋，其他职务不能指定楼栋。", field="buildingId")
    starts, ends = _term(starts_on, ends_on)

    async def apply(work: Work[Compound]) -> Outcome[TeamPosition]:
        if building_id is not None:
            found = await work.session.execute(
                sa.select(Building.id).where(Building.id == building_id, Building.compound_id == work.row.id)
            )
            if found.first() is None:
                raise BadUserInputError("这个小区没有该楼栋。", field="buildingId")
        person_id = await person_of(work, ref, "person")
        t = TeamPosition
        held = await work.session.execute(
            sa.select(t.id).where(
                t.compound_id == work.row.id,
                t.person_id == person_id,
                t.position == position,
                t.building_id.is_not_distinct_from(building_id),
                sa.or_(t.ends_on.is_(None), t.ends_on > starts),
            )
        )
        if held.first() is not None:
            raise ConflictError(f"这位人员在这段时间已担任{POSITION_NAMES[position]}，不必重复任命。")
        seat = TeamPosition(
            compound_id=work.row.id,
            person_id=person_id,
            position=position,
            building_id=building_id,
            starts_on=starts,
            ends_on=ends,
        )
        work.session.add(seat)
        await work.session.flush()
        return Outcome(seat)

    return await run(ctx, COMPOUND, compound_id, Action.APPOINT, apply)


async def grant(
    ctx: Context,
    *,
    place: tuple[str, uuid.UUID] | None,
    person: PersonRef,
    role: Role,
    starts_on: date | None,
    ends_on: date | None,
) -> RoleAssignment:
    """Grant a role at its kind of place for a term. ADMIN is held nowhere and granted from the
    command line only: the API grants what a community committee may."""
    ref = clean_person(person, "person")
    kind = ROLE_SCOPE[role]
    if kind is None:
        raise ForbiddenError("管理员角色只能由运维人员在服务器上授予。")
    if place is None or place[0] != kind:
        raise BadUserInputError(f"{ROLE_NAMES[role]}角色必须指定所在的{_KIND_NAMES[kind]}。", field="placeId")
    target, column = ROLE_PLACES[kind]
    starts, ends = _term(starts_on, ends_on)

    async def apply(work: Work[Any]) -> Outcome[RoleAssignment]:
        person_id = await person_of(work, ref, "person")
        r = RoleAssignment
        held = await work.session.execute(
            sa.select(r.id).where(
                r.person_id == person_id,
                r.role == role,
                getattr(r, column) == work.row.id,
                sa.or_(r.ends_on.is_(None), r.ends_on > starts),
            )
        )
        if held.first() is not None:
            raise ConflictError(f"这位人员在这段时间已是{ROLE_NAMES[role]}，不必重复授予。")
        row = RoleAssignment(person_id=person_id, role=role, starts_on=starts, ends_on=ends)
        setattr(row, column, work.row.id)
        work.session.add(row)
        await work.session.flush()
        return Outcome(row)

    return await run(ctx, target, place[1], Action.APPOINT, apply)


_KIND_NAMES = {"compound": "小区", "grid": "网格", "community": "社区"}


async def end_position(ctx: Context, *, position_id: uuid.UUID, ends_on: date | None) -> TeamPosition:
    """End a team position on a day (today by default); the record stays."""
    async with ctx.sessions() as session:
        compound_id = (
            await session.execute(sa.select(TeamPosition.compound_id).where(TeamPosition.id == position_id))
        ).scalar_one_or_none()
    if compound_id is None:
        raise not_visible()

    async def apply(work: Work[Compound]) -> Outcome[TeamPosition]:
        seat = await _locked(work, TeamPosition, position_id)
        _end(seat, ends_on, work)
        await work.session.flush()
        return Outcome(seat)

    return await run(ctx, COMPOUND, compound_id, Action.APPOINT, apply)


async def end_role(ctx: Context, *, role_id: uuid.UUID, ends_on: date | None) -> RoleAssignment:
    """End a role on a day (today by default); the record stays."""
    async with ctx.sessions() as session:
        found = (
            await session.execute(
                sa.select(
                    RoleAssignment.role,
                    RoleAssignment.compound_id,
                    RoleAssignment.grid_id,
                    RoleAssignment.community_id,
                ).where(RoleAssignment.id == role_id)
            )
        ).first()
    if found is None:
        raise not_visible()
    kind = ROLE_SCOPE[Role(found.role)]
    if kind is None:
        raise ForbiddenError("管理员角色只能由运维人员在服务器上结束。")
    target, column = ROLE_PLACES[kind]

    async def apply(work: Work[Any]) -> Outcome[RoleAssignment]:
        row = await _locked(work, RoleAssignment, role_id)
        _end(row, ends_on, work)
        await work.session.flush()
        return Outcome(row)

    return await run(ctx, target, getattr(found, column), Action.APPOINT, apply)


async def _locked(work: Work[Any], model: Any, ident: uuid.UUID) -> Any:
    return (
        await work.session.execute(sa.select(model).where(model.id == ident).with_for_update())
    ).scalar_one()


def _end(row: Any, ends_on: date | None, work: Work[Any]) -> None:
    ends = ends_on or today()
    problem = end_problem(row.starts_on, row.ends_on, ends, now=today())
    if problem is not None:
        raise (ConflictError if row.ends_on is not None else BadUserInputError)(problem, field="endsOn")
    row.ends_on = ends
    row.ended_by = work.who.person_id


async def team_records(
    ctx: Context, *, compound_id: uuid.UUID, first: int | None, after: str | None
) -> Page[TeamPosition]:
    """A compound's team positions, in force or ended, the latest first: for whoever reads its team."""
    found = await place.compound(ctx, compound_id=compound_id)
    await place.require_on_compound(ctx, found, Action.READ_TEAM)
    w = window(TERMS, first=first, after=after)
    statement = sa.select(TeamPosition).where(TeamPosition.compound_id == compound_id)
    return await read(ctx.sessions, statement, TeamPosition.__table__, TERMS, w)


async def _appoints(ctx: Context, kind: str, place_id: uuid.UUID) -> bool | None:
    """Whether the caller grants roles at a place: None when they may not read it at all."""
    target, _ = ROLE_PLACES[kind]
    model: Any = target.model
    if not await place.granted(ctx, target.resource, Action.READ, model).load(place_id):
        return None
    return await place.granted(ctx, target.resource, Action.APPOINT, model).load(place_id)


async def role_records(
    ctx: Context, *, kind: str, place_id: uuid.UUID, first: int | None, after: str | None
) -> Page[RoleAssignment]:
    """The roles held at one place, in force or ended, the latest first: for those who grant them."""
    target, column = ROLE_PLACES[kind]
    appoints = await _appoints(ctx, kind, place_id)
    if appoints is None:
        raise not_visible()
    if not appoints:
        raise refusal(target.resource, Action.APPOINT)
    w = window(TERMS, first=first, after=after)
    statement = sa.select(RoleAssignment).where(getattr(RoleAssignment, column) == place_id)
    return await read(ctx.sessions, statement, RoleAssignment.__table__, TERMS, w)


async def team_record(ctx: Context, *, position_id: uuid.UUID) -> TeamPosition:
    """One team position by its id (`node(id:)`), for whoever reads its compound's team."""
    async with ctx.sessions() as session:
        found = (
            await session.execute(sa.select(TeamPosition).where(TeamPosition.id == position_id))
        ).scalar_one_or_none()
    reads = place.granted(ctx, Resource.COMPOUND, Action.READ_TEAM, Compound)
    if found is None or not await reads.load(found.compound_id):
        raise not_visible()
    return found


async def role_record(ctx: Context, *, role_id: uuid.UUID) -> RoleAssignment:
    """One role by its id (`node(id:)`), for those who grant roles where it is held."""
    async with ctx.sessions() as session:
        found = (
            await session.execute(sa.select(RoleAssignment).where(RoleAssignment.id == role_id))
        ).scalar_one_or_none()
    kind = ROLE_SCOPE[Role(found.role)] if found is not None else None
    if found is None or kind is None:
        raise not_visible()
    column = ROLE_PLACES[kind][1]
    if not await _appoints(ctx, kind, getattr(found, column)):
        raise not_visible()
    return found
