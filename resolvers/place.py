"""The place tree: communities, grids, compounds, buildings, households, as the caller may see them.

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
from models.place import Building, Community, Compound, Grid, Household
from resolvers.context import Context
from resolvers.loaders import PageKey, paged, visible_by_id
from resolvers.pages import Key, Page, order, read, window


def _visible(ctx: Context, resource: Resource, model: Any) -> DataLoader[uuid.UUID, Any]:
    return ctx.loaders.cached(
        f"visible:{resource}", lambda: visible_by_id(ctx.sessions, ctx.principal, resource, model)
    )


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

        return DataLoader(load_fn=load)

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


async def community(ctx: Context, *, community_id: uuid.UUID) -> Community:
    return await one(community_loader(ctx), community_id)


async def require_on_compound(ctx: Context, compound_row: Compound, action: Action) -> None:
    """Refuse a compound-level read the policy denies (the team, for a third party)."""
    if not await granted(ctx, Resource.COMPOUND, action, Compound).load(compound_row.id):
        raise refusal(Resource.COMPOUND, action)


#: the orders of the place lists: by name, households by number
COMPOUNDS = BUILDINGS = order(Key("name", str), Key("id"))
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
