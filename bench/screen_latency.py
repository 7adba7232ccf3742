"""Benchmark: latency and throughput of the mini-program's compound screen against the real server.

    .venv/bin/python bench/screen_latency.py [--database-url URL] [--requests 200,800] [--concurrency 1,16]

What it does, end to end:

1. creates a fresh database on `--database-url` (default `$DATABASE_URL`; without either an embedded
   `pgserver` is started in a temporary directory) and runs `qilijia import --demo` into it;
2. gets tokens with `qilijia token PHONE` for two personas of 千山美林 (see PERSONAS);
3. starts `qilijia serve --port P` as a subprocess (QILIJIA_ENV=prod, QILIJIA_SECRET_KEY set) and
   waits for `/readyz`;
4. per persona: looks the compound up via `compounds`, warms up, then fires the screen query (SCREEN)
   with `httpx.AsyncClient` over loopback at each concurrency for a fixed number of requests, and
   prints p50 / p99 latency (ms) and requests/s;
5. stops the server (terminate, wait) and drops the database.

The client runs on the same machine as the server and PostgreSQL, so on a small machine the figures
include the competition for CPU between them.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from sqlalchemy.engine import make_url

REPO = Path(__file__).resolve().parent.parent
QILIJIA = Path(sys.executable).parent / "qilijia"

PERSONAS = [
    ("13800000001", "chief convener of 千山美林 (PARTY_MEMBER, CHIEF_CONVENER)"),
    ("13800000004", "community committee of 九龙社区 (sees more households)"),
]
COMPOUND_NAME = "千山美林"

COMPOUNDS = "query { compounds(first: 100) { edges { node { id name } } } }"
SCREEN = """
query Screen($id: ID!) {
  me { person { name } households { household { number } } }
  compound(id: $id) {
    name
    buildings(first: 20) {
      edges { node {
        name
        households(first: 20) {
          edges { node { number area owners { name phone } } }
        }
      } }
    }
  }
}
"""


# --- database and processes ---------------------------------------------------------------------


def _dsn(url: str, database: str) -> dict[str, Any]:
    parsed = make_url(url).set(database=database)
    return {
        "user": parsed.username,
        "password": parsed.password or None,
        "host": parsed.query.get("host") or parsed.host,
        "port": parsed.port,
        "database": parsed.database,
    }


async def _admin(url: str, statement: str) -> None:
    conn = await asyncpg.connect(**_dsn(url, "postgres"))
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def qilijia(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [str(QILIJIA), *args], env=env, cwd=env["QILIJIA_DATA_DIR"], capture_output=True, text=True
    )
    if done.returncode != 0:
        raise SystemExit(f"qilijia {' '.join(args)} failed ({done.returncode}):\n{done.stderr}")
    return done.stdout


def wait_ready(server: subprocess.Popen[bytes], base: str, log: Path, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"the server exited with {server.returncode}:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"the server was not ready after {timeout:.0f} s:\n{log.read_text()[-3000:]}")


def stop(server: subprocess.Popen[bytes]) -> None:
    if server.poll() is None:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=10)


def tree_cpu_seconds(root: int) -> float:
    """CPU time (user + system) of process `root` and its descendants, from /proc (Linux only)."""
    tick = os.sysconf("SC_CLK_TCK")
    parent: dict[int, int] = {}
    cpu: dict[int, float] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        pid = int(entry.name)
        parent[pid] = int(fields[1])
        cpu[pid] = (int(fields[11]) + int(fields[12])) / tick
    total = 0.0
    for pid in cpu:
        node, hops = pid, 0
        while node and node != root and hops < 64:  # a bounded walk, even if /proc changes meanwhile
            node, hops = parent.get(node, 0), hops + 1
        if node == root:
            total += cpu[pid]
    return total


def loadavg() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"


# --- measuring ----------------------------------------------------------------------------------


def percentile(sorted_values: list[float], p: float) -> float:
    """Nearest-rank percentile of an ascending list."""
    if not sorted_values:
        return float("nan")
    rank = max(1, round(p / 100 * len(sorted_values) + 0.5 - 1e-9))
    return sorted_values[min(rank, len(sorted_values)) - 1]


async def post(client: httpx.AsyncClient, token: str, query: str, variables: dict[str, Any]) -> dict:
    response = await client.post(
        "/graphql",
        json={"query": query, "variables": variables},
        headers={"Authorization": f"Bearer {token}"},
    )
    response.raise_for_status()
    body = response.json()
    if body.get("errors"):
        raise RuntimeError(f"GraphQL errors: {body['errors']}")
    return body["data"]


async def burst(
    client: httpx.AsyncClient, token: str, variables: dict[str, Any], total: int, concurrency: int
) -> tuple[list[float], float, int]:
    """`total` screen requests from `concurrency` workers; returns latencies (s), wall time, errors."""
    latencies: list[float] = []
    errors = 0
    remaining = total

    async def worker() -> None:
        nonlocal remaining, errors
        while remaining > 0:
            remaining -= 1
            start = time.perf_counter()
            try:
                await post(client, token, SCREEN, variables)
            except (httpx.HTTPError, RuntimeError):
                errors += 1
                continue
            latencies.append(time.perf_counter() - start)

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return latencies, time.perf_counter() - start, errors


async def measure(
    base: str, server_pid: int, tokens: dict[str, str], plan: list[tuple[int, int]], warmup: int
) -> None:
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=60) as client:
        print(
            f"{'persona':<12} {'conc':>4} {'requests':>8} {'errors':>6} {'p50 ms':>8} {'p99 ms':>8} "
            f"{'mean ms':>8} {'req/s':>7} {'srv cpu ms/req':>14} {'cli cpu ms/req':>14} {'loadavg':>15}",
            flush=True,
        )
        for phone, token in tokens.items():
            data = await post(client, token, COMPOUNDS, {})
            ids = [e["node"]["id"] for e in data["compounds"]["edges"] if e["node"]["name"] == COMPOUND_NAME]
            if not ids:
                raise SystemExit(f"{phone} does not see {COMPOUND_NAME}")
            variables = {"id": ids[0]}
            screen = await post(client, token, SCREEN, variables)
            buildings = screen["compound"]["buildings"]["edges"]
            shown = sum(len(b["node"]["households"]["edges"]) for b in buildings)
            owners = sum(
                len(h["node"]["owners"]) for b in buildings for h in b["node"]["households"]["edges"]
            )
            print(
                f"# {phone}: {screen['me']['person']['name']}, {len(buildings)} buildings, "
                f"{shown} households, {owners} owners on the screen",
                flush=True,
            )
            await burst(client, token, variables, warmup, 1)
            for total, concurrency in plan:
                server_cpu, client_cpu = tree_cpu_seconds(server_pid), time.process_time()
                latencies, wall, errors = await burst(client, token, variables, total, concurrency)
                server_cpu = (tree_cpu_seconds(server_pid) - server_cpu) * 1000 / total
                client_cpu = (time.process_time() - client_cpu) * 1000 / total
                latencies.sort()
                ms = [x * 1000 for x in latencies]
                mean = sum(ms) / len(ms) if ms else float("nan")
                print(
                    f"{phone:<12} {concurrency:>4} {total:>8} {errors:>6} {percentile(ms, 50):>8.1f} "
                    f"{percentile(ms, 99):>8.1f} {mean:>8.1f} {len(latencies) / wall:>7.1f} "
                    f"{server_cpu:>14.1f} {client_cpu:>14.1f} {loadavg():>15}",
                    flush=True,
                )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--database-url", default=os.environ.get("DATABASE_URL"), help="a server to use")
    ap.add_argument("--port", type=int, default=0, help="server port (default: a free one)")
    ap.add_argument("--workers", type=int, default=1, help="`qilijia serve --workers`")
    ap.add_argument("--concurrency", default="1,16", help="comma-separated concurrency levels")
    ap.add_argument("--requests", default="200,800", help="requests per concurrency level, same order")
    ap.add_argument("--warmup", type=int, default=30, help="requests before measuring, per persona")
    args = ap.parse_args()
    levels = [int(x) for x in args.concurrency.split(",")]
    counts = [int(x) for x in args.requests.split(",")]
    if len(levels) != len(counts):
        raise SystemExit("--concurrency and --requests need the same number of values")
    plan = list(zip(counts, levels, strict=True))

    tmp = Path(tempfile.mkdtemp(prefix="qilijia-bench-screen-"))
    embedded = None
    server_url = args.database_url
    if not server_url:
        import pgserver

        print(f"no DATABASE_URL: starting an embedded PostgreSQL in {tmp / 'pg'}", flush=True)
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
    port = args.port or free_port()
    base = f"http://127.0.0.1:{port}"
    server: subprocess.Popen[bytes] | None = None
    log = tmp / "server.log"
    try:
        asyncio.run(_admin(server_url, f"CREATE DATABASE {name}"))
        start = time.perf_counter()
        qilijia(env, "import", "--demo")
        print(f"database {name}: demo world imported in {time.perf_counter() - start:.1f} s", flush=True)
        tokens = {phone: qilijia(env, "token", phone).strip() for phone, _ in PERSONAS}
        for phone, who in PERSONAS:
            print(f"# {phone}: {who}")

        with log.open("wb") as sink:
            server = subprocess.Popen(
                [str(QILIJIA), "serve", "--port", str(port), "--workers", str(args.workers)],
                env=env,
                cwd=tmp,
                stdout=sink,
                stderr=subprocess.STDOUT,
            )
        wait_ready(server, base, log)
        print(f"server pid {server.pid} ready on {base} ({args.workers} worker(s))", flush=True)
        print(f"load average before measuring: {loadavg()} ({os.cpu_count()} CPUs)", flush=True)
        asyncio.run(measure(base, server.pid, tokens, plan, args.warmup))
    finally:
        if server is not None:
            stop(server)
            # uvicorn re-raises the SIGTERM it handled after a graceful shutdown: -15 is normal
            print(f"server stopped (exit code {server.returncode})")
            errors = [line for line in log.read_text(errors="replace").splitlines() if '"error"' in line]
            if errors:
                print(f"{len(errors)} error lines in the server log, the first: {errors[0][:500]}")
        try:
            asyncio.run(_admin(server_url, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            print(f"database {name} dropped")
        finally:
            if embedded is not None:
                embedded.cleanup()
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
