"""Alembic environment: runs migrations over asyncpg against the URL the caller configured."""

from __future__ import annotations

import asyncio
from typing import Any

from alembic import context
from sqlalchemy import pool
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from app.database import async_url

config = context.config


def _comparing() -> dict[str, Any]:
    """What `alembic revision --autogenerate` compares against: the models' tables. Applying
    migrations needs none of them, and importing every model would cost each command (and each
    server start) a third of a second."""
    if not getattr(config.cmd_opts, "autogenerate", False):
        return {}
    from sqlmodel import SQLModel

    import models  # noqa: F401  (registers the tables on the metadata)
    from models.base import declared_by_models

    return {"target_metadata": SQLModel.metadata, "include_object": declared_by_models}


def _run(connection: Connection) -> None:
    owner = config.attributes.get("owner_role")
    if owner:  # what the migrations create belongs to the owner's role (app.migrate.OWNER_ROLE)
        connection.exec_driver_sql(f"SET ROLE {connection.dialect.identifier_preparer.quote(owner)}")
        connection.commit()
    context.configure(connection=connection, compare_type=True, **_comparing())
    with context.begin_transaction():
        context.run_migrations()


async def _run_async() -> None:
    engine = create_async_engine(async_url(config.get_main_option("sqlalchemy.url")), poolclass=pool.NullPool)
    async with engine.connect() as connection:
        await connection.run_sync(_run)
    await engine.dispose()


if context.is_offline_mode():
    context.configure(url=config.get_main_option("sqlalchemy.url"), **_comparing())
    with context.begin_transaction():
        context.run_migrations()
else:
    asyncio.run(_run_async())
