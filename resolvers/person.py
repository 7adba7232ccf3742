"""People as the caller may see them: names and phones masked, Party data shown by the policy."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from auth.masking import mask_name, mask_phone
from auth.policy import NOT_VISIBLE, Place, Subject, can, party_level, person_name_level, person_phone_level
from models import Compound, Person
from models.enums import HomeRelation, Position
from models.errors import ForbiddenError
from resolvers.context import Context
from resolvers.place import can_read_household, compound_place, household_place


@dataclass(frozen=True)
class PersonView:
    id: uuid.UUID
    name: str
    phone: str | None
    party_access: str | None  # None, "status" or "full"


@dataclass(frozen=True)
class PartyView:
    registered: bool
    work_unit: str | None
    registered_on: date | None


@dataclass(frozen=True)
class OccupantView:
    person: PersonView
    relation: HomeRelation


@dataclass(frozen=True)
class TeamSeatView:
    position: Position
    building_id: uuid.UUID | None
    person: PersonView


async def view_at(
    ctx: Context, person: Person, place: Place | None, *, is_owner_here: bool = False
) -> PersonView:
    party_here = lives_here = False
    if place is not None and place.compound_id is not None:
        party_compounds, homes = await asyncio.gather(
            ctx.loaders.party_compounds.load(person.id), ctx.loaders.homes_of_person.load(person.id)
        )
        party_here = place.compound_id in party_compounds
        lives_here = any(home.compound_id == place.compound_id for home in homes)
    subject = Subject(
        person.id, is_owner_here=is_owner_here, is_party_member_here=party_here, lives_here=lives_here
    )
    name_level = person_name_level(ctx.principal, place, subject)
    phone_level = person_phone_level(ctx.principal, place, subject)
    return PersonView(
        id=person.id,
        name=person.name if name_level == "full" else (mask_name(person.name) or ""),
        phone=person.phone if phone_level == "full" else mask_phone(person.phone) if phone_level else None,
        party_access=party_level(ctx.principal, place, subject),
    )


async def party(ctx: Context, view: PersonView) -> PartyView | None:
    if view.party_access is None:
        return None
    profile = await ctx.loaders.party_profile.load(view.id)
    if profile is None:
        return None
    registered = profile.registered_on is not None
    if view.party_access == "status":
        return PartyView(registered=registered, work_unit=None, registered_on=None)
    return PartyView(registered=registered, work_unit=profile.work_unit, registered_on=profile.registered_on)


async def occupants(ctx: Context, *, compound_row: Compound, household_id: uuid.UUID) -> list[OccupantView]:
    """Who lives in a household the caller may already see (checked by the caller)."""
    household_row = await ctx.loaders.household.load(household_id)
    assert household_row is not None
    place = household_place(compound_row, household_row)
    found = await ctx.loaders.occupants.load(household_id)
    # Gathered, not awaited one by one: every person's facts then load in one batch.
    views = await asyncio.gather(
        *(view_at(ctx, o.person, place, is_owner_here=o.relation == HomeRelation.OWNER) for o in found)
    )
    return [OccupantView(view, o.relation) for view, o in zip(views, found, strict=True)]


async def views_at(ctx: Context, people: Sequence[Person], place: Place | None) -> list[PersonView]:
    """Several people at one place, gathered so that their facts load in one batch per list."""
    return list(await asyncio.gather(*(view_at(ctx, p, place) for p in people)))


async def team(ctx: Context, *, compound_row: Compound) -> list[TeamSeatView]:
    seats = await ctx.loaders.team.load(compound_row.id)
    views = await views_at(ctx, [seat.person for seat in seats], compound_place(compound_row))
    return [
        TeamSeatView(seat.position.position, seat.position.building_id, view)
        for seat, view in zip(seats, views, strict=True)
    ]


async def person(ctx: Context, *, person_id: uuid.UUID) -> PersonView:
    """A person by ID: themself, or someone living in a household the caller may see."""
    row = await ctx.loaders.person.load(person_id)
    if row is None:
        raise ForbiddenError(NOT_VISIBLE)
    if can(ctx.principal, "person.name", "read_full", None, Subject(person_id)):  # themself, an operator
        return await view_at(ctx, row, None)
    for home in await ctx.loaders.homes_of_person.load(person_id):
        household_row = await ctx.loaders.household.load(home.household_id)
        if household_row is not None and await can_read_household(ctx, household_row):
            compound_row = await ctx.loaders.compound.load(home.compound_id)
            assert compound_row is not None
            place = household_place(compound_row, household_row)
            return await view_at(ctx, row, place, is_owner_here=home.relation == HomeRelation.OWNER)
    raise ForbiddenError(NOT_VISIBLE)
