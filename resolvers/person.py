"""People as the caller may see them: visible, named, phoned and Party-marked by the policy, in SQL.

A person is shown the same way wherever they appear (a household's owners, a team, a task's
reporter, a meeting's attendees, `node(id:)`): the policy decides from the caller and the person's
own ties, never from the screen they are shown on.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import sqlalchemy as sa
from strawberry.dataloader import DataLoader

from auth.policy import Action, Field, Resource, not_visible, params, shape, shown_sql, where
from auth.principal import Principal
from models.enums import HomeRelation, Position
from models.party import PartyProfile
from models.person import Home, Person, TeamPosition
from models.place import Compound
from models.terms import in_force
from resolvers.context import Context
from resolvers.loaders import Loader, Sessions, grouped
from resolvers.place import require_on_compound


@dataclass(frozen=True)
class PartyView:
    registered: bool
    work_unit: str | None
    registered_on: date | None


@dataclass(frozen=True)
class PersonView:
    id: uuid.UUID
    name: str
    phone: str | None
    party: PartyView | None


@dataclass(frozen=True)
class OccupantView:
    person: PersonView
    relation: HomeRelation


@dataclass(frozen=True)
class TeamSeatView:
    position: Position
    building_id: uuid.UUID | None
    person: PersonView


def people_statement(who: Principal) -> Any:
    """People as `who` sees them: built once per caller shape (`auth.policy.shape`) and shared."""
    key = shape(who)
    cached = _STATEMENTS.get(key)
    if cached is not None:
        return cached
    p, pp = Person.__table__, PartyProfile.__table__

    def field(name: Field, column: object) -> object:
        return shown_sql(who, Resource.PERSON, name, p, column)

    statement = (
        sa.select(
            p.c.id,
            field(Field.NAME, p.c.name).label("name"),
            field(Field.PHONE, p.c.phone).label("phone"),
            field(Field.PARTY_STATUS, pp.c.person_id.is_not(None)).label("party_shown"),
            field(Field.PARTY_STATUS, pp.c.registered_on.is_not(None)).label("registered"),
            field(Field.PARTY_DETAIL, pp.c.work_unit).label("work_unit"),
            field(Field.PARTY_DETAIL, pp.c.registered_on).label("registered_on"),
        )
        .select_from(p.outerjoin(pp, pp.c.person_id == p.c.id))
        .where(where(who, Resource.PERSON, Action.READ, p))
    )
    _STATEMENTS[key] = statement
    return statement


_STATEMENTS: dict[tuple[Any, ...], Any] = {}


def people_as_seen_by(sessions: Sessions, who: Principal) -> DataLoader[uuid.UUID, PersonView | None]:
    """Per person id: the person as `who` may see them, masked inside PostgreSQL; None if not."""
    statement = people_statement(who)
    values = params(who)
    person_id = Person.__table__.c.id

    async def load(ids: Sequence[uuid.UUID]) -> list[PersonView | None]:
        async with sessions() as session:
            rows = (await session.execute(statement.where(person_id.in_(ids)), values)).all()
        found = {r.id: view_of(r) for r in rows}
        return [found.get(i) for i in ids]

    return Loader(load_fn=load)


def view_of(r: Any) -> PersonView:
    """A row of `people_statement` as the view the schema shows."""
    return PersonView(
        id=r.id,
        name=r.name,
        phone=r.phone,
        party=PartyView(bool(r.registered), r.work_unit, r.registered_on) if r.party_shown else None,
    )


def person_loader(ctx: Context) -> DataLoader[uuid.UUID, PersonView | None]:
    return ctx.loaders.cached("person", lambda: people_as_seen_by(ctx.sessions, ctx.principal))


async def person(ctx: Context, *, person_id: uuid.UUID) -> PersonView:
    found = await person_loader(ctx).load(person_id)
    if found is None:
        raise not_visible()
    return found


async def people(ctx: Context, person_ids: Sequence[uuid.UUID]) -> list[PersonView]:
    """Several people in their order, leaving out any the caller may not see."""
    return [v for v in await person_loader(ctx).load_many(list(person_ids)) if v is not None]


def _occupants(ctx: Context) -> DataLoader[uuid.UUID, list[tuple[uuid.UUID, HomeRelation]]]:
    return ctx.loaders.cached(
        "occupants",
        lambda: grouped(
            ctx.sessions,
            lambda ids: (
                sa.select(Home.household_id, Home.person_id, Home.relation)
                .join(Person, Person.id == Home.person_id)
                .where(Home.household_id.in_(ids), in_force(Home.__table__))
                .order_by(Home.household_id, Home.relation, Person.name, Person.id)
            ),
            key=lambda row: row.household_id,
            value=lambda row: (row.person_id, HomeRelation(row.relation)),
        ),
    )


async def occupants(ctx: Context, *, household_id: uuid.UUID) -> list[OccupantView]:
    """Who lives in a household (one the caller may see: the caller has checked)."""
    found = await _occupants(ctx).load(household_id)
    views = await person_loader(ctx).load_many([person_id for person_id, _ in found])
    return [OccupantView(v, rel) for v, (_, rel) in zip(views, found, strict=True) if v is not None]


def _team(ctx: Context) -> DataLoader[uuid.UUID, list[TeamPosition]]:
    return ctx.loaders.cached(
        "team",
        lambda: grouped(
            ctx.sessions,
            lambda ids: (
                sa.select(TeamPosition)
                .join(Person, Person.id == TeamPosition.person_id)
                .where(TeamPosition.compound_id.in_(ids), in_force(TeamPosition.__table__))
                .order_by(TeamPosition.compound_id, TeamPosition.position, Person.name, TeamPosition.id)
            ),
            key=lambda row: row.TeamPosition.compound_id,
            value=lambda row: row.TeamPosition,
        ),
    )


async def team(ctx: Context, *, compound_row: Compound) -> list[TeamSeatView]:
    await require_on_compound(ctx, compound_row, Action.READ_TEAM)
    seats = await _team(ctx).load(compound_row.id)
    views = await person_loader(ctx).load_many([seat.person_id for seat in seats])
    return [
        TeamSeatView(Position(seat.position), seat.building_id, view)
        for seat, view in zip(seats, views, strict=True)
        if view is not None
    ]
