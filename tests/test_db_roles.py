"""Least privilege in the database: migrations run as the tables' owner, the service connects as a
role that reads and writes rows, may not TRUNCATE, ALTER or DROP anything, and only appends to the
append-only tables."""

from __future__ import annotations

import logging

import asyncpg
import pytest
import sqlalchemy as sa

from app.database import asyncpg_connect_kwargs, service_url
from app.migrate import APPEND_ONLY, SERVICE_ROLE
from tests.conftest import make_settings, running_api

FORBIDDEN_TO_THE_SERVICE = [
    "TRUNCATE ballot",
    "TRUNCATE audit_record",
    "UPDATE ballot SET choice = 'AGREE'",
    "DELETE FROM ballot",
    "UPDATE task_event SET payload = '{}'",
    "DELETE FROM task_event",
    "UPDATE audit_record SET payload = ''",
    "DELETE FROM audit_record",
    "ALTER TABLE ballot DISABLE TRIGGER ballot_append_only",
    "DROP TRIGGER ballot_append_only ON ballot",
    "DROP TABLE vote_tally",
    "ALTER TABLE person ADD COLUMN x int",
    "DELETE FROM alembic_version",
    "CREATE TABLE elsewhere (x int)",
    # each person's ties are the database's to derive (migration 0036)
    "DELETE FROM person_tie",
    "UPDATE person_tie SET kind = 'OWNER'",
    "INSERT INTO person_tie SELECT * FROM person_tie_source",
    "DROP TRIGGER home_homes_added_person_ties ON home",
]


async def as_service(url: str) -> asyncpg.Connection:
    return await asyncpg.connect(**asyncpg_connect_kwargs(service_url(url, make_settings(url))))


@pytest.mark.parametrize("statement", FORBIDDEN_TO_THE_SERVICE)
async def test_the_service_role_may_not_change_what_it_serves(demo_db_url: str, statement: str) -> None:
    conn = await as_service(demo_db_url)
    try:
        assert await conn.fetchval("SELECT current_user") == SERVICE_ROLE
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.execute(statement)
    finally:
        await conn.close()


async def test_the_service_role_reads_writes_and_appends(demo_db_url: str) -> None:
    conn = await as_service(demo_db_url)
    try:
        assert await conn.fetchval("SELECT count(*) FROM person") > 0
        writing = conn.transaction()  # rows of ordinary tables: yes
        await writing.start()
        assert await conn.execute("UPDATE person SET name = name") != "UPDATE 0"
        await writing.rollback()
        for table in APPEND_ONLY:  # append-only tables: INSERT granted, UPDATE and DELETE not
            privileges = await conn.fetchrow(
                "SELECT has_table_privilege($1, 'INSERT') AS i, has_table_privilege($1, 'UPDATE') AS u, "
                "has_table_privilege($1, 'DELETE') AS d, has_table_privilege($1, 'TRUNCATE') AS t",
                table,
            )
            assert tuple(privileges) == (True, False, False, False), table
    finally:
        await conn.close()


async def test_the_app_connects_as_the_service_role(demo_db_url: str) -> None:
    async with running_api(demo_db_url) as api, api.app.state.engine.connect() as conn:
        assert (await conn.execute(sa.text("SELECT current_user"))).scalar() == SERVICE_ROLE
        assert await api.app.state.services.reads.pool.fetchval("SELECT current_user") == SERVICE_ROLE


async def test_connecting_as_the_owner_is_warned_about(
    demo_db_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    settings = make_settings(demo_db_url, QILIJIA_DB_SERVICE_ROLE="")
    with caplog.at_level(logging.WARNING, logger="qilijia.http"):
        async with running_api(demo_db_url, settings) as api:
            assert (await api.gql("{ __typename }"))["data"] == {"__typename": "Query"}
    assert any("could drop or truncate" in r.getMessage() for r in caplog.records)
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="qilijia.http"):
        async with running_api(demo_db_url):
            pass
    assert not any("could drop or truncate" in r.getMessage() for r in caplog.records)


async def test_two_processes_migrating_at_once_grant_without_colliding(demo_db_url: str) -> None:
    """Two `serve`s starting together both give the grants: one waits for the other."""
    import asyncio

    from app.migrate import grant_service_role

    for _ in range(5):
        await asyncio.gather(
            *(grant_service_role(demo_db_url, SERVICE_ROLE, "pw-" + "x" * 30) for _ in range(4))
        )
    conn = await as_service(demo_db_url)
    try:
        assert await conn.fetchval("SELECT has_table_privilege('ballot', 'INSERT')")
        assert not await conn.fetchval("SELECT has_table_privilege('ballot', 'UPDATE')")
    finally:
        await conn.close()
