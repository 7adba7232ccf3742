"""Benchmark: parse, validate and import the ~100,000-household world file.

    .venv/bin/python bench/import_100k.py [--database-url URL] [--world PATH] [--profile OUT.prof]

Phases, each timed on its own and printed with households/s:

1. generate  the world file with `../shared/worldgen.py --compounds 50 --buildings 20 --floors 18
             --per-floor 4` (skipped with `--world PATH`);
2. load      `app.world_file.load`: read + JSON parse + pydantic validation;
3. import    `app.world_import.import_world` into a fresh, migrated database, in one transaction;
4. reimport  the same world again (must change nothing: a no-op).

The database is created fresh on the server named by `--database-url` (default: `$DATABASE_URL`;
without either an embedded `pgserver` is started in a temporary directory) and dropped at the end.
`--profile OUT.prof` runs the first import under cProfile and prints the top functions.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import os
import pstats
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
from sqlalchemy import event
from sqlalchemy.engine import make_url

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from app.database import create_engine, sessionmaker  # noqa: E402
from app.migrate import upgrade  # noqa: E402
from app.settings import Settings  # noqa: E402
from app.world_file import World, load  # noqa: E402
from app.world_import import ImportSummary, import_world  # noqa: E402

STAGE_NAMES = {
    "社区": "community",
    "网格": "grid",
    "小区": "compound",
    "楼栋": "building",
    "住户": "household",
    "人员": "person",
    "党员信息": "party",
    "房屋关系": "home",
    "角色": "role",
    "团队职务": "position",
}
WORLDGEN_ARGS = ["--compounds", "50", "--buildings", "20", "--floors", "18", "--per-floor", "4"]


def _wide(text: str) -> int:
    """How many characters of `text` take two columns on a terminal (CJK)."""
    return sum(1 for ch in text if ord(ch) > 0x2E80)


def loadavg() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"


# --- database helpers ---------------------------------------------------------------------------


def _dsn(url: str, database: str) -> dict[str, Any]:
    parsed = make_url(url).set(database=database)
    return {
        "user": parsed.username,
        "password": parsed.password or None,
        "host": parsed.query.get("host") or parsed.host,
        "port": parsed.port,
        "database": parsed.database,
    }


def with_database(url: str, database: str) -> str:
    return make_url(url).set(database=database).render_as_string(hide_password=False)


async def _admin(url: str, statement: str) -> None:
    conn = await asyncpg.connect(**_dsn(url, "postgres"))
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


async def _counts(url: str) -> dict[str, int]:
    conn = await asyncpg.connect(**_dsn(url, make_url(url).database or "postgres"))
    try:
        out = {}
        for table in ("household", "person", "home", "role_assignment", "team_position"):
            out[table] = await conn.fetchval(f"SELECT count(*) FROM {table}")
        return out
    finally:
        await conn.close()


# --- the phases ---------------------------------------------------------------------------------


def timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    start = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - start


class StageClock:
    """A progress callback for `import_world` that notes when each stage reports its last batch.

    A stage's time is measured from the previous stage's last report, so it includes the id look-ups
    and checks that run just before its upsert; `commit` is what follows the last stage."""

    def __init__(self) -> None:
        self.start = time.perf_counter()
        self.last: dict[str, float] = {}

    def __call__(self, stage: str, done: int, total: int) -> None:
        self.last[stage] = time.perf_counter()

    def durations(self, end: float) -> dict[str, float]:
        out, previous = {}, self.start
        for stage, at in self.last.items():
            out[stage] = at - previous
            previous = at
        out["commit"] = end - previous
        return out


class StatementClock:
    """Wall time per SQL statement (as seen by the driver: server work + transfer), by statement."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.calls: dict[str, int] = {}

    def attach(self, engine: Any) -> None:
        @event.listens_for(engine.sync_engine, "before_cursor_execute")
        def before(conn: Any, cursor: Any, statement: str, params: Any, context: Any, many: bool) -> None:
            conn.info["bench_t0"] = time.perf_counter()

        @event.listens_for(engine.sync_engine, "after_cursor_execute")
        def after(conn: Any, cursor: Any, statement: str, params: Any, context: Any, many: bool) -> None:
            key = " ".join(statement.split())
            key = key[:60] + ("…" if len(key) > 60 else "")
            self.seconds[key] = self.seconds.get(key, 0.0) + time.perf_counter() - conn.info["bench_t0"]
            self.calls[key] = self.calls.get(key, 0) + 1

    def top(self, n: int) -> list[tuple[str, int, float]]:
        ranked = sorted(self.seconds.items(), key=lambda kv: -kv[1])[:n]
        return [(key, self.calls[key], seconds) for key, seconds in ranked]


@dataclass
class ImportRun:
    summary: ImportSummary
    stages: dict[str, float]
    statements: StatementClock


def run_import(url: str, settings: Settings, world: World) -> ImportRun:
    async def work() -> ImportRun:
        engine = create_engine(url, settings, pool_size=1, max_overflow=0)
        statements = StatementClock()
        statements.attach(engine)
        try:
            clock = StageClock()
            async with sessionmaker(engine)() as session, session.begin():
                summary = await import_world(session, world, clock)
            return ImportRun(summary, clock.durations(time.perf_counter()), statements)
        finally:
            await engine.dispose()

    return asyncio.run(work())


def summary_text(summary: ImportSummary) -> str:
    created = ", ".join(f"{k} {v}" for k, v in summary.created.items() if v) or "-"
    updated = ", ".join(f"{k} {v}" for k, v in summary.updated.items() if v) or "-"
    return f"created: {created}; updated: {updated}"


def row(phase: str, households: int, people: int, seconds: float) -> None:
    rate = households / seconds if seconds > 0 else float("inf")
    print(f"{phase:<10} {households:>10,} {people:>10,} {seconds:>10.2f} {rate:>14,.0f}", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--database-url", default=os.environ.get("DATABASE_URL"), help="a server to use")
    ap.add_argument("--world", type=Path, help="an existing world file instead of generating one")
    ap.add_argument("--worldgen", type=Path, default=REPO.parent / "shared" / "worldgen.py")
    ap.add_argument("--profile", type=Path, help="profile the first import with cProfile into this file")
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="qilijia-bench-"))
    embedded = None
    server_url = args.database_url
    if not server_url:
        import pgserver

        print(f"no DATABASE_URL: starting an embedded PostgreSQL in {tmp / 'pg'}", flush=True)
        embedded = pgserver.get_server(tmp / "pg", cleanup_mode="delete")
        server_url = embedded.get_uri()

    name = f"qlj_bench_{uuid.uuid4().hex[:10]}"
    url = with_database(server_url, name)
    settings = Settings(_env_file=None, DATABASE_URL=url, QILIJIA_SECRET_KEY="bench-" + "x" * 40)
    header = f"{'phase':<10} {'households':>10} {'people':>10} {'seconds':>10} {'households/s':>14}"
    try:
        if args.world:
            world_path = args.world
            gen_seconds = None
        else:
            world_path = tmp / "world-100k.json"
            cmd = [sys.executable, str(args.worldgen), *WORLDGEN_ARGS, "--out", str(world_path)]
            print("$", " ".join(cmd), flush=True)
            _, gen_seconds = timed(lambda: subprocess.run(cmd, check=True))
        size_mb = world_path.stat().st_size / 1e6
        print(f"world file: {world_path} ({size_mb:.1f} MB)", flush=True)

        asyncio.run(_admin(server_url, f"CREATE DATABASE {name}"))
        _, migrate_seconds = timed(lambda: upgrade(url))
        print(f"database {name} created, migrated in {migrate_seconds:.2f} s", flush=True)

        print(f"load average before: {loadavg()} ({os.cpu_count()} CPUs)")
        print(header)
        world, load_seconds = timed(lambda: load(world_path))
        households, people = world.household_count, len(world.people)
        if gen_seconds is not None:
            row("generate", households, people, gen_seconds)
        row("load", households, people, load_seconds)

        profiler = cProfile.Profile() if args.profile else None
        if profiler:
            profiler.enable()
        first, import_seconds = timed(lambda: run_import(url, settings, world))
        if profiler:
            profiler.disable()
        row("import", households, people, import_seconds)

        second, reimport_seconds = timed(lambda: run_import(url, settings, world))
        row("reimport", households, people, reimport_seconds)

        print(f"load+import  {load_seconds + import_seconds:.2f} s; load average after: {loadavg()}")
        print("\nseconds per import stage (upsert of that table plus the look-ups just before it):")
        print(f"{'stage':<20} {'import':>8} {'reimport':>9}")
        for stage, seconds in first.stages.items():
            label = f"{STAGE_NAMES.get(stage, stage)} ({stage})" if stage in STAGE_NAMES else stage
            print(f"{label:<{20 - _wide(label)}} {seconds:>8.2f} {second.stages.get(stage, 0.0):>9.2f}")
        for title, run in (("import", first), ("reimport", second)):
            total = sum(run.statements.seconds.values())
            print(f"\n{title}: {total:.2f} s inside SQL statements (driver wall time); the slowest:")
            for key, calls, seconds in run.statements.top(6):
                print(f"  {seconds:>7.2f} s {calls:>4}x  {key}")
        print()
        first, second = first.summary, second.summary
        print(f"first import   {summary_text(first)}")
        print(f"second import  {summary_text(second)}")
        if second.changed:
            print("WARNING: the second import changed rows; it should be a no-op")
        counts = asyncio.run(_counts(url))
        print("rows in database: " + ", ".join(f"{k} {v:,}" for k, v in counts.items()))
        if counts["household"] != households or counts["person"] != people:
            print("WARNING: row counts differ from the file")

        if profiler and args.profile:
            profiler.dump_stats(str(args.profile))
            print(f"\nprofile of the first import written to {args.profile}; top 25 by cumulative time:")
            stats = pstats.Stats(profiler)
            stats.sort_stats("cumulative").print_stats(25)
            print("top 15 by own time:")
            stats.sort_stats("tottime").print_stats(15)
    finally:
        try:
            asyncio.run(_admin(server_url, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            print(f"database {name} dropped")
        finally:
            if embedded is not None:
                embedded.cleanup()
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
