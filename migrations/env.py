"""Alembic environment: runs migrations over asyncpg against the URL the caller configured."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy import pool
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine
from sqlmodel import SQLModel

import models  # noqa: F401  (registers the tables on the metadata)
from app.database import async_url
from models.base import declared_by_models

config = context.config
target_metadata = SQLModel.metadata


def _run(connection: Connection) -> None:
    owner = config.attributes.get("owner_role")
    if owner:  # what the migrations create belongs to the owner's role (app.migrate.OWNER_ROLE)
        connection.exec_driver_sql(f"SET ROLE {connection.dialect.identifier_preparer.quote(owner)}")
        connection.commit()
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        compare_type=True,
        include_object=declared_by_models,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_async() -> None:
    engine = create_async_engine(async_url(config.get_main_option("sqlalchemy.url")), poolclass=pool.NullPool)
    async with engine.connect() as connection:
        await connection.run_sync(_run)
    await engine.dispose()


if context.is_offline_mode():
    context.configure(url=config.get_main_option("sqlalchemy.url"), target_metadata=target_metadata)
    with context.begin_transaction():
        context.run_migrations()
else:
    asyncio.run(_run_async())
