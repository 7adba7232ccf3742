"""Apply Alembic migrations from code (`qilijia migrate`, `serve`, `import`, the tests).

Alembic's environment runs its own event loop, so callers inside a running loop get the work done
on a separate thread.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"
log = logging.getLogger("qilijia.migrate")


def alembic_config(url: str, *, owner_role: str | None = None) -> Config:
    """Alembic's configuration for `url`; with `owner_role`, the migrations run as that role
    (`migrations/env.py` sets it), so that what they create belongs to it."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    cfg.attributes["owner_role"] = owner_role
    return cfg


#: the role that owns the tables and the functions the migrations make: it logs in nowhere;
#: `qilijia migrate` connects as DATABASE_URL's user and acts as this role. Owning the database's
#: objects is all it may do: it is no superuser, so the SECURITY DEFINER functions that keep
#: tallies consistent (migration 0010) run with an owner's rights and no more.
OWNER_ROLE = "qilijia_owner"
#: the role the service connects as (`app.database.service_url`): it reads and writes rows and
#: nothing more. It may not TRUNCATE, ALTER or DROP anything (only a table's owner may), and the
#: append-only tables take its INSERTs but never an UPDATE or a DELETE.
SERVICE_ROLE = "qilijia_app"
#: the advisory lock under which a database's grants are given (any fixed key no other lock uses)
GRANT_LOCK = 0x51_4C4A_4752
APPEND_ONLY = (
    "ballot",
    "task_event",
    "audit_record",
    "cost_disclosure",
    "cost_share",
    "moderation_decision",
    "procedure_rules",
)
#: tables the service fills when a vote opens and never changes itself afterwards: a ballot and a
#: close change them through the functions below, which keep tally and choices consistent
THROUGH_FUNCTIONS = ("vote_tally", "vote_electorate", "vote_owner")
#: tables the database derives from others through its triggers (running as the owner): the service
#: reads them and never writes them
DERIVED = ("person_tie",)
FUNCTIONS = (
    "record_ballot(uuid, uuid, uuid, text, text)",  # before migration 0031
    "record_ballot(uuid, uuid, uuid, text, text, text, uuid)",
    "record_paper_ballot(uuid, uuid, uuid, uuid, text, text, timestamptz, text)",
    "close_tally(uuid)",
    "cast_ballot(uuid, uuid, uuid, text, text, text, uuid)",  # from migration 0038
)


def upgrade(
    url: str,
    revision: str = "head",
    *,
    owner_role: str = OWNER_ROLE,
    service_role: str = SERVICE_ROLE,
    service_password: str | None = None,
) -> None:
    """Apply the migrations as the owner's role (or, when `owner_role` is empty or cannot be
    made, as the URL's user), then give the service's role what it may do. The service role's
    password, when given, is set too (`app.database.service_url`)."""

    def work() -> None:
        owner = asyncio.run(prepare_owner(url, owner_role)) if owner_role else None
        command.upgrade(alembic_config(url, owner_role=owner), revision)
        if service_role:
            asyncio.run(grant_service_role(url, service_role, service_password, owner=owner))

    _on_own_thread(work)


def _on_own_thread(work: Any) -> None:
    """Run `work()` here, or, when a loop is running here, on a thread of its own (Alembic's
    environment and `asyncio.run` need a thread without one)."""
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
    """The head revisions of the migrations (those of the code, not of a database)."""
    from alembic.script import ScriptDirectory

    return set(ScriptDirectory.from_config(alembic_config(url)).get_heads())


@dataclass(frozen=True)
class Revision:
    id: str
    title: str


def applied(url: str) -> str | None:
    """The revision a database is at (None: none applied, or no database yet)."""

    async def read() -> str | None:
        conn = await _connect(url)
        try:
            if not await conn.fetchval("SELECT to_regclass('alembic_version') IS NOT NULL"):
                return None
            return await conn.fetchval("SELECT version_num FROM alembic_version LIMIT 1")
        finally:
            await conn.close()

    return _in_own_loop(read)


def history(url: str) -> list[Revision]:
    """Every revision, oldest first (the migrations form one line)."""
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(alembic_config(url))
    return [
        Revision(r.revision, r.doc.splitlines()[0] if r.doc else "")
        for r in reversed(list(script.walk_revisions()))
    ]


def between(url: str, lower: str | None, upper: str | None) -> list[Revision]:
    """The revisions after `lower` up to and including `upper`, oldest first (None: base); empty
    when `upper` is not after `lower`."""
    order = history(url)
    ids = [None, *(r.id for r in order)]
    low, high = ids.index(lower), ids.index(upper)
    return order[low:high]


def resolve(url: str, revision: str) -> str | None:
    """A revision named by an operator (`head`, `base`, an id or its prefix, `-1`, `+1`) as an id;
    None for base. ValueError, saying which exist, for one that does not."""
    from alembic.script import ScriptDirectory
    from alembic.util import CommandError

    script = ScriptDirectory.from_config(alembic_config(url))
    if revision == "base":
        return None
    if revision.startswith(("-", "+")):
        current = applied(url)
        order = [None, *(r.id for r in history(url))]
        try:
            step = int(revision)
        except ValueError:
            raise ValueError(f"unknown revision {revision!r}") from None
        index = order.index(current) + step
        if not 0 <= index < len(order):
            raise ValueError(f"{revision} goes beyond the migrations (base … {order[-1]})")
        return order[index]
    try:
        found = script.get_revision(revision)
    except CommandError as exc:
        raise ValueError(str(exc)) from None
    if found is None:
        return None
    return found.revision


def downgrade(url: str, revision: str, *, owner_role: str = OWNER_ROLE) -> None:
    """Move a database back to `revision` (an id, or `base`), as the owner's role."""

    def work() -> None:
        owner = asyncio.run(prepare_owner(url, owner_role)) if owner_role else None
        command.downgrade(alembic_config(url, owner_role=owner), revision)

    _on_own_thread(work)


def _in_own_loop(work: Any) -> Any:
    """`asyncio.run(work())`, also from inside a running loop (on a thread of its own)."""
    results: list[Any] = []
    _on_own_thread(lambda: results.append(asyncio.run(work())))
    return results[0]


async def _connect(url: str) -> Any:
    import asyncpg
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    return await asyncpg.connect(
        user=parsed.username,
        password=parsed.password or None,
        host=parsed.query.get("host") or parsed.host,
        port=parsed.port,
        database=parsed.database,
    )


#: what belongs to the URL's user in `public` and passes to the owner's role: tables, views and
#: sequences of their own (a table's sequences follow it), and functions
_OWNED_BY_ME = """
SELECT format('ALTER TABLE %I OWNER TO %I', c.relname, $1::text)
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = 'public' AND c.relowner = (SELECT oid FROM pg_roles WHERE rolname = current_user)
  AND (c.relkind IN ('r', 'p', 'v', 'm', 'f')
       OR (c.relkind = 'S' AND NOT EXISTS (
           SELECT 1 FROM pg_depend d WHERE d.objid = c.oid AND d.deptype IN ('a', 'i'))))
UNION ALL
SELECT format('ALTER ROUTINE %s OWNER TO %I', p.oid::regprocedure, $1::text)
FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
WHERE n.nspname = 'public' AND p.proowner = (SELECT oid FROM pg_roles WHERE rolname = current_user)
"""


#: extensions the migrations use where the server has them (pg_trgm: search's indexes, 0014); the
#: owner's role may not create one, so the migrating user does, before acting as that role
OPTIONAL_EXTENSIONS = ("pg_trgm",)


async def _create_extensions(conn: Any) -> None:
    import asyncpg

    for name in OPTIONAL_EXTENSIONS:
        if not await conn.fetchval("SELECT true FROM pg_available_extensions WHERE name = $1", name):
            continue
        quoted = await conn.fetchval("SELECT quote_ident($1)", name)
        try:
            async with conn.transaction():  # a savepoint: a refusal leaves the rest standing
                await conn.execute(f"CREATE EXTENSION IF NOT EXISTS {quoted}")
        except asyncpg.InsufficientPrivilegeError:
            log.warning(
                "cannot create the extension %s: search will scan instead of using indexes; "
                "ask the database's administrator to run CREATE EXTENSION %s",
                name,
                name,
            )


async def prepare_owner(url: str, role: str) -> str | None:
    """Make the owner's role if it is missing, let the URL's user act as it, and pass it what that
    user owns in `public` (a database migrated before the role existed). None, with a warning
    that says what to do, when the URL's user may not (a managed database without CREATEROLE):
    the migrations then run as that user."""
    import asyncpg

    conn = await _connect(url)
    try:
        async with conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock($1)", GRANT_LOCK)
            quoted = await conn.fetchval("SELECT quote_ident($1)", role)
            try:
                if not await conn.fetchval("SELECT true FROM pg_roles WHERE rolname = $1", role):
                    try:
                        async with conn.transaction():  # a savepoint: roles belong to the cluster,
                            # and a migration of another database may be making it at this moment
                            await conn.execute(
                                f"CREATE ROLE {quoted} NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE"
                            )
                    except (asyncpg.DuplicateObjectError, asyncpg.UniqueViolationError):
                        pass
                if not await conn.fetchval("SELECT pg_has_role(current_user, $1, 'USAGE')", role):
                    await conn.execute(f"GRANT {quoted} TO current_user")
                await conn.execute(f"GRANT USAGE, CREATE ON SCHEMA public TO {quoted}")
                await _create_extensions(conn)
                for statement in await conn.fetch(_OWNED_BY_ME, role):
                    await conn.execute(statement[0])
            except asyncpg.InsufficientPrivilegeError as exc:
                log.warning(
                    "cannot act as the owner role %s (%s): create it, grant it to the migrating user, "
                    "or set QILIJIA_DB_OWNER_ROLE= to migrate as that user",
                    role,
                    exc,
                )
                return None
        return role
    finally:
        await conn.close()


async def grant_service_role(url: str, role: str, password: str | None, *, owner: str | None = None) -> None:
    """Create the service's role if it is missing, and grant it rows, not tables. A user who may
    not create roles (a managed database) leaves it to the operator: a warning says how."""
    import asyncpg

    conn = await _connect(url)
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
            except (asyncpg.DuplicateObjectError, asyncpg.UniqueViolationError):
                pass  # another process made it meanwhile (roles belong to the cluster)
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
            "REVOKE INSERT, UPDATE, DELETE ON {alembic_version} FROM {role}",
            "REVOKE UPDATE, DELETE ON {through_functions} FROM {role}",
            "REVOKE INSERT, UPDATE, DELETE ON {derived} FROM {role}",
            "GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {role}",
        ]
        quoted_role = await conn.fetchval("SELECT quote_ident($1)", role)
        database = await conn.fetchval("SELECT quote_ident(current_database())")
        async with conn.transaction():
            # two processes migrating one database at once (two `serve`s starting) would otherwise
            # change the same catalog rows together ("tuple concurrently updated")
            await conn.execute("SELECT pg_advisory_xact_lock($1)", GRANT_LOCK)
            for statement in statements[:2]:  # the database's and the schema's: as the URL's user
                await conn.execute(statement.format(db=database, role=quoted_role))
            if owner:  # the owner grants on what it owns
                await conn.execute(f"SET LOCAL ROLE {await conn.fetchval('SELECT quote_ident($1)', owner)}")
            # a database at an earlier revision (`migrate --to`) lacks some of the tables
            present = set(
                await conn.fetchval(
                    "SELECT coalesce(array_agg(t), '{}') FROM unnest($1::text[]) t WHERE to_regclass(t) IS NOT NULL",
                    [*APPEND_ONLY, *THROUGH_FUNCTIONS, *DERIVED, "alembic_version"],
                )
            )
            for statement in statements[2:]:
                tables = {
                    "append_only": [t for t in APPEND_ONLY if t in present],
                    "through_functions": [t for t in THROUGH_FUNCTIONS if t in present],
                    "derived": [t for t in DERIVED if t in present],
                    "alembic_version": ["alembic_version"] if "alembic_version" in present else [],
                }
                named = [k for k in tables if "{" + k + "}" in statement]
                if any(not tables[k] for k in named):
                    continue
                await conn.execute(
                    statement.format(role=quoted_role, **{k: ", ".join(v) for k, v in tables.items()})
                )
            for function in FUNCTIONS:
                if await conn.fetchval("SELECT to_regprocedure($1) IS NOT NULL", function):
                    await conn.execute(f"GRANT EXECUTE ON FUNCTION {function} TO {quoted_role}")
    finally:
        await conn.close()
