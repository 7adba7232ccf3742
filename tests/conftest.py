"""Test fixtures: a real PostgreSQL, one fresh database per test (cloned from a migrated template).

Where the server comes from: `TEST_DATABASE_URL`, else `DATABASE_URL`, else an embedded server
started for the session (`pgserver`). Databases are cloned from templates, so a test that needs the
demo world pays for a `CREATE DATABASE … TEMPLATE`, not for an import — and not even that while it
runs: a background thread keeps clones of each template ready and drops used ones behind the tests
(`Clones`), so the server does that work on the other core while Python runs the next test.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import queue
import tempfile
import threading
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from typing import Any

import asyncpg
import httpx
import pytest
import pytest_asyncio
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import make_url
from starlette.applications import Starlette

from app.database import create_engine, sessionmaker
from app.http import create_app
from app.migrate import upgrade
from app.settings import Settings
from app.world_file import World, load, parse
from app.world_import import import_world
from auth import tokens
from models.terms import today_sql
from resolvers import pipeline

SECRET = "test-secret-key-that-is-long-enough-for-prod-0123456789"
#: Today in Beijing as the service's own SQL says it (`models.terms.today_sql`), for the tests' queries:
#: the server's `current_date` is UTC's, a day behind from 16:00 to 24:00 UTC
TODAY = str(today_sql().compile(dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True}))
DEMO_WORLD = os.path.join(os.path.dirname(__file__), "..", "app", "demo", "world.yaml")


#: Set by the pytest-xdist controller for its workers: the embedded server they all share.
SHARED_SERVER = "QILIJIA_TEST_SHARED_SERVER"


def _external_url() -> str | None:
    return os.environ.get("TEST_DATABASE_URL") or os.environ.get("DATABASE_URL")


def _server_url() -> tuple[str, Any]:
    url = _external_url() or os.environ.get(SHARED_SERVER)
    if url:
        return url, None
    server = _embedded_server()
    return server.get_uri(), server


def pytest_configure(config: pytest.Config) -> None:
    """Under pytest-xdist, the controller starts the one embedded server its workers share (each
    worker keeps its own templates, named by its process id)."""
    workers = getattr(config.option, "numprocesses", None)
    if workers and not os.environ.get("PYTEST_XDIST_WORKER") and not _external_url():
        server = _embedded_server()
        config.stash[_SHARED] = server
        os.environ[SHARED_SERVER] = server.get_uri()


#: The files that take longest, longest first (whole files go to one worker each, `--dist loadfile`):
#: handed out first, so that the workers end together on small files instead of one of them
#: running a long file alone at the end. The rest follow by their number of tests, as pytest-xdist
#: orders them itself (`--no-loadscope-reorder` leaves the order to this list).
LONGEST_FILES = (
    "test_edges.py",
    "test_vote_api.py",
    "test_compiled.py",
    "test_import.py",
    "test_policy_agreement.py",
    "test_task_api.py",
    "test_cli.py",
    "test_vote_live.py",
    "test_lifecycle.py",
    "test_migrations.py",
    "test_edges_generated.py",
    "test_sessions.py",
    "test_readme.py",
    "test_meeting_api.py",
    "test_slow_clients.py",
    "test_login.py",
    "test_moderation.py",
    "test_ops.py",
    "test_keyset.py",
    "test_content_check.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    files: dict[str, int] = {}
    for item in items:
        files[item.path.name] = files.get(item.path.name, 0) + 1

    def rank(name: str) -> tuple[int, int]:
        if name in LONGEST_FILES:
            return (LONGEST_FILES.index(name), 0)
        return (len(LONGEST_FILES), -files[name])

    items.sort(key=lambda item: rank(item.path.name))  # stable: each file's tests keep their order


def pytest_unconfigure(config: pytest.Config) -> None:
    server = config.stash.get(_SHARED, None)
    if server is not None:
        server.cleanup()


_SHARED = pytest.StashKey[Any]()


def _embedded_server() -> Any:
    import pgserver

    server = pgserver.get_server(tempfile.mkdtemp(prefix="qilijia-test-pg-"), cleanup_mode="delete")
    # a server made for this session and deleted after it: nothing it writes needs to survive a crash
    admin(
        server.get_uri(),
        "ALTER SYSTEM SET fsync = off",
        "ALTER SYSTEM SET synchronous_commit = off",
        "ALTER SYSTEM SET full_page_writes = off",
        "SELECT pg_reload_conf()",
    )
    return server


def _asyncpg_dsn(url: str, database: str | None = None) -> dict[str, Any]:
    parsed = make_url(url)
    if database is not None:
        parsed = parsed.set(database=database)
    host = parsed.query.get("host") or parsed.host
    return {
        "user": parsed.username,
        "password": parsed.password or None,
        "host": host,
        "port": parsed.port,
        "database": parsed.database,
    }


def with_database(url: str, database: str) -> str:
    return make_url(url).set(database=database).render_as_string(hide_password=False)


async def _admin(url: str, *statements: str) -> None:
    conn = await asyncpg.connect(**_asyncpg_dsn(url, "postgres"))
    try:
        for statement in statements:
            await conn.execute(statement)
    finally:
        await conn.close()


def admin(url: str, *statements: str) -> None:
    """Run administrative statements (CREATE/DROP DATABASE), also from inside a running loop."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(asyncio.run, _admin(url, *statements)).result()


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    url, server = _server_url()
    yield url
    if server is not None:
        server.cleanup()


@pytest.fixture(scope="session")
def template_db(pg_url: str) -> Iterator[str]:
    """A migrated, empty database used as the template for each test's database."""
    name = f"qlj_tpl_{os.getpid()}"
    admin(pg_url, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)", f"CREATE DATABASE {name}")
    upgrade(with_database(pg_url, name))
    yield name
    admin(pg_url, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


async def import_into(url: str, world: World) -> None:
    engine = create_engine(url, make_settings(url), pool_size=1, max_overflow=0)
    try:
        async with sessionmaker(engine)() as session, session.begin():
            await import_world(session, world)
    finally:
        await engine.dispose()


@pytest.fixture(scope="session")
def demo_world() -> World:
    return load(__import__("pathlib").Path(DEMO_WORLD))


@pytest.fixture(scope="session")
def demo_template_db(pg_url: str, template_db: str, demo_world: World) -> Iterator[str]:
    """A template holding the bundled demo world."""
    name = f"qlj_demo_{os.getpid()}"
    admin(
        pg_url,
        f"DROP DATABASE IF EXISTS {name} WITH (FORCE)",
        f"CREATE DATABASE {name} TEMPLATE {template_db}",
    )
    asyncio.run(import_into(with_database(pg_url, name), demo_world))
    yield name
    admin(pg_url, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


#: Clones are copied file by file: the default (WAL_LOG) writes every page of the template through
#: the WAL and shared buffers, which costs twice the CPU for a database of a few megabytes and
#: fills the WAL (a checkpoint every few dozen clones), then dropping it must discard those buffers.
CLONE_STRATEGY = "STRATEGY FILE_COPY"


class Clones:
    """Ready clones of templates, made and dropped by one background thread with one connection.

    `take(template)` returns a fresh database cloned from `template` (waiting only if none is ready
    yet); `give_back(url)` queues it to be dropped when no clone is wanted (making clones comes
    first: a test waits for those)."""

    READY = 2  # clones kept ready per template
    CREATE, DROP, STOP = 0, 1, 2  # job priorities

    def __init__(self, pg_url: str) -> None:
        self.pg_url = pg_url
        self.ready: dict[str, queue.Queue[str]] = {}
        self.jobs: queue.PriorityQueue[tuple[int, int, str]] = queue.PriorityQueue()
        self.order = iter(range(1 << 62))
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=lambda: asyncio.run(self._serve()), daemon=True)
        self.thread.start()

    def _put(self, priority: int, target: str) -> None:
        self.jobs.put((priority, next(self.order), target))

    def take(self, template: str) -> str:
        with self.lock:
            if template not in self.ready:
                self.ready[template] = queue.Queue()
                for _ in range(self.READY):
                    self._put(self.CREATE, template)
        self._put(self.CREATE, template)  # one more, to replace the one taken now
        name = self.ready[template].get(timeout=120)
        if name.startswith("!"):
            raise RuntimeError(name[1:])
        return with_database(self.pg_url, name)

    def give_back(self, url: str) -> None:
        helpers().forget(url)
        self._put(self.DROP, make_url(url).database or "")

    def close(self) -> None:
        self._put(self.STOP, "")
        self.thread.join(timeout=600)

    async def _serve(self) -> None:
        conn = await asyncpg.connect(**_asyncpg_dsn(self.pg_url, "postgres"))
        try:
            while True:
                priority, _, target = await asyncio.to_thread(self.jobs.get)
                if priority == self.STOP:
                    break
                try:
                    if priority == self.CREATE:
                        name = f"qlj_t_{uuid.uuid4().hex[:12]}"
                        await conn.execute(f"CREATE DATABASE {name} TEMPLATE {target} {CLONE_STRATEGY}")
                        # a test's commits need not wait for the disk: its database is thrown away
                        await conn.execute(f"ALTER DATABASE {name} SET synchronous_commit = off")
                        self.ready[target].put(name)
                    else:
                        await conn.execute(f"DROP DATABASE IF EXISTS {target} WITH (FORCE)")
                except Exception as exc:  # a test waiting for a clone learns why there is none
                    if priority == self.CREATE:
                        self.ready[target].put(f"!cannot clone {target}: {exc}")
            # clones made ahead and never taken, and any drops still queued
            for queued in self.ready.values():
                while not queued.empty():
                    name = queued.get()
                    if not name.startswith("!"):
                        await conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
            while not self.jobs.empty():
                priority, _, target = self.jobs.get()
                if priority == self.DROP:
                    await conn.execute(f"DROP DATABASE IF EXISTS {target} WITH (FORCE)")
        finally:
            await conn.close()


@pytest.fixture(scope="session")
def clones(pg_url: str) -> Iterator[Clones]:
    pool = Clones(pg_url)
    yield pool
    pool.close()


def _clone(pg_url: str, template: str) -> Iterator[str]:
    """A fresh database cloned from `template`, dropped afterwards (for module-scoped worlds)."""
    name = f"qlj_t_{uuid.uuid4().hex[:12]}"
    # as for `Clones`: a module's commits need not wait for the disk, its database is thrown away
    admin(
        pg_url,
        f"CREATE DATABASE {name} TEMPLATE {template} {CLONE_STRATEGY}",
        f"ALTER DATABASE {name} SET synchronous_commit = off",
    )
    url = with_database(pg_url, name)
    try:
        yield url
    finally:
        helpers().forget(url)
        admin(pg_url, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture
def db_url(clones: Clones, template_db: str) -> Iterator[str]:
    """An empty, migrated database of this test's own."""
    url = clones.take(template_db)
    yield url
    clones.give_back(url)


@pytest.fixture
def demo_db_url(clones: Clones, demo_template_db: str) -> Iterator[str]:
    """A database of this test's own holding the demo world."""
    url = clones.take(demo_template_db)
    yield url
    clones.give_back(url)


def make_settings(url: str | None = None, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "QILIJIA_ENV": "dev",
        "QILIJIA_SECRET_KEY": SECRET,
        "DATABASE_URL": url,
        "QILIJIA_DATA_DIR": tempfile.mkdtemp(prefix="qilijia-test-data-"),
        # the periodic jobs' statements would be counted with whichever request runs meanwhile;
        # tests run the jobs themselves (`app.jobs.run_once`, the CLI, the end-to-end servers)
        "QILIJIA_JOB_INTERVAL_SECONDS": 3600,
        # an app keeps every connection it opens (twice this for its engine, this for its reads):
        # two workers' tests, some with several apps, share one server's hundred connections
        "QILIJIA_DB_POOL_SIZE": 5,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)


def priced(body: dict[str, Any]) -> dict[str, Any]:
    """The body with its `extensions.cost` checked (every answer to a query that ran carries it)
    and its `remaining`, which moves with every request, left out."""
    cost = body.get("extensions", {}).get("cost")
    assert cost is not None, body
    assert set(cost) == {"requested", "limit", "remaining"}, cost
    assert all(isinstance(v, int) and v >= 0 for v in cost.values()), cost
    assert 1 <= cost["requested"] <= cost["limit"], cost
    rest = {k: v for k, v in cost.items() if k != "remaining"}
    return {**body, "extensions": {**body["extensions"], "cost": rest}}


def unpriced(body: dict[str, Any]) -> dict[str, Any]:
    """The body without `extensions.cost` (checked first), for comparing answers."""
    body = priced(body)
    extensions = {k: v for k, v in body["extensions"].items() if k != "cost"}
    return {k: v for k, v in body.items() if k != "extensions"} | (
        {"extensions": extensions} if extensions else {}
    )


@dataclass
class Api:
    """A GraphQL client over the app's HTTP interface, as the mini-program would call it."""

    client: httpx.AsyncClient
    app: Starlette

    async def post(
        self,
        query: str,
        variables: dict[str, Any] | None = None,
        *,
        token: str | None = None,
        api_key: str | None = None,
        operation_name: str | None = None,
    ) -> httpx.Response:
        headers = {}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        if api_key:
            headers["X-API-Key"] = api_key
        body: dict[str, Any] = {"query": query, "variables": variables or {}}
        if operation_name:
            body["operationName"] = operation_name
        return await self.client.post("/graphql", json=body, headers=headers)

    async def gql(self, query: str, variables: dict[str, Any] | None = None, **kwargs: Any) -> dict[str, Any]:
        response = await self.post(query, variables, **kwargs)
        return response.json()

    async def data(
        self, query: str, variables: dict[str, Any] | None = None, **kwargs: Any
    ) -> dict[str, Any]:
        """The `data` of a query that must succeed."""
        body = await self.gql(query, variables, **kwargs)
        assert "errors" not in body, body
        return body["data"]

    async def error(
        self, query: str, variables: dict[str, Any] | None = None, **kwargs: Any
    ) -> dict[str, Any]:
        """The single error of a query that must fail."""
        body = await self.gql(query, variables, **kwargs)
        assert body.get("errors"), body
        return body["errors"][0]


@asynccontextmanager
async def running_api(url: str, settings: Settings | None = None, **app_kwargs: Any) -> AsyncIterator[Api]:
    app = create_app(settings or make_settings(url), database_url=url, **app_kwargs)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield Api(client=client, app=app)


class StatementCount:
    """How many SQL statements an app sent (`counting_statements`)."""

    def __init__(self) -> None:
        self.count = 0


class _CountingPool:
    """The compiled read path's pool, counting what it is asked (`schema.compiled.Reads` asks
    nothing but `fetchval`, the auth backend nothing but `fetchrow`: one statement each)."""

    def __init__(self, pool: Any, counted: StatementCount) -> None:
        self.pool = pool
        self.counted = counted

    async def fetchval(self, *args: Any, **kwargs: Any) -> Any:
        self.counted.count += 1
        return await self.pool.fetchval(*args, **kwargs)

    async def fetchrow(self, *args: Any, **kwargs: Any) -> Any:
        self.counted.count += 1
        return await self.pool.fetchrow(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.pool, name)


#: the app's background tasks, whose statements are nobody's request (`resolvers.audit.Reveals`)
BACKGROUND_TASKS = frozenset({"qilijia-reveals", "qilijia-jobs"})


@contextmanager
def counting_statements(app: Starlette) -> Iterator[StatementCount]:
    """Every SQL statement `app` sends while inside: through the engine and through the read pool."""
    from sqlalchemy import event

    counted = StatementCount()

    def on_execute(*_args: object) -> None:
        try:
            running = asyncio.current_task()
        except RuntimeError:
            running = None
        if running is not None and running.get_name() in BACKGROUND_TASKS:
            return  # an append of the audit's, begun before the count: not the request's
        counted.count += 1

    engine = app.state.engine.sync_engine
    reads = app.state.services.reads
    reveals = app.state.services.reveals

    async def later() -> int:  # the audit's background appends are not the request's statements
        return 0

    sent = pipeline.on_driver

    async def on_driver(connection: Any, sql: str, *values: Any) -> Any:
        """A statement sent on a pooled connection's driver itself (`resolvers.pipeline.run_on_driver`),
        which SQLAlchemy does not see."""
        counted.count += 1
        return await sent(connection, sql, *values)

    reveals.flush = later
    event.listen(engine, "before_cursor_execute", on_execute)
    pipeline.on_driver = on_driver
    backend = app.state.auth
    if reads is not None:
        reads.pool = _CountingPool(reads.pool, counted)
    if backend.pool is not None:
        backend.pool = _CountingPool(backend.pool, counted)
    try:
        yield counted
    finally:
        del reveals.flush
        event.remove(engine, "before_cursor_execute", on_execute)
        pipeline.on_driver = sent
        if reads is not None:
            reads.pool = reads.pool.pool
        if backend.pool is not None:
            backend.pool = backend.pool.pool


@pytest.fixture(scope="module")
def shared_demo_db_url(clones: Clones, demo_template_db: str) -> Iterator[str]:
    """One database holding the demo world for every test of a module whose tests each work on
    objects of their own and assert nothing about the rest (a matrix of callers): the module's
    tests run in one event loop (`pytest.mark.asyncio(loop_scope="module")`)."""
    url = clones.take(demo_template_db)
    yield url
    clones.give_back(url)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def shared_api(shared_demo_db_url: str) -> AsyncIterator[Api]:
    """The app on `shared_demo_db_url`, its rate windows widened: a module's tests ask, as a
    few callers, what thousands of residents would."""
    settings = make_settings(shared_demo_db_url, QILIJIA_RATE_LIMIT_SCALE=1000)
    async with running_api(shared_demo_db_url, settings) as client:
        yield client


@pytest.fixture
async def api(demo_db_url: str) -> AsyncIterator[Api]:
    async with running_api(demo_db_url) as client:
        yield client


@pytest.fixture
async def empty_api(db_url: str) -> AsyncIterator[Api]:
    async with running_api(db_url) as client:
        yield client


class Helpers:
    """The tests' own queries (`fetch`, `fetchval`, `person_id`), on a small pool per test database
    kept by one thread with an event loop of its own: a test reading a row does not open a
    connection (and start a server process) for it, whichever event loop the test runs in.

    A database's pool is closed when the database is given back (`forget`); a connection the test
    itself had killed (`pg_terminate_backend`) is replaced and the query asked once more."""

    LOST = (
        asyncpg.exceptions.ConnectionDoesNotExistError,
        asyncpg.exceptions.AdminShutdownError,
        asyncpg.exceptions.InterfaceError,
        ConnectionError,
    )

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.pools: dict[str, Any] = {}
        threading.Thread(target=self.loop.run_forever, name="qilijia-test-helpers", daemon=True).start()

    async def _pool(self, url: str) -> Any:
        pool = self.pools.get(url)
        if pool is None:
            pool = self.pools[url] = await asyncpg.create_pool(min_size=0, max_size=4, **_asyncpg_dsn(url))
        return pool

    async def _ask(self, url: str, method: str, sql: str, args: tuple[Any, ...]) -> Any:
        for attempt in range(2):
            pool = await self._pool(url)
            try:
                return await getattr(pool, method)(sql, *args)
            except self.LOST:
                if attempt:
                    raise
                await pool.expire_connections()
        raise AssertionError("unreachable")

    async def ask(self, url: str, method: str, sql: str, *args: Any) -> Any:
        return await asyncio.wrap_future(
            asyncio.run_coroutine_threadsafe(self._ask(url, method, sql, args), self.loop)
        )

    def forget(self, url: str) -> None:
        """Close the database's pool (before it is dropped)."""

        async def close() -> None:
            pool = self.pools.pop(url, None)
            if pool is not None:
                pool.terminate()

        asyncio.run_coroutine_threadsafe(close(), self.loop).result(timeout=30)


_HELPERS: Helpers | None = None
_HELPERS_LOCK = threading.Lock()


def helpers() -> Helpers:
    global _HELPERS
    with _HELPERS_LOCK:
        if _HELPERS is None:
            _HELPERS = Helpers()
        return _HELPERS


async def person_id(url: str, phone: str) -> uuid.UUID:
    return await helpers().ask(url, "fetchval", "SELECT id FROM person WHERE phone = $1", phone)


async def token_for(url: str, phone: str, ttl: int = 3600) -> str:
    pid = await person_id(url, phone)
    assert pid is not None, f"no person with phone {phone}"
    return tokens.mint(pid, secret=SECRET, ttl_seconds=ttl)[0]


async def fetch(url: str, sql: str, *args: Any) -> list[asyncpg.Record]:
    return await helpers().ask(url, "fetch", sql, *args)


async def fetchval(url: str, sql: str, *args: Any) -> Any:
    return await helpers().ask(url, "fetchval", sql, *args)


__all__ = [
    "SECRET",
    "Api",
    "fetch",
    "fetchval",
    "make_settings",
    "parse",
    "person_id",
    "running_api",
    "token_for",
]
