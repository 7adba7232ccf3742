"""Apply Alembic migrations from code (`qilijia migrate`, `serve`, `import`, the tests).

Alembic's environment runs its own event loop, so callers inside a running loop get the work done
on a separate thread.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from pathlib import Path

from alembic import command
from alembic.config import Config

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"
log = logging.getLogger("qilijia.migrate")


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


#: the role the service connects as (`app.database.service_url`): it reads and writes rows and
#: nothing more. It may not TRUNCATE, ALTER or DROP anything (only a table's owner may), and the
#: append-only tables take its INSERTs but never an UPDATE or a DELETE.
SERVICE_ROLE = "qilijia_app"
#: the advisory lock under which a database's grants are given (any fixed key no other lock uses)
GRANT_LOCK = 0x51_4C4A_4752
APPEND_ONLY = ("ballot", "task_event", "audit_record", "cost_disclosure", "cost_share")


def upgrade(
    url: str, revision: str = "head", *, service_role: str = SERVICE_ROLE, service_password: str | None = None
) -> None:
    """Apply the migrations as the URL's user (the tables' owner), then give the service's role
    what it may do. The role's password, when given, is set too (`app.database.service_url`)."""

    def work() -> None:
        command.upgrade(alembic_config(url), revision)
        if service_role:
            asyncio.run(grant_service_role(url, service_role, service_password))

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        work()
        return
    errors: list[BaseException] = []

    def guarded() -> None:
        try:
            work()
        except BaseException as exc:  # re-raised on the caller's thread
            errors.append(exc)

    thread = threading.Thread(target=guarded)
    thread.start()
    thread.join()
    if errors:
        raise errors[0]


def current_heads(url: str) -> set[str]:
    from alembic.script import ScriptDirectory

    return set(ScriptDirectory.from_config(alembic_config(url)).get_heads())


async def grant_service_role(url: str, role: str, password: str | None) -> None:
    """Create the service's role if it is missing, and grant it rows, not tables. A user who may
    not create roles (a managed database) leaves it to the operator: a warning says how."""
    import asyncpg
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    conn = await asyncpg.connect(
        user=parsed.username,
        password=parsed.password or None,
        host=parsed.query.get("host") or parsed.host,
        port=parsed.port,
        database=parsed.database,
    )
    try:
        exists = await conn.fetchval("SELECT true FROM pg_roles WHERE rolname = $1", role)
        if not exists:
            try:
                await conn.execute(
                    await conn.fetchval(
                        "SELECT format('CREATE ROLE %I LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE', $1::text)",
                        role,
                    )
                )
            except asyncpg.DuplicateObjectError:
                pass  # another process made it meanwhile
            except asyncpg.InsufficientPrivilegeError:
                log.warning(
                    "cannot create the service role %s: create it (LOGIN) and run `qilijia migrate` again, "
                    "or set QILIJIA_DB_SERVICE_ROLE= to connect as the owner",
                    role,
                )
                return
        if password:
            alter = await conn.fetchval(
                "SELECT format('ALTER ROLE %I PASSWORD %L', $1::text, $2::text)", role, password
            )
            try:
                await conn.execute(alter)
            except asyncpg.InternalServerError as exc:  # "tuple concurrently updated": another
                if "concurrently" not in str(exc):  # migrate set the same password at that moment
                    raise
            except asyncpg.InsufficientPrivilegeError:
                log.warning("cannot set the service role's password: give %s the one the service uses", role)
        statements = [
            "GRANT CONNECT ON DATABASE {db} TO {role}",
            "GRANT USAGE ON SCHEMA public TO {role}",
            "REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {role}",
            "GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {role}",
            "REVOKE UPDATE, DELETE ON {append_only} FROM {role}",
            "REVOKE INSERT, UPDATE, DELETE ON alembic_version FROM {role}",
            "GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {role}",
        ]
        quoted_role = await conn.fetchval("SELECT quote_ident($1)", role)
        database = await conn.fetchval("SELECT quote_ident(current_database())")
        async with conn.transaction():
            # two processes migrating one database at once (two `serve`s starting) would otherwise
            # change the same catalog rows together ("tuple concurrently updated")
            await conn.execute("SELECT pg_advisory_xact_lock($1)", GRANT_LOCK)
            for statement in statements:
                await conn.execute(
                    statement.format(db=database, role=quoted_role, append_only=", ".join(APPEND_ONLY))
                )
    finally:
        await conn.close()
