"""Search on a city-sized world: `search(text:)` with and without the trigram indexes.

Generates a world with `../shared/worldgen.py` (default: 50 compounds of 20 buildings, 144,000
households, about 172,000 people), imports it into a fresh database, then asks the API in process
(the ASGI app through httpx, compiled reads on, as a client would after its first request) for a
name, a phone fragment and a household number, as the platform admin (who may see everyone, so
every row is a candidate) and as a grid worker (one grid's people). It prints the median and p90
latency of each search with the pg_trgm indexes of migration 0014, then drops them and measures
again: the ratio is what the indexes buy. Needs a PostgreSQL with pg_trgm (`--database-url`, or
`$DATABASE_URL`); the embedded server has no pg_trgm and the script says so and stops.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from app.http import create_app  # noqa: E402
from app.migrate import upgrade  # noqa: E402
from app.settings import Settings  # noqa: E402
from app.world_file import load  # noqa: E402
from auth import tokens  # noqa: E402
from bench.fixtures import fetch, fetchval  # noqa: E402
from bench.import_100k import _admin, run_import, with_database  # noqa: E402

SECRET = "bench-" + "x" * 40
QUERY = """query($text: String!) { search(text: $text) {
  people(first: 20) { totalCount edges { node { id name phone } } }
  households(first: 20) { totalCount edges { node { number } } } } }"""
INDEXES = (
    "person_name_trgm",
    "person_phone_trgm",
    "household_number_trgm",
    "task_title_trgm",
    "task_description_trgm",
)


async def measure(client: httpx.AsyncClient, token: str, text: str, rounds: int) -> tuple[float, float, int]:
    headers = {"Authorization": f"Bearer {token}"}
    seconds, found = [], 0
    for n in range(rounds + 2):  # the first two: strawberry, then the plan compiled
        start = time.perf_counter()
        response = await client.post(
            "/graphql", json={"query": QUERY, "variables": {"text": text}}, headers=headers
        )
        elapsed = time.perf_counter() - start
        body = response.json()
        if body.get("errors"):
            raise SystemExit(f"search {text!r} failed: {body['errors']}")
        found = (
            body["data"]["search"]["people"]["totalCount"]
            + body["data"]["search"]["households"]["totalCount"]
        )
        if n >= 2:
            seconds.append(elapsed)
    seconds.sort()
    return statistics.median(seconds) * 1000, seconds[int(len(seconds) * 0.9) - 1] * 1000, found


async def run(url: str, rounds: int) -> None:
    admin_id = await fetchval(url, "SELECT person_id FROM role_assignment WHERE role = 'ADMIN' LIMIT 1")
    if admin_id is None:
        admin_id = await fetchval(url, "SELECT id FROM person ORDER BY phone LIMIT 1")
        await fetch(url, "INSERT INTO role_assignment (person_id, role) VALUES ($1, 'ADMIN')", admin_id)
    grid_id = await fetchval(url, "SELECT person_id FROM role_assignment WHERE role = 'GRID_WORKER' LIMIT 1")
    # somebody from the middle of the city, with a phone and a three-character name
    sample = (
        await fetch(
            url,
            "SELECT name, phone FROM person WHERE length(name) = 3 AND phone IS NOT NULL ORDER BY id"
            " OFFSET (SELECT count(*) / 2 FROM person WHERE length(name) = 3 AND phone IS NOT NULL) LIMIT 1",
        )
    )[0]
    number = await fetchval(
        url, "SELECT number FROM household ORDER BY id OFFSET (SELECT count(*) / 2 FROM household) LIMIT 1"
    )
    searches = {
        "a full name": sample["name"],
        "a given name": sample["name"][1:],
        "four phone digits": sample["phone"][-4:],
        "a household number": number,
    }
    callers = {"admin": admin_id, "grid worker": grid_id}
    settings = Settings(_env_file=None, DATABASE_URL=url, QILIJIA_SECRET_KEY=SECRET)
    app = create_app(settings, database_url=url)
    results: dict[str, dict[tuple[str, str], tuple[float, float, int]]] = {}
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench", timeout=60) as client:
            for label in ("with indexes", "without"):
                if label == "without":
                    for name in INDEXES:
                        await fetch(url, f"DROP INDEX IF EXISTS {name}")
                results[label] = {}
                for who, person in callers.items():
                    if person is None:
                        continue
                    token = tokens.mint(person, secret=SECRET, ttl_seconds=3600)[0]
                    for what, text in searches.items():
                        results[label][(who, what)] = await measure(client, token, text, rounds)
    print(
        f"\n{'caller':<12} {'search':<20} {'text':<14} {'found':>7} {'p50 ms':>9} {'p90 ms':>9} {'p50 without':>12} {'ratio':>7}"
    )
    for (who, what), (p50, p90, found) in results["with indexes"].items():
        without = results["without"][(who, what)][0]
        text = searches[what]
        print(
            f"{who:<12} {what:<20} {text:<14} {found:>7} {p50:>9.1f} {p90:>9.1f} {without:>12.1f} {without / p50:>6.1f}x"
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--database-url", default=os.environ.get("DATABASE_URL"), help="a server with pg_trgm")
    ap.add_argument("--compounds", type=int, default=50)
    ap.add_argument("--buildings", type=int, default=20)
    ap.add_argument("--rounds", type=int, default=20, help="timed requests per search")
    args = ap.parse_args()
    if not args.database_url:
        raise SystemExit(
            "search needs a PostgreSQL with pg_trgm: pass --database-url (the embedded one has none)"
        )
    name = f"qlj_bench_{uuid.uuid4().hex[:10]}"
    url = with_database(args.database_url, name)
    tmp = Path(tempfile.mkdtemp(prefix="qilijia-bench-"))
    try:
        world_path = tmp / "world.json"
        subprocess.run(
            [
                sys.executable,
                str(REPO.parent / "shared" / "worldgen.py"),
                "--compounds",
                str(args.compounds),
                "--buildings",
                str(args.buildings),
                "--floors",
                "18",
                "--per-floor",
                "4",
                "--out",
                str(world_path),
            ],
            check=True,
        )
        asyncio.run(_admin(args.database_url, f"CREATE DATABASE {name}"))
        upgrade(url)
        if not asyncio.run(
            fetchval(url, "SELECT count(*) FROM pg_indexes WHERE indexname = 'person_name_trgm'")
        ):
            raise SystemExit("this server has no pg_trgm: the indexes were not created")
        world = load(world_path)
        start = time.perf_counter()
        settings = Settings(_env_file=None, DATABASE_URL=url, QILIJIA_SECRET_KEY=SECRET)
        run_import(url, settings, world)
        print(
            f"{world.household_count:,} households, {len(world.people):,} people imported in {time.perf_counter() - start:.0f} s"
        )
        asyncio.run(fetch(url, "ANALYZE"))
        asyncio.run(run(url, args.rounds))
    finally:
        asyncio.run(_admin(args.database_url, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))


if __name__ == "__main__":
    main()
