"""Who may make each task mutation, both ways, on the demo world (DESIGN §5 "Actions")."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from resolvers.ids import decode
from tests.conftest import Api, fetchval, token_for
from tests.votes import building_id, compound_id

# one database for the module: each test works on a task of its own
pytestmark = pytest.mark.asyncio(loop_scope="module")

RESIDENT, CO_OWNER, CHIEF, BUILDING6, GRID = (
    "13800000007",
    "13800000012",
    "13800000001",
    "13800000002",
    "13800000003",
)
COMMUNITY, PROPERTY, OWNERS_COMMITTEE, TENANT, DEPUTY = (
    "13800000004",
    "13800000005",
    "13800000006",
    "13800000008",
    "13800000009",
)
OUTSIDER, OTHER_GRID, ADMIN = "13800000011", "13800000013", "13800000000"
CALLERS = [
    RESIDENT,
    CO_OWNER,
    CHIEF,
    BUILDING6,
    GRID,
    COMMUNITY,
    PROPERTY,
    OWNERS_COMMITTEE,
    TENANT,
    DEPUTY,
    OUTSIDER,
    OTHER_GRID,
    ADMIN,
]
TEAM = {CHIEF, BUILDING6, GRID, COMMUNITY, DEPUTY}  # 13800000009 is also a deputy convener

# mutation → (state the task is brought to first, GraphQL, who may)
CASES = {
    "rejectTask": ("SUBMITTED", 'rejectTask(id: $id, reason: "不属于小区公共事务") { status }', TEAM),
    "assignTask": ("ACCEPTED", "assignTask(id: $id, role: PROPERTY_STAFF) { status }", TEAM),
    "startTask": ("ACCEPTED", "startTask(id: $id) { status }", TEAM),
    "resolveTask": ("ACCEPTED", 'resolveTask(id: $id, resolution: "已处理") { status }', TEAM),
    "reopenTask": ("RESOLVED", 'reopenTask(id: $id, reason: "没修好") { status }', {RESIDENT}),
    "rateTask": ("RESOLVED", "rateTask(id: $id, stars: 4) { status }", {RESIDENT}),
    "withdrawTask": ("SUBMITTED", 'withdrawTask(id: $id, reason: "已自行解决") { status }', {RESIDENT}),
    "editTask": ("SUBMITTED", "editTask(id: $id, category: OTHER) { status }", {RESIDENT} | TEAM),
    "commentTask": (
        "SUBMITTED",
        'commentTask(id: $id, text: "补充一下") { kind }',
        {RESIDENT, CO_OWNER, CHIEF, BUILDING6, GRID, COMMUNITY, PROPERTY, OWNERS_COMMITTEE, TENANT, DEPUTY},
    ),
}


async def prepared_task(api: Api, url: str, state: str) -> str:
    resident = await token_for(url, RESIDENT)
    body = await api.gql(
        "mutation($i: ReportTaskInput!) { reportTask(input: $i) { id } }",
        {
            "i": {
                "compoundId": await compound_id(url),
                "buildingId": await building_id(url),
                "category": "SAFETY",
                "title": "楼道堆物",
                "description": "6栋楼道堆满杂物",
            }
        },
        token=resident,
    )
    task_id = body["data"]["reportTask"]["id"]
    grid = await token_for(url, GRID)
    steps = {
        "ACCEPTED": ["acceptTask(id: $id)"],
        "RESOLVED": ["acceptTask(id: $id)", 'resolveTask(id: $id, resolution: "已清理")'],
    }
    for step in steps.get(state, []):
        done = await api.gql(f"mutation($id: ID!) {{ {step} {{ status }} }}", {"id": task_id}, token=grid)
        assert "errors" not in done, done
    return task_id


@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize("mutation", sorted(CASES))
async def test_task_mutation_matrix(
    shared_api: Api, shared_demo_db_url: str, mutation: str, caller: str
) -> None:
    api, url = shared_api, shared_demo_db_url
    state, call, allowed = CASES[mutation]
    task_id = await prepared_task(api, url, state)
    events = "SELECT count(*) FROM task_event WHERE task_id = $1"
    before = await fetchval(url, events, decode(task_id)[1])
    body = await api.gql(
        f"mutation($id: ID!) {{ {call} }}", {"id": task_id}, token=await token_for(url, caller)
    )
    if caller in allowed:
        assert "errors" not in body, body
        assert await fetchval(url, events, decode(task_id)[1]) == before + 1
    else:
        assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN", body
        assert await fetchval(url, events, decode(task_id)[1]) == before


VOLUNTEER_ORGANISERS = TEAM


@pytest.mark.parametrize("caller", CALLERS)
async def test_who_may_open_a_volunteer_call(shared_api: Api, shared_demo_db_url: str, caller: str) -> None:
    api, demo_db_url = shared_api, shared_demo_db_url
    task_id = await prepared_task(api, demo_db_url, "ACCEPTED")
    starts = datetime.now(UTC) + timedelta(days=3)
    body = await api.gql(
        "mutation($i: OpenVolunteerCallInput!) { openVolunteerCall(input: $i) { needed } }",
        {
            "i": {
                "taskId": task_id,
                "title": "清理楼道",
                "needed": 5,
                "startsAt": starts.isoformat(),
                "endsAt": (starts + timedelta(hours=2)).isoformat(),
            }
        },
        token=await token_for(demo_db_url, caller),
    )
    if caller in VOLUNTEER_ORGANISERS:
        assert body["data"]["openVolunteerCall"]["needed"] == 5
    else:
        assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
        calls = "SELECT count(*) FROM volunteer_call WHERE task_id = $1"
        assert await fetchval(demo_db_url, calls, decode(task_id)[1]) == 0


async def test_third_parties_see_counts_not_tasks(shared_api: Api, shared_demo_db_url: str) -> None:
    from auth import apikeys

    api, demo_db_url = shared_api, shared_demo_db_url
    from tests.conftest import fetch

    task_id = await prepared_task(api, demo_db_url, "SUBMITTED")
    key = apikeys.generate()
    await fetch(
        demo_db_url,
        "INSERT INTO api_client (name, key_prefix, key_hash) VALUES ('d', $1, $2)",
        key.prefix,
        key.key_hash,
    )
    body = await api.gql("query($id: ID!) { task(id: $id) { title } }", {"id": task_id}, api_key=key.key)
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    report = await api.gql(
        "mutation($i: ReportTaskInput!) { reportTask(input: $i) { id } }",
        {
            "i": {
                "compoundId": await compound_id(demo_db_url),
                "category": "SAFETY",
                "title": "x",
                "description": "y",
            }
        },
        api_key=key.key,
    )
    assert report["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert await fetchval(demo_db_url, "SELECT count(*) FROM task WHERE title = 'x'") == 0
