"""Benchmark: the task list screen (20 tasks with reporter, assignees, last event, volunteer calls
and their sign-up counts) against a real server, for a compound holding 2,000 tasks.

    .venv/bin/python bench/tasks.py [--database-url URL] [--tasks 2000] [--requests 200,800] [--concurrency 1,16]

It imports the demo world into a fresh database, adds `--tasks` tasks to 千山美林 (each with a
timeline event, an assignee and a volunteer call), starts `qilijia serve`, and measures the screen
as the community committee member (13800000004, who sees every task) at each concurrency: p50/p99
latency and requests/s. The database is dropped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import asyncpg
import httpx
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parent))
from screen_latency import (
    QILIJIA,
    _admin,
    _dsn,
    free_port,
    loadavg,
    percentile,
    post,
    qilijia,
    stop,
    tree_cpu_seconds,
    wait_ready,
)

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from fixtures import SCREEN, SEED

PHONE = "13800000004"
COMPOUNDS = "query { compounds(first: 100) { edges { node { id name } } } }"


async def seed(url: str, database: str, tasks: int) -> None:
    conn = await asyncpg.connect(**_dsn(url, database))
    try:
        await conn.execute("SET statement_timeout = 0")
        await conn.fetch(SEED, tasks)
        await conn.execute("ANALYZE")  # as autovacuum would soon after; the bench measures at once
    finally:
        await conn.close()


async def measure(base: str, server_pid: int, token: str, plan: list[tuple[int, int]], warmup: int) -> None:
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=60) as client:
        data = await post(client, token, COMPOUNDS, {})
        compound = next(
            e["node"]["id"] for e in data["compounds"]["edges"] if e["node"]["name"] == "千山美林"
        )
        variables = {"id": compound}
        for _ in range(warmup):
            await post(client, token, SCREEN, variables)
        print(
            f"{'conc':>4} {'requests':>8} {'p50 ms':>8} {'p99 ms':>8} {'req/s':>7} {'srv cpu ms/req':>14} {'loadavg':>15}"
        )

        async def worker(queue: list[int], latencies: list[float]) -> None:
            while queue:
                queue.pop()
                start = time.perf_counter()
                await post(client, token, SCREEN, variables)
                latencies.append((time.perf_counter() - start) * 1000)

        for total, concurrency in plan:
            latencies: list[float] = []
            queue = list(range(total))
            cpu = tree_cpu_seconds(server_pid)
            start = time.perf_counter()
            await asyncio.gather(*(worker(queue, latencies) for _ in range(concurrency)))
            wall = time.perf_counter() - start
            cpu = (tree_cpu_seconds(server_pid) - cpu) * 1000 / total
            latencies.sort()
            print(
                f"{concurrency:>4} {total:>8} {percentile(latencies, 50):>8.1f} {percentile(latencies, 99):>8.1f} "
                f"{total / wall:>7.1f} {cpu:>14.1f} {loadavg():>15}",
                flush=True,
            )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--database-url", default=os.environ.get("DATABASE_URL"))
    ap.add_argument("--tasks", type=int, default=2000)
    ap.add_argument("--concurrency", default="1,16")
    ap.add_argument("--requests", default="200,800")
    ap.add_argument("--warmup", type=int, default=20)
    args = ap.parse_args()
    plan = list(
        zip(
            [int(x) for x in args.requests.split(",")],
            [int(x) for x in args.concurrency.split(",")],
            strict=True,
        )
    )
    tmp = Path(tempfile.mkdtemp(prefix="qilijia-bench-tasks-"))
    embedded = None
    server_url = args.database_url
    if not server_url:
        import pgserver

        embedded = pgserver.get_server(tmp / "pg", cleanup_mode="delete")
        server_url = embedded.get_uri()
    name = f"qlj_bench_{uuid.uuid4().hex[:10]}"
    url = make_url(server_url).set(database=name).render_as_string(hide_password=False)
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "QILIJIA_ENV": "prod",
        "QILIJIA_SECRET_KEY": secrets.token_urlsafe(48),
        "QILIJIA_DATA_DIR": str(tmp),
    }
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server: subprocess.Popen[bytes] | None = None
    log = tmp / "server.log"
    try:
        asyncio.run(_admin(server_url, f"CREATE DATABASE {name}"))
        qilijia(env, "import", "--demo")
        start = time.perf_counter()
        asyncio.run(seed(server_url, name, args.tasks))
        print(f"{args.tasks} tasks added to 千山美林 in {time.perf_counter() - start:.1f} s", flush=True)
        token = qilijia(env, "token", PHONE).strip()
        with log.open("wb") as sink:
            server = subprocess.Popen(
                [str(QILIJIA), "serve", "--port", str(port)],
                env=env,
                cwd=tmp,
                stdout=sink,
                stderr=subprocess.STDOUT,
            )
        wait_ready(server, base, log)
        print(f"task list screen as {PHONE} (community committee), {os.cpu_count()} CPUs", flush=True)
        asyncio.run(measure(base, server.pid, token, plan, args.warmup))
    finally:
        if server is not None:
            stop(server)
        try:
            asyncio.run(_admin(server_url, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        finally:
            if embedded is not None:
                embedded.cleanup()
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
