"""Benchmark: ballots per second and tally read latency of owner votes against the real server.

    .venv/bin/python bench/votes.py [--database-url URL] [--concurrency 32] [--reads 300]

What it does, end to end:

1. generates a one-compound world with `../shared/worldgen.py` (default 40 buildings × 2 units ×
   16 floors × 4 per floor = 5,120 households) and imports it with `qilijia import PATH` into a
   fresh database created on `--database-url` (default `$DATABASE_URL`, else
   postgresql://postgres@127.0.0.1:5432/postgres); the database is dropped at the end;
2. starts `qilijia serve --port P` as a subprocess (QILIJIA_ENV=prod) and waits for `/readyz`;
3. an owners' committee member opens a compound-wide vote (HIRE_OR_FIRE_PROPERTY_SERVICE) — vote A;
4. round 1: every distinct owner of A's frozen electorate (`vote_owner`) casts one ballot over HTTP
   from `--concurrency` httpx clients at once; prints ballots, seconds, ballots/s and the p50/p99
   latency of `castBallot`, then checks that the stored tally equals a recount from the rows
   (`bench/fixtures.recount_from_rows`);
5. vote B, compound-wide over the same electorate, receives 100 ballots;
6. round 2: owners of vote A change their minds until A holds `--target-ballots` (10,000) ballots
   (re-casts are ballots: `ballotsCast` counts them); the recount check again;
7. `query { vote(id:) { tally { …every field… } } }` is timed sequentially `--reads` times on B
   (100 ballots) and on A (10,000 ballots) after a warm-up, and p50/p99 are printed: the tally is a
   row maintained by each ballot, so reading it should not depend on how many ballots were cast;
8. stops the server and drops the database.

Client, server and PostgreSQL share the machine, so the figures include their competition for CPU;
`machine cpu` is the busy share of all CPUs during a round (from /proc/stat).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from sqlalchemy.engine import make_url

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from auth import tokens  # noqa: E402
from resolvers.ids import decode, encode  # noqa: E402

sys.path.insert(0, str(REPO / "bench"))
from fixtures import CAST, OPEN, fetch, fetchval, generate, later, recount_from_rows, stored_tally  # noqa: E402
from screen_latency import (  # noqa: E402  (the benchmarks share their process and database helpers)
    _admin,
    free_port,
    loadavg,
    percentile,
    qilijia,
    stop,
    tree_cpu_seconds,
    wait_ready,
)

QILIJIA = Path(sys.executable).parent / "qilijia"
DEFAULT_SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"
MATTER = "HIRE_OR_FIRE_PROPERTY_SERVICE"
FIRST_CHOICES = ["AGREE", "AGREE", "DISAGREE", "ABSTAIN"]
CHANGE_OF_MIND = {"AGREE": "DISAGREE", "DISAGREE": "AGREE", "ABSTAIN": "AGREE"}
TALLY_READ = """query($id: ID!) { vote(id: $id) { tally {
  eligibleArea eligibleHeadcount participatingArea participatingHeadcount agreeArea agreeHeadcount
  disagreeArea disagreeHeadcount abstainArea abstainHeadcount participationMet approvalMet ballotsCast } } }"""


# --- database and processes ---------------------------------------------------------------------


def machine_ticks() -> tuple[int, int]:
    """(busy, total) jiffies of all CPUs since boot, from /proc/stat."""
    try:
        values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    except OSError:
        return 0, 0
    idle = values[3] + (values[4] if len(values) > 4 else 0)
    return sum(values) - idle, sum(values)


async def gql(client: httpx.AsyncClient, token: str, query: str, variables: dict[str, Any]) -> dict:
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


@dataclass
class Round:
    latencies: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    wall: float = 0.0
    server_cpu: float = 0.0
    client_cpu: float = 0.0
    machine_busy: float = 0.0
    sessions: int = 0


async def db_sessions(url: str) -> int:
    """Connections ever opened to this database (`pg_stat_database.sessions`, PostgreSQL 14+)."""
    try:
        return await fetchval(url, "SELECT sessions FROM pg_stat_database WHERE datname = current_database()")
    except asyncpg.PostgresError:
        return 0


async def cast_round(
    url: str, base: str, server_pid: int, vote_id: str, jobs: list[tuple[str, str]], concurrency: int
) -> Round:
    """Every (token, choice) of `jobs` cast once, by `concurrency` httpx clients working a shared list."""
    result = Round()
    pending = iter(jobs)

    async def client_worker() -> None:
        async with httpx.AsyncClient(base_url=base, timeout=60) as client:
            for token, choice in pending:  # one shared iterator: each job is taken exactly once
                start = time.perf_counter()
                try:
                    await gql(client, token, CAST, {"id": vote_id, "choice": choice})
                except (httpx.HTTPError, RuntimeError) as exc:
                    result.errors.append(str(exc)[:300])
                    continue
                result.latencies.append(time.perf_counter() - start)

    sessions = await db_sessions(url)
    server_cpu, client_cpu, (busy, total) = tree_cpu_seconds(server_pid), time.process_time(), machine_ticks()
    start = time.perf_counter()
    await asyncio.gather(*(client_worker() for _ in range(concurrency)))
    result.wall = time.perf_counter() - start
    result.server_cpu = tree_cpu_seconds(server_pid) - server_cpu
    result.client_cpu = time.process_time() - client_cpu
    busy_after, total_after = machine_ticks()
    result.machine_busy = (busy_after - busy) / max(1, total_after - total)
    await asyncio.sleep(1.0)  # the statistics collector flushes within a second
    result.sessions = await db_sessions(url) - sessions - 1  # minus the look-up itself
    return result


ROUND_HEADER = (
    f"{'round':<22} {'ballots':>7} {'errors':>6} {'seconds':>8} {'ballots/s':>9} {'p50 ms':>7} "
    f"{'p99 ms':>7} {'max ms':>7} {'srv cpu ms/b':>12} {'cli cpu ms/b':>12} {'machine cpu':>11} "
    f"{'new db conns':>12}"
)


def print_round(label: str, r: Round) -> None:
    ms = sorted(x * 1000 for x in r.latencies)
    n = len(ms)
    print(
        f"{label:<22} {n:>7,} {len(r.errors):>6} {r.wall:>8.2f} {n / r.wall:>9.1f} {percentile(ms, 50):>7.1f} "
        f"{percentile(ms, 99):>7.1f} {(ms[-1] if ms else float('nan')):>7.1f} "
        f"{r.server_cpu * 1000 / max(n, 1):>12.2f} {r.client_cpu * 1000 / max(n, 1):>12.2f} "
        f"{r.machine_busy:>10.0%} {r.sessions:>12,}",
        flush=True,
    )
    if r.errors:
        print(f"  first error: {r.errors[0]}", flush=True)


async def check_tally(url: str, ident: uuid.UUID, label: str, expected_ballots: int) -> bool:
    start = time.perf_counter()
    recount = await recount_from_rows(url, ident)
    recount_ms = (time.perf_counter() - start) * 1000
    stored = await stored_tally(url, ident)
    cast = await fetchval(url, "SELECT ballots_cast FROM vote_tally WHERE vote_id = $1", ident)
    rows = await fetchval(url, "SELECT count(*) FROM ballot WHERE vote_id = $1", ident)
    ok = stored == recount and cast == rows == expected_ballots
    print(
        f"  check {label}: stored tally {'==' if stored == recount else '!='} recount from rows "
        f"(recount {recount_ms:.0f} ms client-side); ballots_cast {cast:,}, ballot rows {rows:,}, "
        f"expected {expected_ballots:,} -> {'OK' if ok else 'MISMATCH'}",
        flush=True,
    )
    print(
        f"    participating {stored.participating_headcount:,}/{stored.eligible_headcount:,} heads, "
        f"{stored.participating_area}/{stored.eligible_area} m²; agree {stored.agree_headcount:,}, "
        f"disagree {stored.disagree_headcount:,}, abstain {stored.abstain_headcount:,} heads",
        flush=True,
    )
    if not ok:
        print(f"    stored:  {stored}\n    recount: {recount}", flush=True)
    return ok


async def read_latency(
    base: str, token: str, vote_id: str, reads: int, warmup: int
) -> tuple[list[float], dict[str, Any]]:
    """`reads` sequential tally queries after `warmup` unmeasured ones; latencies in ms."""
    async with httpx.AsyncClient(base_url=base, timeout=60) as client:
        last: dict[str, Any] = {}
        for _ in range(warmup):
            last = await gql(client, token, TALLY_READ, {"id": vote_id})
        latencies = []
        for _ in range(reads):
            start = time.perf_counter()
            last = await gql(client, token, TALLY_READ, {"id": vote_id})
            latencies.append((time.perf_counter() - start) * 1000)
    return sorted(latencies), last["vote"]["tally"]


# --- the scenario -------------------------------------------------------------------------------


async def scenario(args: argparse.Namespace, url: str, base: str, server_pid: int, secret: str) -> bool:
    ok = True
    committee_phone = args.committee_phone
    committee = tokens.mint(
        await fetchval(url, "SELECT id FROM person WHERE phone = $1", committee_phone),
        secret=secret,
        ttl_seconds=3600,
    )[0]
    compound = encode("Compound", await fetchval(url, "SELECT id FROM compound"))

    async def open_vote(title: str) -> tuple[str, uuid.UUID, float]:
        variables = {
            "input": {
                "compoundId": compound,
                "wholeCompound": True,
                "title": title,
                "description": "是否续聘现物业服务企业（全体业主共同决定）。",
                "matter": MATTER,
                "closesAt": later(),
            }
        }
        async with httpx.AsyncClient(base_url=base, timeout=60) as client:
            start = time.perf_counter()
            data = await gql(client, committee, OPEN, variables)
            seconds = time.perf_counter() - start
        vote_id = data["openVote"]["id"]
        return vote_id, decode(vote_id)[1], seconds

    vote_a, ident_a, open_seconds = await open_vote("续聘物业（表决 A）")
    electorate = await fetchval(url, "SELECT count(*) FROM vote_electorate WHERE vote_id = $1", ident_a)
    owner_ids = [
        r["person_id"]
        for r in await fetch(
            url,
            "SELECT DISTINCT person_id FROM vote_owner WHERE vote_id = $1 ORDER BY person_id",
            ident_a,
        )
    ]
    households_with_owner = await fetchval(
        url, "SELECT count(DISTINCT household_id) FROM vote_owner WHERE vote_id = $1", ident_a
    )
    print(
        f"vote A opened by owners' committee member {committee_phone} in {open_seconds * 1000:.0f} ms: "
        f"{electorate:,} households frozen ({households_with_owner:,} with an owner), "
        f"{len(owner_ids):,} distinct owners, rule {MATTER}",
        flush=True,
    )
    start = time.perf_counter()
    owner_tokens = [tokens.mint(p, secret=secret, ttl_seconds=3600)[0] for p in owner_ids]
    print(f"{len(owner_tokens):,} tokens minted in {time.perf_counter() - start:.2f} s (not measured)")
    print(f"load average before casting: {loadavg()} ({os.cpu_count()} CPUs)\n", flush=True)

    # round 1: every owner once
    print(ROUND_HEADER)
    first_choice = [FIRST_CHOICES[i % len(FIRST_CHOICES)] for i in range(len(owner_tokens))]
    jobs = list(zip(owner_tokens, first_choice, strict=True))
    r1 = await cast_round(url, base, server_pid, vote_a, jobs, args.concurrency)
    print_round(f"A: every owner once ×{args.concurrency}", r1)
    ok &= not r1.errors
    ok &= await check_tally(url, ident_a, "vote A after round 1", len(r1.latencies))
    voted = await fetchval(
        url, "SELECT count(*) FROM vote_electorate WHERE vote_id = $1 AND choice IS NOT NULL", ident_a
    )
    print(f"    households with a counted choice: {voted:,} of {households_with_owner:,} with an owner")
    ok &= voted == households_with_owner

    # vote B: the same electorate, 100 ballots
    vote_b, ident_b, open_b = await open_vote("续聘物业（表决 B）")
    small = min(args.small_ballots, len(owner_tokens))
    print(f"vote B opened in {open_b * 1000:.0f} ms (same electorate); {small} owners cast", flush=True)
    rb = await cast_round(url, base, server_pid, vote_b, jobs[:small], args.concurrency)
    print_round(f"B: {small} owners ×{args.concurrency}", rb)
    ok &= not rb.errors
    ok &= await check_tally(url, ident_b, "vote B", small)

    # round 2 on A: changes of mind until A holds the target number of ballots
    more = max(0, args.target_ballots - len(r1.latencies))
    recasts = [
        (owner_tokens[i % len(owner_tokens)], CHANGE_OF_MIND[first_choice[i % len(owner_tokens)]])
        for i in range(more)
    ]
    r2 = await cast_round(url, base, server_pid, vote_a, recasts, args.concurrency)
    print_round(f"A: re-casts ×{args.concurrency}", r2)
    ok &= not r2.errors
    total_a = len(r1.latencies) + len(r2.latencies)
    ok &= await check_tally(url, ident_a, "vote A after round 2", total_a)

    # tally reads
    print(
        f"\ntally read: `vote(id:) {{ tally {{ all 13 fields }} }}` as the committee member, sequential, "
        f"{args.warmup} warm-up + {args.reads} measured, one client; load average {loadavg()}"
    )
    print(f"{'vote':<6} {'ballotsCast':>11} {'p50 ms':>7} {'p99 ms':>7} {'mean ms':>8} {'min ms':>7}")
    for label, vote_id, expected in (("B", vote_b, small), ("A", vote_a, total_a)):
        ms, tally = await read_latency(base, committee, vote_id, args.reads, args.warmup)
        print(
            f"{label:<6} {tally['ballotsCast']:>11,} {percentile(ms, 50):>7.2f} {percentile(ms, 99):>7.2f} "
            f"{sum(ms) / len(ms):>8.2f} {ms[0]:>7.2f}",
            flush=True,
        )
        ok &= tally["ballotsCast"] == expected
    return ok


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--database-url",
        default=os.environ.get("DATABASE_URL") or DEFAULT_SERVER,
        help="a server to create the temporary database on",
    )
    ap.add_argument("--port", type=int, default=0, help="server port (default: a free one)")
    ap.add_argument("--workers", type=int, default=1, help="`qilijia serve --workers`")
    ap.add_argument("--pool-size", type=int, help="QILIJIA_DB_POOL_SIZE for the server (default: its own)")
    ap.add_argument("--concurrency", type=int, default=32, help="httpx clients casting at once")
    ap.add_argument("--target-ballots", type=int, default=10_000, help="ballots vote A ends with")
    ap.add_argument("--small-ballots", type=int, default=100, help="ballots of vote B")
    ap.add_argument("--reads", type=int, default=300, help="measured tally reads per vote")
    ap.add_argument("--warmup", type=int, default=30, help="unmeasured tally reads per vote first")
    ap.add_argument("--buildings", type=int, default=40)
    ap.add_argument("--units", type=int, default=2)
    ap.add_argument("--floors", type=int, default=16)
    ap.add_argument("--per-floor", type=int, default=4)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="qilijia-bench-votes-"))
    server_url = args.database_url
    name = f"qlj_bench_{uuid.uuid4().hex[:10]}"
    url = make_url(server_url).set(database=name).render_as_string(hide_password=False)
    secret = secrets.token_urlsafe(48)
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "QILIJIA_ENV": "prod",
        "QILIJIA_SECRET_KEY": secret,
        "QILIJIA_DATA_DIR": str(tmp),
    }
    if args.pool_size:
        env["QILIJIA_DB_POOL_SIZE"] = str(args.pool_size)
    port = args.port or free_port()
    base = f"http://127.0.0.1:{port}"
    server: subprocess.Popen[bytes] | None = None
    log = tmp / "server.log"
    ok = False
    created = False
    try:
        start = time.perf_counter()
        document = generate(
            compounds=1,
            buildings=args.buildings,
            units=args.units,
            floors=args.floors,
            per_floor=args.per_floor,
            seed=args.seed,
        )
        world = tmp / "world.json"
        world.write_text(json.dumps(document, ensure_ascii=False), encoding="utf-8")
        args.committee_phone = next(r["phone"] for r in document["roles"] if r["role"] == "OWNERS_COMMITTEE")
        print(f"world generated in {time.perf_counter() - start:.1f} s: {len(document['people']):,} people")

        asyncio.run(_admin(server_url, f"CREATE DATABASE {name}"))
        created = True
        start = time.perf_counter()
        qilijia(env, "import", str(world))
        households = asyncio.run(fetchval(url, "SELECT count(*) FROM household"))
        print(
            f"database {name}: migrated and imported with `qilijia import` in "
            f"{time.perf_counter() - start:.1f} s; {households:,} households in 1 compound",
            flush=True,
        )
        if households < 5_000:
            raise SystemExit(f"only {households} households: enlarge the world (--buildings, --floors)")

        with log.open("wb") as sink:
            server = subprocess.Popen(
                [str(QILIJIA), "serve", "--port", str(port), "--workers", str(args.workers)],
                env=env,
                cwd=tmp,
                stdout=sink,
                stderr=subprocess.STDOUT,
            )
        wait_ready(server, base, log)
        pool = args.pool_size or "default"
        print(f"server pid {server.pid} ready on {base} ({args.workers} worker(s), pool size {pool})")
        ok = asyncio.run(scenario(args, url, base, server.pid, secret))
    finally:
        if server is not None:
            stop(server)
            # uvicorn re-raises the SIGTERM it handled after a graceful shutdown: -15 is normal
            print(f"\nserver stopped (exit code {server.returncode})")
            errors = [line for line in log.read_text(errors="replace").splitlines() if '"error"' in line]
            if errors:
                print(f"{len(errors)} error lines in the server log, the first: {errors[0][:500]}")
        try:
            if created:
                asyncio.run(_admin(server_url, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                print(f"database {name} dropped")
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    print("all checks passed" if ok else "SOME CHECKS FAILED")
    if not ok:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
