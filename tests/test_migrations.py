"""Alembic migrations against a real, initially empty PostgreSQL database.

The migrated schema must be exactly what the models declare (autogenerate finds nothing to do),
`upgrade` must be repeatable, and the whole history must go down to base and up again.
"""

from __future__ import annotations

import asyncio
import itertools
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine
from sqlmodel import SQLModel

import models  # noqa: F401  (registers every table on SQLModel.metadata)
from app.database import async_url
from app.migrate import OWNER_ROLE, alembic_config, current_heads, downgrade, history, upgrade
from models.base import declared_by_models
from tests.conftest import admin, fetch, fetchval, helpers, with_database


@pytest.fixture
def empty_url(pg_url: str) -> Iterator[str]:
    """A brand-new database with no tables at all (not cloned from the migrated template)."""
    name = f"qlj_mig_{uuid.uuid4().hex[:12]}"
    admin(pg_url, f"CREATE DATABASE {name}")
    url = with_database(pg_url, name)
    try:
        yield url
    finally:
        helpers().forget(url)
        admin(pg_url, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture
def scripts_read_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """The migration scripts read once for the test, not once more for each of its hundred
    commands (Alembic reads and compiles every script each time; they do not change meanwhile)."""
    from alembic.script import ScriptDirectory

    read = ScriptDirectory.from_config
    scripts: dict[str | None, ScriptDirectory] = {}

    def from_config(config: Any) -> ScriptDirectory:
        location = config.get_main_option("script_location")
        if location not in scripts:
            scripts[location] = read(config)
        return scripts[location]

    monkeypatch.setattr(ScriptDirectory, "from_config", staticmethod(from_config))


def public_tables(url: str) -> set[str]:
    rows = asyncio.run(
        fetch(
            url,
            "SELECT table_name FROM information_schema.tables "
            "WHERE table_schema = 'public' AND table_type = 'BASE TABLE'",
        )
    )
    return {r["table_name"] for r in rows}


def model_tables() -> set[str]:
    return set(SQLModel.metadata.tables)


def schema_dump(url: str) -> dict[str, list[tuple[Any, ...]]]:
    """Columns, constraints and indexes of the public schema, for before/after comparisons."""
    queries = {
        "columns": "SELECT table_name, column_name, data_type, is_nullable, column_default, "
        "numeric_precision, numeric_scale FROM information_schema.columns WHERE table_schema = 'public'",
        "constraints": "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint "
        "WHERE connamespace = 'public'::regnamespace",
        "indexes": "SELECT tablename, indexname, indexdef FROM pg_indexes WHERE schemaname = 'public'",
        "version": "SELECT version_num FROM alembic_version",
    }
    return {name: sorted(tuple(r) for r in asyncio.run(fetch(url, sql))) for name, sql in queries.items()}


def differences(url: str) -> list[Any]:
    """What `alembic revision --autogenerate` would emit to bring the database to the models."""

    def compare(connection: Connection) -> list[Any]:
        context = MigrationContext.configure(
            connection,
            opts={"compare_type": True, "compare_server_default": True, "include_object": declared_by_models},
        )
        return compare_metadata(context, SQLModel.metadata)

    async def run() -> list[Any]:
        engine = create_async_engine(async_url(url))
        try:
            async with engine.connect() as connection:
                return await connection.run_sync(compare)
        finally:
            await engine.dispose()

    return asyncio.run(run())


def version(url: str) -> str | None:
    return asyncio.run(fetchval(url, "SELECT version_num FROM alembic_version"))


def test_upgrade_creates_every_model_table(empty_url: str) -> None:
    assert public_tables(empty_url) == set()
    assert len(model_tables()) >= 11

    upgrade(empty_url)

    tables = public_tables(empty_url)
    assert model_tables() - tables == set(), "tables of the models that no migration creates"
    assert tables - model_tables() == {"alembic_version"}, "tables no model declares"
    assert {version(empty_url)} == current_heads(empty_url)


def test_migrated_database_matches_the_models_exactly(empty_url: str) -> None:
    upgrade(empty_url)
    assert differences(empty_url) == []


def test_a_second_upgrade_is_a_no_op(empty_url: str) -> None:
    upgrade(empty_url)
    before = schema_dump(empty_url)
    assert before["version"] == [(v,) for v in sorted(current_heads(empty_url))]

    upgrade(empty_url)

    assert schema_dump(empty_url) == before


async def test_upgrade_works_from_inside_a_running_event_loop(empty_url: str) -> None:
    # `serve` and the tests call it with a loop running; Alembic's env.py runs its own loop
    upgrade(empty_url)
    rows = await fetch(empty_url, "SELECT version_num FROM alembic_version")
    assert {r["version_num"] for r in rows} == current_heads(empty_url)


def test_downgrade_to_base_and_upgrade_again(empty_url: str) -> None:
    upgrade(empty_url)
    migrated = schema_dump(empty_url)

    command.downgrade(alembic_config(empty_url), "base")

    assert public_tables(empty_url) == {"alembic_version"}
    assert version(empty_url) is None
    assert schema_dump(empty_url) == {
        "columns": [("alembic_version", "version_num", "character varying", "NO", None, None, None)],
        "constraints": [("alembic_version", "alembic_version_pkc", "PRIMARY KEY (version_num)")],
        "indexes": [
            (
                "alembic_version",
                "alembic_version_pkc",
                "CREATE UNIQUE INDEX alembic_version_pkc ON public.alembic_version USING btree (version_num)",
            )
        ],
        "version": [],
    }

    upgrade(empty_url)

    assert schema_dump(empty_url) == migrated
    assert differences(empty_url) == []


def test_a_database_migrated_by_its_user_passes_to_the_owner_role(empty_url: str) -> None:
    """A database migrated before the owner's role existed (or with QILIJIA_DB_OWNER_ROLE=): the
    next `migrate` gives the role everything the migrating user owned, tables and functions."""
    owners = (
        "SELECT DISTINCT pg_get_userbyid(c.relowner) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE n.nspname = 'public' AND c.relkind IN ('r', 'S')"
        " UNION SELECT DISTINCT pg_get_userbyid(p.proowner) FROM pg_proc p"
        " JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = 'public'"
    )
    upgrade(empty_url, owner_role="")
    me = asyncio.run(fetchval(empty_url, "SELECT current_user"))
    assert {r[0] for r in asyncio.run(fetch(empty_url, owners))} == {me}

    upgrade(empty_url)

    assert {r[0] for r in asyncio.run(fetch(empty_url, owners))} == {OWNER_ROLE}
    assert differences(empty_url) == []


@pytest.mark.usefixtures("scripts_read_once")
def test_each_migration_goes_down_and_up_on_a_populated_database(demo_db_url: str) -> None:
    """From the demo world at head, each migration in turn, newest first, is undone, redone and
    undone again, with the rows of every table it leaves alone kept; then all are applied again
    and the schema is the models' exactly."""
    revisions = history(demo_db_url)
    people = asyncio.run(fetchval(demo_db_url, "SELECT count(*) FROM person"))
    assert people > 1000
    ids = [None, *(r.id for r in revisions)]
    for below, revision in reversed(list(itertools.pairwise(ids))):
        downgrade(demo_db_url, below or "base")
        assert version(demo_db_url) == below
        upgrade(demo_db_url, revision)
        assert version(demo_db_url) == revision
        downgrade(demo_db_url, below or "base")
        if below is not None:  # person (migration 0001) keeps its rows until 0001 itself goes
            assert asyncio.run(fetchval(demo_db_url, "SELECT count(*) FROM person")) == people
    assert public_tables(demo_db_url) == {"alembic_version"}
    upgrade(demo_db_url)
    assert differences(demo_db_url) == []
