"""Reading the place tree: compounds, buildings, households, with the policy applied."""

from __future__ import annotations

import uuid

import sqlalchemy as sa

from auth.policy import NOT_VISIBLE, Place, can, require, scope_clause
from auth.principal import Principal
from models import Building, Community, Compound, Grid, Household
from models.errors import ForbiddenError
from resolvers.context import Context
from resolvers.ids import page_size
from resolvers.loaders import Page, PageKey


def compound_place(compound: Compound) -> Place:
    return Place(community_id=compound.community_id, grid_id=compound.grid_id, compound_id=compound.id)


def household_place(compound: Compound, household: Household) -> Place:
    return Place(
        community_id=compound.community_id,
        grid_id=compound.grid_id,
        compound_id=compound.id,
        building_id=household.building_id,
        household_id=household.id,
    )


async def compound(ctx: Context, *, compound_id: uuid.UUID, resource: str = "compound") -> Compound:
    row = await ctx.loaders.compound.load(compound_id)
    if row is None:
        raise ForbiddenError(NOT_VISIBLE)
    require(ctx.principal, resource, "read", compound_place(row))
    return row


async def building(ctx: Context, *, building_id: uuid.UUID) -> Building:
    row = await ctx.loaders.building.load(building_id)
    if row is None:
        raise ForbiddenError(NOT_VISIBLE)
    parent = await ctx.loaders.compound.load(row.compound_id)
    assert parent is not None  # foreign key
    require(ctx.principal, "building", "read", compound_place(parent))
    return row


async def household(ctx: Context, *, household_id: uuid.UUID) -> Household:
    row = await ctx.loaders.household.load(household_id)
    if row is None:
        raise ForbiddenError(NOT_VISIBLE)
    parent = await ctx.loaders.compound.load(row.compound_id)
    assert parent is not None
    require(ctx.principal, "household", "read", household_place(parent, row))
    return row


async def can_read_household(ctx: Context, row: Household) -> bool:
    parent = await ctx.loaders.compound.load(row.compound_id)
    return parent is not None and can(ctx.principal, "household", "read", household_place(parent, row))


def visible_compounds_clause(principal: Principal) -> sa.ColumnElement[bool]:
    return scope_clause(
        principal,
        "compound",
        "read",
        {"compound": Compound.id, "grid": Compound.grid_id, "community": Compound.community_id},
    )


async def compounds(ctx: Context, *, first: int | None, offset: int) -> Page[Compound]:
    limit = page_size(first)
    statement = (
        sa.select(Compound)
        .where(visible_compounds_clause(ctx.principal))
        .order_by(Compound.name, Compound.id)
        .offset(offset)
        .limit(limit + 1)
    )
    async with ctx.sessions() as session:
        rows = list((await session.execute(statement)).scalars().all())
    for row in rows:
        ctx.loaders.compound.prime(row.id, row)
    return Page(rows[:limit], offset, len(rows) > limit)


async def buildings(
    ctx: Context, *, compound_row: Compound, first: int | None, offset: int
) -> Page[Building]:
    page = await ctx.loaders.buildings_page.load(PageKey(compound_row.id, page_size(first), offset))
    for row in page.rows:
        ctx.loaders.building.prime(row.id, row)
    return page


async def households_of_building(
    ctx: Context, *, building_row: Building, first: int | None, offset: int
) -> Page[Household]:
    page = await ctx.loaders.households_by_building.load(PageKey(building_row.id, page_size(first), offset))
    _prime_households(ctx, page)
    return page


async def households_of_compound(
    ctx: Context, *, compound_row: Compound, first: int | None, offset: int
) -> Page[Household]:
    page = await ctx.loaders.households_by_compound.load(PageKey(compound_row.id, page_size(first), offset))
    _prime_households(ctx, page)
    return page


def _prime_households(ctx: Context, page: Page[Household]) -> None:
    for row in page.rows:
        ctx.loaders.household.prime(row.id, row)


async def grid(ctx: Context, *, grid_id: uuid.UUID) -> Grid:
    """A grid is visible to whoever may see one of its compounds (or works it)."""
    row = await ctx.loaders.grid.load(grid_id)
    if row is None or not await _any_visible_compound(ctx, Compound.grid_id == grid_id):
        raise ForbiddenError(NOT_VISIBLE)
    return row


async def community(ctx: Context, *, community_id: uuid.UUID) -> Community:
    row = await ctx.loaders.community.load(community_id)
    if row is None or not await _any_visible_compound(ctx, Compound.community_id == community_id):
        raise ForbiddenError(NOT_VISIBLE)
    return row


async def _any_visible_compound(ctx: Context, condition: sa.ColumnElement[bool]) -> bool:
    statement = sa.select(sa.literal(1)).where(condition, visible_compounds_clause(ctx.principal)).limit(1)
    async with ctx.sessions() as session:
        return (await session.execute(statement)).first() is not None
