"""`person_tie` (migration 0036): the policy reads every person's ties from one table, which the
database's triggers keep equal to what `person_tie_source` derives from homes, roles and team
positions, whatever the service writes and however the places above them move."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import asyncpg
import pytest_asyncio

from app.database import asyncpg_connect_kwargs
from tests.test_db_roles import as_service
from tests.test_import import TIES_DIFFERENCE as DIFFERENCE


@pytest_asyncio.fixture
async def service(demo_db_url: str) -> AsyncIterator[asyncpg.Connection]:
    conn = await as_service(demo_db_url)
    try:
        yield conn
    finally:
        await conn.close()


async def kept(conn: asyncpg.Connection) -> int:
    """The number of ties, once the table is seen to equal its definition."""
    assert await conn.fetch(DIFFERENCE) == []
    return await conn.fetchval("SELECT count(*) FROM person_tie")


async def test_the_demo_worlds_ties_are_kept(service: asyncpg.Connection) -> None:
    ties = await kept(service)
    assert ties == await service.fetchval(
        "SELECT (SELECT count(*) FROM home) + (SELECT count(*) FROM role_assignment WHERE role <> 'ADMIN')"
        " + (SELECT count(*) FROM team_position)"
    )
    assert ties > 100


async def test_homes_roles_and_positions_written_changed_and_deleted(service: asyncpg.Connection) -> None:
    before = await kept(service)
    person = await service.fetchval("SELECT id FROM person ORDER BY phone LIMIT 1")
    household = await service.fetchval("SELECT id FROM household ORDER BY number DESC LIMIT 1")
    compound, grid, community = await service.fetchrow(
        "SELECT id, grid_id, community_id FROM compound LIMIT 1"
    )
    home = await service.fetchval(
        "INSERT INTO home (id, household_id, person_id, compound_id, relation) "
        "SELECT gen_random_uuid(), $1, $2, compound_id, 'TENANT' FROM household WHERE id = $1 RETURNING id",
        household,
        person,
    )
    assert await kept(service) == before + 1
    await service.execute("UPDATE home SET ends_on = starts_on + 1 WHERE id = $1", home)
    assert await service.fetchval("SELECT ends_on FROM person_tie WHERE source_id = $1", home) is not None
    await kept(service)
    roles = await service.fetch(
        "INSERT INTO role_assignment (id, person_id, role, compound_id, grid_id, community_id) VALUES "
        "(gen_random_uuid(), $1, 'PROPERTY_STAFF', $2, NULL, NULL),"
        "(gen_random_uuid(), $1, 'GRID_WORKER', NULL, $3, NULL),"
        "(gen_random_uuid(), $1, 'COMMUNITY_COMMITTEE', NULL, NULL, $4),"
        "(gen_random_uuid(), $1, 'ADMIN', NULL, NULL, NULL) RETURNING id",
        person,
        compound,
        grid,
        community,
    )
    assert await kept(service) == before + 1 + 3  # an administrator is tied to no place
    await service.execute(
        "UPDATE role_assignment SET ends_on = starts_on + 30 WHERE id = ANY($1::uuid[])",
        [r["id"] for r in roles],
    )
    await kept(service)
    position = await service.fetchval(
        "INSERT INTO team_position (id, compound_id, person_id, position) "
        "VALUES (gen_random_uuid(), $1, $2, 'COMMITTEE_MEMBER') RETURNING id",
        compound,
        person,
    )
    assert await kept(service) == before + 5
    await service.execute("DELETE FROM team_position WHERE id = $1", position)
    await service.execute("DELETE FROM role_assignment WHERE id = ANY($1::uuid[])", [r["id"] for r in roles])
    await service.execute("DELETE FROM home WHERE id = $1", home)
    assert await kept(service) == before


async def test_places_moving_move_the_ties_held_in_them(
    demo_db_url: str, service: asyncpg.Connection
) -> None:
    before = await kept(service)
    household, building = await service.fetchrow(
        "SELECT h.id, (SELECT b.id FROM building b WHERE b.compound_id = h.compound_id AND b.id <> h.building_id"
        "  ORDER BY b.name LIMIT 1) FROM household h JOIN home m ON m.household_id = h.id LIMIT 1"
    )
    owner = await asyncpg.connect(**asyncpg_connect_kwargs(demo_db_url))  # the places are the importer's
    try:
        await owner.execute("UPDATE household SET building_id = $2 WHERE id = $1", household, building)
        assert await service.fetchval(
            "SELECT bool_and(building_id = $2) FROM person_tie WHERE household_id = $1", household, building
        )
        await kept(service)
        compound, grid = await owner.fetchrow(
            "SELECT c.id, (SELECT g.id FROM grid g WHERE g.id <> c.grid_id ORDER BY g.name LIMIT 1)"
            " FROM compound c ORDER BY c.key LIMIT 1"
        )
        community = await owner.fetchval("SELECT community_id FROM grid WHERE id = $1", grid)
        await owner.execute(
            "UPDATE compound SET grid_id = $2, community_id = $3 WHERE id = $1", compound, grid, community
        )
        assert await service.fetchval(
            "SELECT bool_and(grid_id = $2 AND community_id = $3) FROM person_tie WHERE compound_id = $1",
            compound,
            grid,
            community,
        )
        await kept(service)
        other = await owner.fetchval(
            "SELECT id FROM community WHERE id <> $1 ORDER BY name LIMIT 1", community
        )
        await owner.execute("UPDATE grid SET community_id = $2 WHERE id = $1", grid, other)
        await kept(service)
        await owner.execute("UPDATE compound SET name = name || '（改）'")  # nothing tied moved
        positions = await service.fetchval("SELECT count(*) FROM person_tie WHERE kind = 'POSITION'")
        assert positions > 0
        await owner.execute("TRUNCATE team_position")
        assert await kept(service) == before - positions
    finally:
        await owner.close()


async def test_a_tie_written_while_its_compound_moves_names_where_it_moved(
    demo_db_url: str, service: asyncpg.Connection
) -> None:
    """An import re-gridding a compound, and staff appointed there meanwhile: the appointment's tie
    waits for the move to commit and then names the compound's new grid and community."""
    owner = await asyncpg.connect(**asyncpg_connect_kwargs(demo_db_url))
    try:
        compound, grid, person = await owner.fetchrow(
            "SELECT c.id, (SELECT g.id FROM grid g WHERE g.id <> c.grid_id ORDER BY g.name LIMIT 1),"
            " (SELECT id FROM person ORDER BY phone LIMIT 1) FROM compound c ORDER BY c.key LIMIT 1"
        )
        community = await owner.fetchval("SELECT community_id FROM grid WHERE id = $1", grid)
        moving = owner.transaction()
        await moving.start()
        await owner.execute(
            "UPDATE compound SET grid_id = $2, community_id = $3 WHERE id = $1", compound, grid, community
        )
        appointed = asyncio.ensure_future(
            service.fetchval(
                "INSERT INTO role_assignment (id, person_id, role, compound_id) "
                "VALUES (gen_random_uuid(), $1, 'PROPERTY_STAFF', $2) RETURNING id",
                person,
                compound,
            )
        )
        await asyncio.sleep(0.5)
        assert not appointed.done()  # its tie waits for the move
        await moving.commit()
        role = await asyncio.wait_for(appointed, 10)
        assert tuple(
            await service.fetchrow("SELECT grid_id, community_id FROM person_tie WHERE source_id = $1", role)
        ) == (grid, community)
        await kept(service)
    finally:
        await owner.close()
