"""What the cost model and the rate windows add to a request: the estimate of a screen's document
(first sighting, then remembered), and the spend from the caller's window in memory and in Redis,
as CPU microseconds per request. Compare with a compiled screen's server CPU in `bench/README.md`.

    .venv/bin/python bench/budget.py [--redis redis://127.0.0.1:6379/0]
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid
from typing import Any

from graphql import parse

from auth.budget import Budget
from auth.principal import PersonPrincipal
from schema import schema
from schema.cost import estimate, pay, priced

TASKS = """query Tasks($compound: ID!) { compound(id: $compound) { name
  tasks(first: 20) { edges { cursor node { id title status reporter { id name phone } assignees { id name }
    timeline(first: 3) { edges { node { kind text } } } volunteerCalls { id title signedCount }
    meetings { topic attendees { name } } } } pageInfo { hasNextPage endCursor } } } }"""


class _Request:
    scope: dict[str, Any] | None = None

    class client:
        host = "203.0.113.7"


async def spend(budget: Budget, callers: int, requests: int, flush_every: int = 0) -> float:
    """CPU per request of pricing and spending, the flushes to a shared window included
    (`flush_every` requests stand for the server's flush every quarter second)."""
    people = [PersonPrincipal(person_id=uuid.uuid4(), name="居民") for _ in range(callers)]
    document = parse(TASKS)
    started = time.process_time()
    for i in range(requests):
        await pay(budget, people[i % callers], _Request(), priced(schema._schema, TASKS, document, None, {}))
        if flush_every and i % flush_every == flush_every - 1:
            await budget.flush()
    await budget.flush()
    return (time.process_time() - started) / requests * 1e6


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--requests", type=int, default=20_000)
    args = parser.parse_args()
    document = parse(TASKS)
    started = time.process_time()
    for _ in range(1_000):
        estimate(schema._schema, document, None, {})
    print(f"estimate, uncached:           {(time.process_time() - started) * 1e3:7.1f} µs per document")
    memory = await spend(Budget.for_url(None, scale=1_000), 50, args.requests)
    print(f"priced + spent, in memory:    {memory:7.1f} µs CPU per request")
    shared = Budget.for_url(args.redis, scale=1_000, prefix=f"bench-{uuid.uuid4().hex}")
    print(f"priced + spent, Redis, burst: {await spend(shared, 50, args.requests):7.1f} µs CPU per request")
    # every request from a caller not seen for a while; 250 requests per flush (1,000 req/s)
    rare = Budget.for_url(args.redis, prefix=f"bench-{uuid.uuid4().hex}")
    sparse = await spend(rare, args.requests, args.requests, flush_every=250)
    print(f"priced + spent, Redis, rare:  {sparse:7.1f} µs CPU per request")


if __name__ == "__main__":
    asyncio.run(main())
