"""The database: an engine for `DATABASE_URL`, or an embedded PostgreSQL when it is unset.

Every connection the app opens carries `statement_timeout` and
`idle_in_transaction_session_timeout`, so one runaway query or a forgotten transaction cannot hold
locks or a pool slot for long.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from app.settings import Settings, SettingsError

log = logging.getLogger("qilijia.db")
_embedded: Any = None


def start_embedded(data_dir: Path) -> str:
    """Start (or reuse) the embedded PostgreSQL whose data lives in `data_dir/pg`; returns its URL.

    The server stops when the last process using it ends (`app.embedded`); its data stays for
    the next start.
    """
    global _embedded
    if _embedded is None:
        from app import embedded  # imported late: only the embedded mode needs pgserver

        _embedded = embedded.start(data_dir)
        log.info("embedded PostgreSQL started", extra={"data_dir": str(data_dir / "pg")})
    return _embedded.get_uri()


def resolve_database_url(settings: Settings) -> str:
    """The URL to use: `DATABASE_URL`, else the embedded server's (exported for child processes).
    Never the embedded one in `prod`: its data would die with the container."""
    if settings.database_url:
        return settings.database_url
    if settings.env == "prod":
        raise SettingsError(
            "生产环境必须设置 DATABASE_URL（例如 postgresql://user:password@db:5432/qilijia）："
            "内嵌数据库只用于开发和测试，它的数据会随容器一起消失。"
        )
    url = start_embedded(settings.data_dir)
    os.environ["DATABASE_URL"] = url
    return url


def service_url(url: str, settings: Settings) -> str:
    """The URL the service connects with: DATABASE_URL's server and database, as the service's
    own role (`app.migrate.SERVICE_ROLE`), not as the owner of the tables."""
    if not settings.db_service_role:
        return url
    parsed = make_url(url).set(username=settings.db_service_role, password=settings.service_password())
    return parsed.render_as_string(hide_password=False)


def async_url(url: str) -> URL:
    """`postgresql://…` as given by operators → the asyncpg dialect SQLAlchemy needs."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres", "postgresql+psycopg", "postgresql+psycopg2"):
        parsed = parsed.set(drivername="postgresql+asyncpg")
    return parsed


def create_engine(url: str, settings: Settings, **kwargs: Any) -> AsyncEngine:
    server_settings = {
        "statement_timeout": str(settings.statement_timeout_ms),
        "idle_in_transaction_session_timeout": str(settings.idle_in_transaction_timeout_ms),
        "application_name": "qilijia",
        "timezone": "UTC",
        # a screen's statement is small work with a large estimated cost (the policy's sub-selects):
        # JIT compiling it costs more than running it
        "jit": "off",
    }
    options: dict[str, Any] = {
        # as many connections as the compiled reads' pool and as many again, and every one kept: a
        # connection beyond the pool's size would be closed when given back, so a burst of ballots
        # would open one per ballot (a new PostgreSQL process, its caches, its PL/pgSQL compiled)
        "pool_size": 2 * settings.pool_size,
        "max_overflow": 0,
        # No pre-ping round trip per checkout (a screen checks out several connections); a
        # connection the server dropped is discarded on its first error, and none lives past 30 min.
        "pool_recycle": 1800,
        "connect_args": {"server_settings": server_settings},
    }
    options.update(kwargs)
    return create_async_engine(async_url(url), **options)


def sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


def asyncpg_connect_kwargs(url: str) -> dict[str, Any]:
    """Connection arguments for a raw asyncpg connection (the LISTEN connection of the broker)."""
    parsed = make_url(url)
    return {
        "user": parsed.username,
        "password": parsed.password or None,
        "host": parsed.query.get("host") or parsed.host,
        "port": parsed.port,
        "database": parsed.database,
        "server_settings": {"application_name": "qilijia-listener"},
    }


async def _keep_session(connection: Any) -> None:
    """The read pool's connections hold no session state to reset (no transaction, no LISTEN, no
    SET): asyncpg's reset query on release would be one more round trip per request."""


async def create_read_pool(url: str, settings: Settings) -> Any:
    """The compiled read path's pool: statements run alone (no transaction around them), read-only,
    and with generic plans, which PostgreSQL keeps per connection for each prepared statement. A
    compiled screen takes a few milliseconds to plan and one to run; its parameters are ids and page
    sizes, for which the generic plan is the custom plan."""
    import asyncpg

    kwargs = asyncpg_connect_kwargs(url)
    kwargs["server_settings"] = {
        "application_name": "qilijia-reads",
        "statement_timeout": str(settings.statement_timeout_ms),
        "timezone": "UTC",
        "jit": "off",
        "plan_cache_mode": "force_generic_plan",
        "default_transaction_read_only": "on",
    }
    return await asyncpg.create_pool(
        min_size=0,  # connects on first use: the app starts (and says it is not ready) without a database
        max_size=settings.pool_size,
        max_inactive_connection_lifetime=300,
        statement_cache_size=1024,
        # compiled screens run to tens of KB of SQL: asyncpg's default (15 KB) would not keep them
        # prepared, and each request would parse and plan its statement again
        max_cacheable_statement_size=1024 * 1024,
        reset=_keep_session,
        **kwargs,
    )
