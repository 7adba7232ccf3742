"""The place tree: districts, streets, communities, grids, compounds, buildings, households, as
the caller may see them.

Every row here is read through the policy's SQL filter, by id and in every list, so an edge
(a task's compound, a household's building) answers exactly what `node(id:)` answers.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from strawberry.dataloader import DataLoader

from auth.policy import Action, Resource, not_visible, params, refusal, where
from models.errors import BadUserInputError
from models.place import (
    Building,
    Community,
    Compound,
    District,
    Grid,
    Household,
    Street,
    service_days_problem,
)
from resolvers.context import Context
from resolvers.loaders import Loader, PageKey, paged, visible_by_id
from resolvers.pages import Key, Page, order, read, window
from resolvers.pipeline import Outcome, Target, Work, run


def _visible(ctx: Context, resource: Resource, model: Any) -> DataLoader[uuid.UUID, Any]:
    return ctx.loaders.cached(
        f"visible:{resource}", lambda: visible_by_id(ctx.sessions, ctx.principal, resource, model)
    )


def district_loader(ctx: Context) -> DataLoader[uuid.UUID, District | None]:
    return _visible(ctx, Resource.DISTRICT, District)


def street_loader(ctx: Context) -> DataLoader[uuid.UUID, Street | None]:
    return _visible(ctx, Resource.STREET, Street)


def community_loader(ctx: Context) -> DataLoader[uuid.UUID, Community | None]:
    return _visible(ctx, Resource.COMMUNITY, Community)


def grid_loader(ctx: Context) -> DataLoader[uuid.UUID, Grid | None]:
    return _visible(ctx, Resource.GRID, Grid)


def compound_loader(ctx: Context) -> DataLoader[uuid.UUID, Compound | None]:
    return _visible(ctx, Resource.COMPOUND, Compound)


def building_loader(ctx: Context) -> DataLoader[uuid.UUID, Building | None]:
    return _visible(ctx, Resource.BUILDING, Building)


def household_loader(ctx: Context) -> DataLoader[uuid.UUID, Household | None]:
    return _visible(ctx, Resource.HOUSEHOLD, Household)


def granted(ctx: Context, resource: Resource, action: Action, model: Any) -> DataLoader[uuid.UUID, bool]:
    """Per id: does the policy grant `action` on that row? One statement per batch."""

    def build() -> DataLoader[uuid.UUID, bool]:
        allowed = where(ctx.principal, resource, action, model.__table__)

        async def load(ids: Sequence[uuid.UUID]) -> list[bool]:
            async with ctx.sessions() as session:
                statement = sa.select(model.id).where(model.id.in_(ids), allowed)
                found = set((await session.execute(statement, params(ctx.principal))).scalars())
            return [i in found for i in ids]

        return Loader(load_fn=load)

    return ctx.loaders.cached(f"granted:{resource}:{action}", build)


async def one(loader: DataLoader[uuid.UUID, Any], ident: uuid.UUID) -> Any:
    """The row, or the one answer for a missing or invisible object."""
    row = await loader.load(ident)
    if row is None:
        raise not_visible()
    return row


async def compound(ctx: Context, *, compound_id: uuid.UUID) -> Compound:
    return await one(compound_loader(ctx), compound_id)


async def building(ctx: Context, *, building_id: uuid.UUID) -> Building:
    return await one(building_loader(ctx), building_id)


async def household(ctx: Context, *, household_id: uuid.UUID) -> Household:
    return await one(household_loader(ctx), household_id)


async def grid(ctx: Context, *, grid_id: uuid.UUID) -> Grid:
    return await one(grid_loader(ctx), grid_id)


async def district(ctx: Context, *, district_id: uuid.UUID) -> District:
    return await one(district_loader(ctx), district_id)


async def street(ctx: Context, *, street_id: uuid.UUID) -> Street:
    return await one(street_loader(ctx), street_id)


async def community(ctx: Context, *, community_id: uuid.UUID) -> Community:
    return await one(community_loader(ctx), community_id)


async def require_on_compound(ctx: Context, compound_row: Compound, action: Action) -> None:
    """Refuse a compound-level read the policy denies (the team, for a third party)."""
    if not await granted(ctx, Resource.COMPOUND, action, Compound).load(compound_row.id):
        raise refusal(Resource.COMPOUND, action)


#: the orders of the place lists: by name, households by number
COMPOUNDS = BUILDINGS = DISTRICTS = STREETS = COMMUNITIES = GRIDS = order(Key("name", str), Key("id"))
HOUSEHOLDS = order(Key("number", str), Key("id"))


async def compounds(ctx: Context, *, first: int | None, after: str | None) -> Page[Compound]:
    statement = sa.select(Compound).where(
        where(ctx.principal, Resource.COMPOUND, Action.READ, Compound.__table__)
    )
    w = window(COMPOUNDS, first=first, after=after)
    page = await read(ctx.sessions, statement, Compound.__table__, COMPOUNDS, w, params(ctx.principal))
    for row in page.rows:
        compound_loader(ctx).prime(row.id, row)
    return page


async def districts(ctx: Context, *, first: int | None, after: str | None) -> Page[District]:
    statement = sa.select(District).where(
        where(ctx.principal, Resource.DISTRICT, Action.READ, District.__table__)
    )
    w = window(DISTRICTS, first=first, after=after)
    return await read(ctx.sessions, statement, District.__table__, DISTRICTS, w, params(ctx.principal))


#: the children of each kind of place, for `children`: (model, its parent column, resource, order)
CHILDREN: dict[str, tuple[Any, Any, Resource, Any]] = {
    "streets": (Street, Street.district_id, Resource.STREET, STREETS),
    "communities": (Community, Community.street_id, Resource.COMMUNITY, COMMUNITIES),
    "grids": (Grid, Grid.community_id, Resource.GRID, GRIDS),
    "compounds_of_community": (Compound, Compound.community_id, Resource.COMPOUND, COMPOUNDS),
    "compounds_of_grid": (Compound, Compound.grid_id, Resource.COMPOUND, COMPOUNDS),
}


async def children(
    ctx: Context, kind: str, parent_id: uuid.UUID, *, first: int | None, after: str | None
) -> Page[Any]:
    """A page of a place's children of `kind` (a district's streets, a street's communities, a
    community's grids or compounds, a grid's compounds) that the caller may see; batched."""
    model, parent, resource, order_ = CHILDREN[kind]
    loader = ctx.loaders.cached(
        f"children:{kind}",
        lambda: paged(
            ctx.sessions,
            model,
            parent,
            order_,
            where(ctx.principal, resource, Action.READ, model.__table__),
            params(ctx.principal),
        ),
    )
    return await loader.load(PageKey(parent_id, window(order_, first=first, after=after)))


def _buildings_page(ctx: Context) -> DataLoader[PageKey, Page[Building]]:
    return ctx.loaders.cached(
        "buildings_page",
        lambda: paged(
            ctx.sessions,
            Building,
            Building.compound_id,
            BUILDINGS,
            where(ctx.principal, Resource.BUILDING, Action.READ, Building.__table__),
            params(ctx.principal),
        ),
    )


def _households_page(ctx: Context, parent: str) -> DataLoader[PageKey, Page[Household]]:
    return ctx.loaders.cached(
        f"households_page:{parent}",
        lambda: paged(
            ctx.sessions,
            Household,
            getattr(Household, parent),
            HOUSEHOLDS,
            where(ctx.principal, Resource.HOUSEHOLD, Action.READ, Household.__table__),
            params(ctx.principal),
        ),
    )


async def buildings(
    ctx: Context, *, compound_row: Compound, first: int | None, after: str | None
) -> Page[Building]:
    page = await _buildings_page(ctx).load(
        PageKey(compound_row.id, window(BUILDINGS, first=first, after=after))
    )
    for row in page.rows:
        building_loader(ctx).prime(row.id, row)
    return page


async def households_of_building(
    ctx: Context, *, building_row: Building, first: int | None, after: str | None
) -> Page[Household]:
    w = window(HOUSEHOLDS, first=first, after=after)
    page = await _households_page(ctx, "building_id").load(PageKey(building_row.id, w))
    _prime_households(ctx, page)
    return page


async def households_of_compound(
    ctx: Context, *, compound_row: Compound, first: int | None, after: str | None
) -> Page[Household]:
    w = window(HOUSEHOLDS, first=first, after=after)
    page = await _households_page(ctx, "compound_id").load(PageKey(compound_row.id, w))
    _prime_households(ctx, page)
    return page


def _prime_households(ctx: Context, page: Page[Household]) -> None:
    for row in page.rows:
        household_loader(ctx).prime(row.id, row)


# --- a community's settings ---------------------------------------------------------------------

COMMUNITY = Target(Resource.COMMUNITY, Community)


async def set_service_days(ctx: Context, *, community_id: uuid.UUID, days: int) -> Community:
    """The community's service deadline: days from a report to its resolution, after which the
    people working a task still open are reminded. Tasks already reported follow the new one."""
    problem = service_days_problem(days)
    if problem is not None:
        raise BadUserInputError(problem, field="days")

    async def apply(work: Work[Community]) -> Outcome[Community]:
        work.row.service_days = days
        await work.session.flush()
        return Outcome(work.row)

    row = await run(ctx, COMMUNITY, community_id, Action.SET_SERVICE_DAYS, apply)
    community_loader(ctx).prime(row.id, row)
    return row
