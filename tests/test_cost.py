"""What a request may cost (DESIGN §7): estimated before it runs, refused over the caller's limit
with no SQL, spent from a cost-weighted window per caller that every process shares through Redis,
and reported on every response as `extensions.cost`."""

from __future__ import annotations

import asyncio
import os
import uuid

import httpx
import pytest
import redis.asyncio
from graphql import parse

from auth.budget import PER_MINUTE, QUERY_LIMIT, WRITES_PER_MINUTE, Kind
from auth.policy import Field, Resource
from schema import schema
from schema.compiled import ANSWERS
from schema.cost import COUNT_WEIGHT, MUTATION_WEIGHT, estimate
from tests.conftest import Api, counting_statements, fetchval, make_settings, running_api, token_for
from tests.servers import Server, start_all, stop_all
from tests.votes import building_id, compound_id

ADMIN = "13800000000"
RESIDENT = "13800000007"
REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")

FAN_OUT = """{ compounds(first: 100) { edges { node { name buildings(first: 100) { edges { node { name
  households(first: 100) { edges { node { number } } } } } } } } } }"""
WIDE = "{ compounds(first: 100) { edges { node { buildings(first: 100) { edges { node { name } } } } } } }"
REPORT = """{alias}: reportTask(input: {{compoundId: "{compound}", buildingId: "{building}",
  category: FACILITIES_REPAIR, title: "楼道灯不亮", description: "三楼楼道灯坏了好几天了。"}}) {{ id }}"""


def cost_of(document: str, variables: dict | None = None, operation: str | None = None) -> int:
    return estimate(schema._schema, parse(document), operation, variables).cost


def test_a_page_counts_its_objects_and_the_lists_below_them() -> None:
    assert cost_of("{ compounds(first: 5) { edges { node { name } } } }") == 1 + 5
    assert cost_of("{ compounds { edges { node { name } } } }") == 1 + 20  # the default page
    nested = "{ compounds(first: 5) { edges { node { buildings(first: 3) { edges { node { name } } } } } } }"
    assert cost_of(nested) == 1 + 5 * (1 + 1 + 3)
    by_variable = "query($n: Int = 7) { compounds(first: $n) { edges { node { name } } } }"
    assert cost_of(by_variable) == 1 + 7
    assert cost_of(by_variable, {"n": 2}) == 1 + 2
    assert cost_of("{ __typename }") == 1  # nothing costs nothing, but every request costs something


def test_a_backward_page_and_a_count_are_priced_too() -> None:
    timeline = "query($id: ID!) { task(id: $id) { timeline(%s) { edges { node { text } } } } }"
    assert cost_of(timeline % "last: 100") == cost_of(timeline % "first: 100") > cost_of(timeline % "last: 5")
    counted = "{ compounds(first: 5) { totalCount edges { node { name } } } }"
    assert cost_of(counted) == cost_of("{ compounds(first: 5) { edges { node { name } } } }") + COUNT_WEIGHT
    # a count inside each of five compounds is asked five times
    inner = "{ compounds(first: 5) { edges { node { buildings(first: 3) { totalCount } } } } }"
    assert cost_of(inner) == 1 + 5 * (1 + 1 + COUNT_WEIGHT)


def test_fragments_cost_what_they_would_expand_to() -> None:
    spread = """{ compounds(first: 5) { edges { node { ...B } } } }
      fragment B on Compound { buildings(first: 3) { edges { node { name } } } }"""
    inline = "{ compounds(first: 5) { edges { node { buildings(first: 3) { edges { node { name } } } } } } }"
    assert cost_of(spread) == cost_of(inline)


def test_ten_aliased_mutations_cost_ten_times_one() -> None:
    one = 'mutation { a0: devLogin(phone: "1") { token } }'
    ten = "mutation { " + " ".join(f'a{i}: devLogin(phone: "1") {{ token }}' for i in range(10)) + " }"
    assert cost_of(one) >= MUTATION_WEIGHT
    assert cost_of(ten) == 10 * cost_of(one)
    assert estimate(schema._schema, parse(ten), None, None).writes == 10


@pytest.mark.parametrize(
    ("document", "reads_phones"),
    [
        ('{ node(id: "x") { ... on Household { owners { name phone } } } }', True),
        (
            'query { node(id: "x") { ...H } } fragment H on Household { owners { ...P } } fragment P on Person { phone }',
            True,
        ),
        ('{ node(id: "x") { ... on Person { phone } } }', True),
        ('{ node(id: "x") { ... on Household { owners { name } } } }', False),
        ("{ me { person { name } } }", False),
    ],
)
def test_the_estimate_names_the_fields_the_audit_trail_records(document: str, reads_phones: bool) -> None:
    found = estimate(schema._schema, parse(document), None, None).recorded
    assert found == ({(Resource.PERSON, Field.PHONE)} if reads_phones else set())


def test_a_fan_out_of_pages_of_a_hundred_is_over_every_limit() -> None:
    assert cost_of(FAN_OUT) > 1_000_000
    assert all(cost_of(FAN_OUT) > limit for limit in QUERY_LIMIT.values())
    aliased = "{ " + " ".join(f"a{i}: " + WIDE[2:-2] for i in range(30)) + " }"
    assert all(cost_of(aliased) > limit for limit in QUERY_LIMIT.values())
    assert cost_of(WIDE) <= QUERY_LIMIT[Kind.STAFF]  # one of them is a fair question for staff


async def test_over_the_limit_is_refused_before_any_sql(api: Api, demo_db_url: str) -> None:
    token = await token_for(demo_db_url, ADMIN)
    await api.gql("{ __typename }", token=token)  # the caller's principal is cached from here on
    for document in (FAN_OUT, "{ " + " ".join(f"a{i}: " + WIDE[2:-2] for i in range(30)) + " }"):
        with counting_statements(api.app) as counted:
            response = await api.post(document, token=token)
        body = response.json()
        assert response.status_code == 200
        assert body["data"] is None
        [error] = body["errors"]
        assert error["extensions"]["code"] == "QUERY_TOO_COMPLEX"
        assert error["extensions"]["cost"]["requested"] > error["extensions"]["cost"]["limit"]
        assert error["extensions"]["cost"]["limit"] == QUERY_LIMIT[Kind.STAFF]
        assert "查询" in error["message"]
        assert counted.count == 1  # the caller's principal, read afresh for strawberry: nothing else


async def test_every_answer_carries_its_cost_on_every_path(api: Api, demo_db_url: str) -> None:
    token = await token_for(demo_db_url, ADMIN)
    screen = "query Names { compounds(first: 5) { edges { node { name } } } }"
    answers = [(await api.post(screen, token=token)).json() for _ in range(3)]  # strawberry, compiled
    costs = [a["extensions"]["cost"] for a in answers]
    assert [c["requested"] for c in costs] == [6, 6, 6]
    assert {c["limit"] for c in costs} == {QUERY_LIMIT[Kind.STAFF]}
    assert [costs[0]["remaining"] - c["remaining"] for c in costs] == [0, 6, 12]  # each spent
    assert answers[0]["data"] == answers[1]["data"] == answers[2]["data"]
    denied = (await api.post("{ compounds(first: 1) { edges { node { name } } } }")).json()
    assert denied["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert denied["extensions"]["cost"]["limit"] == QUERY_LIMIT[Kind.ANONYMOUS]
    login = (await api.post(f'mutation {{ devLogin(phone: "{ADMIN}") {{ token }} }}')).json()
    assert login["extensions"]["cost"]["requested"] >= MUTATION_WEIGHT
    assert login["extensions"]["cost"]["remaining"] < PER_MINUTE[Kind.ANONYMOUS]


async def reports(url: str, count: int) -> str:
    compound, building = await compound_id(url), await building_id(url)
    fields = " ".join(
        REPORT.format(alias=f"r{i}", compound=compound, building=building) for i in range(count)
    )
    return f"mutation {{ {fields} }}"


async def test_writes_past_the_window_are_refused_and_write_nothing(api: Api, demo_db_url: str) -> None:
    token = await token_for(demo_db_url, RESIDENT)
    ten = await reports(demo_db_url, 10)
    before = await fetchval(demo_db_url, "SELECT count(*) FROM task")
    allowed = WRITES_PER_MINUTE[Kind.RESIDENT] // 10
    for _ in range(allowed):
        body = (await api.post(ten, token=token)).json()
        assert "errors" not in body, body
    refused = await api.post(ten, token=token)
    assert refused.status_code == 429
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    [error] = refused.json()["errors"]
    assert error["extensions"]["code"] == "RATE_LIMITED"
    assert "秒后再试" in error["message"]
    assert await fetchval(demo_db_url, "SELECT count(*) FROM task") == before + 10 * allowed
    # reading goes on: its own window
    assert "errors" not in (await api.post("{ me { person { name } } }", token=token)).json()
    # another person is not slowed by this one
    other = await token_for(demo_db_url, "13800000012")
    assert "errors" not in (await api.post(await reports(demo_db_url, 1), token=other)).json()


async def test_the_compiled_path_spends_from_the_same_window(demo_db_url: str) -> None:
    """A screen answered before strawberry (its plan made) is charged alike, and refused alike
    past the window: 429 before any SQL."""
    screen = "query Mine { compounds(first: 5) { edges { node { name } } } }"  # costs 6
    scale = 21 / PER_MINUTE[Kind.RESIDENT]  # a window of 21: three screens, not four
    settings = make_settings(demo_db_url, QILIJIA_RATE_LIMIT_SCALE=scale)
    token = await token_for(demo_db_url, RESIDENT)
    async with running_api(demo_db_url, settings) as api:
        answers = [(await api.post(screen, token=token)).json() for _ in range(3)]
        assert [a["extensions"]["cost"]["remaining"] for a in answers] == [15, 9, 3]
        by_sql = ANSWERS.labels("sql")._value.get()
        with counting_statements(api.app) as counted:
            refused = await api.post(screen, token=token)
        assert ANSWERS.labels("sql")._value.get() == by_sql
        assert counted.count == 0  # the plan is known and the principal cached: nothing ran
        assert refused.status_code == 429
        assert refused.headers["Retry-After"].isdigit()
        assert refused.json()["errors"][0]["extensions"]["code"] == "RATE_LIMITED"


async def _redis_up() -> bool:
    client = redis.asyncio.Redis.from_url(REDIS_URL)
    try:
        return bool(await asyncio.wait_for(client.ping(), 2))
    except (TimeoutError, OSError, redis.RedisError):
        return False
    finally:
        await client.aclose()


async def test_two_processes_share_one_window_through_redis(demo_db_url: str) -> None:
    if not await _redis_up():
        pytest.skip(f"no Redis at {REDIS_URL}: windows shared across processes need one")
    env = {"REDIS_URL": REDIS_URL, "QILIJIA_REDIS_PREFIX": f"test-{uuid.uuid4().hex}"}
    servers = [Server(url="", database_url=demo_db_url, env=env) for _ in range(2)]
    try:  # a server that fails to start must not leave the other running
        await asyncio.to_thread(start_all, servers)
        token = await token_for(demo_db_url, RESIDENT)
        five = await reports(demo_db_url, 5)
        headers = {"Authorization": f"Bearer {token}"}
        async with httpx.AsyncClient(timeout=20) as client:
            statuses = []
            for i in range(WRITES_PER_MINUTE[Kind.RESIDENT] // 5 + 2):
                server = servers[i % 2]
                response = await client.post(f"{server.base}/graphql", json={"query": five}, headers=headers)
                statuses.append(response.status_code)
        allowed = WRITES_PER_MINUTE[Kind.RESIDENT] // 5
        assert statuses == [200] * allowed + [429, 429]  # one window, whichever process answers
    finally:
        stop_all(servers)


async def test_a_shared_window_is_told_in_batches_and_still_refuses_in_time() -> None:
    """With Redis, a process tells the shared window a caller's reads every quarter second or
    every 2 % of the window, not on every request; it refuses within that margin of the limit."""
    import uuid as uuid_

    from limits.aio.storage import MemoryStorage

    from auth.budget import Budget
    from auth.principal import PersonPrincipal
    from models.errors import RateLimitedError

    storage = MemoryStorage()
    calls = 0
    incr = storage.incr

    async def counted(*args, **kwargs):
        nonlocal calls
        calls += 1
        return await incr(*args, **kwargs)

    storage.incr = counted  # type: ignore[method-assign]
    scale = 10_000 / PER_MINUTE[Kind.RESIDENT]  # a window of 10,000
    budget = Budget(storage, scale, shared=True)
    resident = PersonPrincipal(person_id=uuid_.uuid4(), name="居民")
    spent = 0
    with pytest.raises(RateLimitedError):
        for _ in range(2_000):
            await budget.charge(resident, "x", 10_000, 10)
            spent += 10
    assert 10_000 - 10_000 * Budget.FLUSH_SHARE <= spent <= 10_000  # refused in time
    assert calls <= spent // (10_000 * Budget.FLUSH_SHARE) + 2  # one round trip per 2 %, not per request


async def test_many_callers_reads_reach_redis_in_one_round_trip() -> None:
    """Fifty callers asking once each cost no round trip on their requests: the process tells Redis
    all of them in one pipeline, and the shared counts are then exactly what they spent."""
    if not await _redis_up():
        pytest.skip(f"no Redis at {REDIS_URL}: windows shared across processes need one")
    from auth.budget import Budget
    from auth.principal import PersonPrincipal

    budget = Budget.for_url(REDIS_URL, prefix=f"test-{uuid.uuid4().hex}")
    told = 0
    incr = budget.storage.incr

    async def counted(*args, **kwargs):
        nonlocal told
        told += 1
        return await incr(*args, **kwargs)

    budget.storage.incr = counted  # type: ignore[method-assign]
    people = [PersonPrincipal(person_id=uuid.uuid4(), name="居民") for _ in range(50)]
    for i, person in enumerate(people):
        charge = await budget.charge(person, "x", 100_000, 1_000 + i)
        assert charge.remaining == PER_MINUTE[Kind.RESIDENT] - 1_000 - i
    assert told == 0  # no request waited for Redis
    assert await budget.flush() == 50
    for i, person in enumerate(people):
        window = budget.windows[Kind.RESIDENT].key_for("cost", f"person:{person.person_id}")
        assert await budget.storage.get(window) == 1_000 + i
    assert await budget.flush() == 0  # nothing pending, nothing sent


async def test_a_caller_near_the_limit_is_not_let_through_by_an_old_count() -> None:
    """A caller who had spent most of their window and comes back after a pause is checked against
    the shared count at once, so what another process spent meanwhile refuses them."""
    import uuid as uuid_

    from limits.aio.storage import MemoryStorage

    from auth.budget import Budget
    from auth.principal import PersonPrincipal
    from models.errors import RateLimitedError

    storage = MemoryStorage()
    scale = 10_000 / PER_MINUTE[Kind.RESIDENT]  # a window of 10,000
    here, there = Budget(storage, scale, shared=True), Budget(storage, scale, shared=True)
    resident = PersonPrincipal(person_id=uuid_.uuid4(), name="居民")
    await here.charge(resident, "x", 10_000, 6_000)  # large: told at once
    await there.charge(resident, "x", 10_000, 4_000)  # the other process spends the rest
    here.TRUST_SECONDS = 0.0  # the pause
    with pytest.raises(RateLimitedError):
        await here.charge(resident, "x", 10_000, 10)


async def test_local_windows_count_per_caller_and_start_again_when_they_end(monkeypatch) -> None:
    """In one process (no Redis), each caller's window counts from zero once it has ended; ended
    windows are forgotten in one sweep a minute, not by walking every caller on each request."""
    from auth import budget as budget_module
    from auth.budget import LocalWindows

    now = [1_000.0]
    monkeypatch.setattr(budget_module.time, "time", lambda: now[0])
    windows = LocalWindows()
    assert await windows.incr("a", 60, 5) == 5
    assert await windows.incr("a", 60, 3) == 8
    assert await windows.incr("b", 10, 1) == 1
    assert await windows.get("a") == 8 and await windows.get_expiry("a") == 1_060.0
    now[0] = 1_011.0  # b's window has ended, a's has not
    assert await windows.get("b") == 0
    assert await windows.incr("b", 10, 2) == 2  # a new window
    assert await windows.get_expiry("b") == 1_021.0
    for i in range(1_000):
        await windows.incr(f"caller-{i}", 10, 1)
    now[0] = 1_055.0  # those windows ended, but no sweep is due: a request walks none of them
    await windows.incr("a", 60, 1)
    assert len(windows.windows) == 1_002
    now[0] = 1_061.0  # the sweep is due: every ended window goes at once
    assert await windows.incr("c", 60, 1) == 1
    assert set(windows.windows) == {"c"}
