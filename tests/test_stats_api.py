"""Task statistics of compounds, grids and communities over the API, on the demo world.

The demo world: 九龙社区 (jiulong) holds 千山美林 (grid jiulong-g3) and 山予城 (grid jiulong-g5);
通惠社区 (tonghui) holds 东方新天地 (grid tonghui-g2) and 君鼎疆上 (grid tonghui-g4). Tasks are
made through the API where the API can make them; dispute outcomes, participation records and the
rows of places nobody in the demo world lives in are inserted with SQL.
"""

from __future__ import annotations

import statistics
import uuid
from collections.abc import AsyncIterator
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import pytest
import pytest_asyncio

from auth import apikeys
from models.errors import ForbiddenError
from resolvers import stats as stats_resolvers
from resolvers.context import Context
from resolvers.ids import decode, encode
from tests.conftest import Api, counting_statements, fetch, fetchval, running_api, token_for
from tests.votes import building_id, compound_id

pytestmark = pytest.mark.asyncio

ADMIN = "13800000000"
RESIDENT = "13800000007"  # owner of 6-1-302, 千山美林
CHIEF = "13800000001"  # chief convener of 千山美林
GRID = "13800000003"  # grid worker of jiulong-g3 (千山美林)
COMMUNITY = "13800000004"  # community committee of jiulong
OUTSIDER = "13800000011"  # owner in 东方新天地 (tonghui)
OTHER_GRID = "13800000013"  # grid worker of tonghui-g2 (东方新天地)

STATS = """taskStats { byStatus { status count } byCategory { category count }
  resolvedCount disputesMediated medianHoursToResolution volunteerHours }"""
COMPOUND = f"query($id: ID!) {{ compound(id: $id) {{ name {STATS} }} }}"
PLACES = f"""query($id: ID!) {{ compound(id: $id) {{
  community {{ name {STATS} }} grid {{ name {STATS} }} }} }}"""
REPORT = """mutation($input: ReportTaskInput!) { reportTask(input: $input) { id status } }"""


def stats(
    by_status: dict[str, int],
    by_category: dict[str, int],
    resolved: int,
    disputes: int,
    median: str | None,
    hours: str,
) -> dict[str, Any]:
    return {
        "byStatus": [{"status": s, "count": n} for s, n in by_status.items()],
        "byCategory": [{"category": c, "count": n} for c, n in by_category.items()],
        "resolvedCount": resolved,
        "disputesMediated": disputes,
        "medianHoursToResolution": median,
        "volunteerHours": hours,
    }


# 千山美林: nine tasks made through the API (see `world`); its grid jiulong-g3 holds only it.
QIANSHAN = stats(
    {"SUBMITTED": 2, "ACCEPTED": 1, "REJECTED": 1, "IN_PROGRESS": 2, "RESOLVED": 2, "CLOSED": 1},
    {"ELEVATOR": 2, "PARKING": 1, "ENVIRONMENT": 2, "FACILITIES_REPAIR": 3, "NEIGHBOUR_RELATIONS": 1},
    resolved=3,
    disputes=1,
    median="25.5",  # of 10 h, 25.5 h, 49 h
    hours="5.50",  # 3.00 + 2.50 volunteering; the 1.50 h meeting is not volunteering
)
# 山予城: one closed safety issue (3 h 15 min), 4.25 volunteer hours.
SHANYU = stats({"CLOSED": 1}, {"SAFETY": 1}, resolved=1, disputes=0, median="3.3", hours="4.25")
# 九龙社区 = 千山美林 + 山予城; the median of 3.25, 10, 25.5, 49 h is 17.75, shown half up.
JIULONG = stats(
    {"SUBMITTED": 2, "ACCEPTED": 1, "REJECTED": 1, "IN_PROGRESS": 2, "RESOLVED": 2, "CLOSED": 2},
    {
        "ELEVATOR": 2,
        "PARKING": 1,
        "ENVIRONMENT": 2,
        "SAFETY": 1,
        "FACILITIES_REPAIR": 3,
        "NEIGHBOUR_RELATIONS": 1,
    },
    resolved=4,
    disputes=1,
    median="17.8",
    hours="9.75",
)
# 东方新天地: a reported safety issue and a dispute still in progress whose mediation failed.
DONGFANG = stats(
    {"SUBMITTED": 1, "IN_PROGRESS": 1},
    {"SAFETY": 1, "NEIGHBOUR_RELATIONS": 1},
    resolved=0,
    disputes=1,
    median=None,
    hours="0.00",
)
NOTHING = stats({}, {}, resolved=0, disputes=0, median=None, hours="0.00")  # 君鼎疆上, tonghui-g4
TONGHUI = DONGFANG  # 东方新天地 + 君鼎疆上

EXPECTED_COMPOUNDS = {"千山美林": QIANSHAN, "山予城": SHANYU, "东方新天地": DONGFANG, "君鼎疆上": NOTHING}


# ---------------------------------------------------------------- the world


class Desk:
    def __init__(self, api: Api, url: str) -> None:
        self.api, self.url = api, url
        self.tokens: dict[str, str] = {}

    async def token(self, phone: str) -> str:
        if phone not in self.tokens:
            self.tokens[phone] = await token_for(self.url, phone)
        return self.tokens[phone]

    async def as_(self, phone: str, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        return await self.api.gql(query, variables, token=await self.token(phone))

    async def report(self, phone: str, key: str = "qianshan-meilin", **overrides: Any) -> str:
        variables = {
            "input": {
                "compoundId": await compound_id(self.url, key),
                "category": "FACILITIES_REPAIR",
                "title": "井盖松动",
                "description": "单元门口的井盖踩上去会晃。",
                **overrides,
            }
        }
        body = await self.as_(phone, REPORT, variables)
        assert "errors" not in body, body
        assert body["data"]["reportTask"]["status"] == "SUBMITTED"
        return body["data"]["reportTask"]["id"]

    async def move(self, phone: str, mutation: str, task_id: str, expect: str, **args: Any) -> None:
        extra = "".join(f', {k}: "{v}"' if isinstance(v, str) else f", {k}: {v}" for k, v in args.items())
        body = await self.as_(phone, f'mutation {{ {mutation}(id: "{task_id}"{extra}) {{ status }} }}')
        assert "errors" not in body, body
        assert body["data"][mutation]["status"] == expect

    async def took(self, task_id: str, interval: str) -> None:
        """Make a resolved task look reported `interval` before it was resolved."""
        await fetch(
            self.url,
            f"UPDATE task SET created_at = resolved_at - interval '{interval}' WHERE id = $1",
            decode(task_id)[1],
        )


async def place_id(url: str, table: str, key: str) -> uuid.UUID:
    return await fetchval(url, f"SELECT id FROM {table} WHERE key = $1", key)  # table: a fixed name


async def person(url: str, phone: str) -> uuid.UUID:
    return await fetchval(url, "SELECT id FROM person WHERE phone = $1", phone)


async def insert_task(
    url: str, compound: str, kind: str, category: str, status: str, **times: str
) -> uuid.UUID:
    """A task row in a compound nobody of the demo cast can report in (reported by the admin)."""
    return await fetchval(
        url,
        "INSERT INTO task (compound_id, kind, category, title, description, visibility, status, reporter_id,"
        " reopen_count, resolved_at, closed_at) VALUES ($1, $2, $3, '事项', '内容', 'PUBLIC', $4, $5, 0,"
        f" {times.get('resolved_at', 'NULL')}, {times.get('closed_at', 'NULL')}) RETURNING id",
        await place_id(url, "compound", compound),
        kind,
        category,
        status,
        await person(url, ADMIN),
    )


async def participation(url: str, phone: str, compound: str, kind: str, hours: str) -> None:
    await fetch(
        url,
        "INSERT INTO participation (person_id, compound_id, kind, ref_id, hours, occurred_at)"
        " VALUES ($1, $2, $3, $4, $5::numeric, now())",
        await person(url, phone),
        await place_id(url, "compound", compound),
        kind,
        uuid.uuid4(),
        hours,
    )


async def dispute_outcome(url: str, task: uuid.UUID, compound: str, agreed: bool, by: str) -> None:
    await fetch(
        url,
        "INSERT INTO dispute_outcome (task_id, compound_id, agreed, agreement, recorded_by)"
        " VALUES ($1, $2, $3, $4, $5)",
        task,
        await place_id(url, "compound", compound),
        agreed,
        "双方同意由楼上住户承担维修费用。" if agreed else None,
        await person(url, by),
    )


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def world(shared_demo_db_url: str) -> str:
    """The demo world with the tasks below, made once for the module: its tests only read it, each
    through an app of its own (`desk`), as they would on a database of their own."""
    async with running_api(shared_demo_db_url) as api:
        await make_world(Desk(api, shared_demo_db_url))
    return shared_demo_db_url


@pytest_asyncio.fixture
async def desk(world: str) -> AsyncIterator[Desk]:
    async with running_api(world) as api:
        yield Desk(api, world)


async def make_world(d: Desk) -> None:
    url = d.url
    # 千山美林, through the API
    await d.report(RESIDENT)  # SUBMITTED, FACILITIES_REPAIR
    accepted = await d.report(RESIDENT, buildingId=await building_id(url))
    await d.move(GRID, "acceptTask", accepted, "ACCEPTED")
    rejected = await d.report(
        RESIDENT, category="PARKING", title="车位被占", description="有人长期占用消防通道。"
    )
    await d.move(GRID, "rejectTask", rejected, "REJECTED", reason="属于交警管辖，已告知报警电话。")
    started = await d.report(RESIDENT, category="ENVIRONMENT", title="后山树枝", description="树枝挡路。")
    await d.move(GRID, "acceptTask", started, "ACCEPTED")
    await d.move(GRID, "startTask", started, "IN_PROGRESS")
    elevator = await d.report(RESIDENT, category="ELEVATOR", title="电梯停运", description="6栋电梯又坏了。")
    await d.move(GRID, "acceptTask", elevator, "ACCEPTED")
    await d.move(GRID, "resolveTask", elevator, "RESOLVED", resolution="已更换主板。")
    closed = await d.report(RESIDENT)
    await d.move(GRID, "acceptTask", closed, "ACCEPTED")
    await d.move(GRID, "resolveTask", closed, "RESOLVED", resolution="已加固。")
    await d.move(RESIDENT, "rateTask", closed, "CLOSED", stars=5)
    dispute = await d.report(
        RESIDENT,
        kind="DISPUTE",
        category="NEIGHBOUR_RELATIONS",
        title="车库漏水纠纷",
        description="楼上车库漏水到我家车库。",
        partyIds=[encode("Person", await person(url, "13800000012"))],
    )
    await d.move(GRID, "acceptTask", dispute, "ACCEPTED")
    await d.move(GRID, "resolveTask", dispute, "RESOLVED", resolution="调解成功。")
    await dispute_outcome(url, decode(dispute)[1], "qianshan-meilin", True, GRID)
    reopened = await d.report(RESIDENT, category="ENVIRONMENT", title="垃圾清运", description="垃圾没人收。")
    await d.move(GRID, "acceptTask", reopened, "ACCEPTED")
    await d.move(GRID, "resolveTask", reopened, "RESOLVED", resolution="已清运。")
    await d.move(RESIDENT, "reopenTask", reopened, "IN_PROGRESS", reason="第二天又堆满了。")
    await d.report(
        CHIEF,
        kind="PROJECT",
        category="ELEVATOR",
        title="加装电梯",
        description="6栋加装电梯。",
        internal=True,
    )
    await d.took(elevator, "10 hours")
    await d.took(closed, "25 hours 30 minutes")
    await d.took(dispute, "49 hours")
    await participation(url, RESIDENT, "qianshan-meilin", "VOLUNTEER", "3.00")
    await participation(url, CHIEF, "qianshan-meilin", "VOLUNTEER", "2.50")
    await participation(url, CHIEF, "qianshan-meilin", "MEETING", "1.50")
    # 山予城 (nobody of the cast lives there)
    await insert_task(
        url,
        "shanyu-cheng",
        "ISSUE",
        "SAFETY",
        "CLOSED",
        resolved_at="now() - interval '2 days'",
        closed_at="now() - interval '1 day'",
    )
    await fetch(
        url,
        "UPDATE task SET created_at = resolved_at - interval '3 hours 15 minutes' WHERE compound_id = $1",
        await place_id(url, "compound", "shanyu-cheng"),
    )
    await participation(url, ADMIN, "shanyu-cheng", "VOLUNTEER", "4.25")
    # 东方新天地
    await d.report(
        OUTSIDER, "dongfang-xintiandi", category="SAFETY", title="消防栓漏水", description="2栋消防栓漏水。"
    )
    failed = await insert_task(url, "dongfang-xintiandi", "DISPUTE", "NEIGHBOUR_RELATIONS", "IN_PROGRESS")
    await dispute_outcome(url, failed, "dongfang-xintiandi", False, OTHER_GRID)
    assert await fetchval(url, "SELECT count(*) FROM task") == 12


def data(body: dict[str, Any]) -> dict[str, Any]:
    assert "errors" not in body, body
    return body["data"]


# ---------------------------------------------------------------- figures


async def test_compound_figures_are_exact(desk: Desk) -> None:
    for key, name in [
        ("qianshan-meilin", "千山美林"),
        ("shanyu-cheng", "山予城"),
        ("dongfang-xintiandi", "东方新天地"),
        ("junding-jiangshang", "君鼎疆上"),
    ]:
        body = await desk.as_(ADMIN, COMPOUND, {"id": await compound_id(desk.url, key)})
        assert data(body)["compound"] == {"name": name, "taskStats": EXPECTED_COMPOUNDS[name]}


async def test_grid_and_community_figures_are_exact(desk: Desk) -> None:
    cases = {
        "qianshan-meilin": (("九龙社区", JIULONG), ("九龙社区第三网格", QIANSHAN)),
        "shanyu-cheng": (("九龙社区", JIULONG), ("九龙社区第五网格", SHANYU)),
        "dongfang-xintiandi": (("通惠社区", TONGHUI), ("通惠社区第二网格", DONGFANG)),
        "junding-jiangshang": (("通惠社区", TONGHUI), ("通惠社区第四网格", NOTHING)),
    }
    for key, ((community, community_stats), (grid, grid_stats)) in cases.items():
        body = await desk.as_(ADMIN, PLACES, {"id": await compound_id(desk.url, key)})
        assert data(body)["compound"] == {
            "community": {"name": community, "taskStats": community_stats},
            "grid": {"name": grid, "taskStats": grid_stats},
        }


async def independent_median(url: str, where: str, *args: Any) -> str | None:
    """The median hours from report to resolution, recomputed here from the rows."""
    rows = await fetch(
        url,
        "SELECT t.created_at, t.resolved_at FROM task t JOIN compound c ON c.id = t.compound_id"
        f" WHERE t.status IN ('RESOLVED', 'CLOSED') AND t.resolved_at IS NOT NULL AND {where}",
        *args,
    )
    if not rows:
        return None
    spans = [Decimal(int((r["resolved_at"] - r["created_at"]).total_seconds() * 1_000_000)) for r in rows]
    median = statistics.median(spans) / Decimal(3_600_000_000)
    return str(median.quantize(Decimal("0.1"), rounding=ROUND_HALF_UP))


async def test_medians_match_an_independent_computation(desk: Desk) -> None:
    url = desk.url
    jiulong = await place_id(url, "community", "jiulong")
    qianshan = await place_id(url, "compound", "qianshan-meilin")
    assert await independent_median(url, "c.community_id = $1", jiulong) == JIULONG["medianHoursToResolution"]
    assert await independent_median(url, "c.id = $1", qianshan) == QIANSHAN["medianHoursToResolution"]
    body = await desk.as_(ADMIN, PLACES, {"id": await compound_id(url, "qianshan-meilin")})
    assert data(body)["compound"]["community"]["taskStats"]["medianHoursToResolution"] == "17.8"
    # the reopened task (resolved, then reopened) no longer counts as resolved
    assert (
        await fetchval(url, "SELECT count(*) FROM task WHERE reopen_count = 1 AND resolved_at IS NULL") == 1
    )


# ---------------------------------------------------------------- who may read


async def test_an_api_client_reads_public_aggregates(desk: Desk) -> None:
    key = apikeys.generate()
    await fetch(
        desk.url,
        "INSERT INTO api_client (name, key_prefix, key_hash) VALUES ('dashboard', $1, $2)",
        key.prefix,
        key.key_hash,
    )
    one = await desk.api.gql(COMPOUND, {"id": await compound_id(desk.url)}, api_key=key.key)
    assert data(one)["compound"] == {"name": "千山美林", "taskStats": QIANSHAN}
    places = await desk.api.gql(PLACES, {"id": await compound_id(desk.url)}, api_key=key.key)
    assert data(places)["compound"] == {
        "community": {"name": "九龙社区", "taskStats": JIULONG},
        "grid": {"name": "九龙社区第三网格", "taskStats": QIANSHAN},
    }
    every = await desk.api.gql(
        f"{{ compounds(first: 10) {{ edges {{ node {{ name {STATS} }} }} }} }}", api_key=key.key
    )
    assert {e["node"]["name"]: e["node"]["taskStats"] for e in data(every)["compounds"]["edges"]} == (
        EXPECTED_COMPOUNDS
    )
    # an API client still cannot read a single task
    task_id = encode("Task", await fetchval(desk.url, "SELECT id FROM task LIMIT 1"))
    refused = await desk.api.gql(
        "query($id: ID!) { task(id: $id) { title } }", {"id": task_id}, api_key=key.key
    )
    assert refused["data"] == {"task": None}
    assert refused["errors"][0]["extensions"] == {"code": "FORBIDDEN"}


@pytest.mark.parametrize(
    ("phone", "community", "grid"),
    [
        (RESIDENT, JIULONG, QIANSHAN),
        (GRID, JIULONG, QIANSHAN),
        (COMMUNITY, JIULONG, QIANSHAN),
        (CHIEF, JIULONG, QIANSHAN),
    ],
)
async def test_the_compound_reads_its_own_figures(
    desk: Desk, phone: str, community: dict, grid: dict
) -> None:
    body = await desk.as_(phone, COMPOUND, {"id": await compound_id(desk.url)})
    assert data(body)["compound"] == {"name": "千山美林", "taskStats": QIANSHAN}
    places = await desk.as_(phone, PLACES, {"id": await compound_id(desk.url)})
    assert data(places)["compound"]["community"]["taskStats"] == community
    assert data(places)["compound"]["grid"]["taskStats"] == grid


@pytest.mark.parametrize("phone", [OUTSIDER, OTHER_GRID])
async def test_an_outsider_cannot_read_them(desk: Desk, phone: str) -> None:
    body = await desk.as_(phone, COMPOUND, {"id": await compound_id(desk.url)})
    assert body["data"] == {"compound": None}
    assert [e["extensions"] for e in body["errors"]] == [{"code": "FORBIDDEN"}]
    assert body["errors"][0]["message"] == "该内容不存在，或您没有查看权限。"
    for type_name, table, key in [("Community", "community", "jiulong"), ("Grid", "grid", "jiulong-g3")]:
        node = encode(type_name, await place_id(desk.url, table, key))
        refused = await desk.as_(phone, f'{{ node(id: "{node}") {{ ... on {type_name} {{ {STATS} }} }} }}')
        assert refused["data"] == {"node": None}
        assert [e["extensions"] for e in refused["errors"]] == [{"code": "FORBIDDEN"}]
    # … while their own compound's community and grid answer
    own = await desk.as_(phone, PLACES, {"id": await compound_id(desk.url, "dongfang-xintiandi")})
    assert data(own)["compound"]["community"]["taskStats"] == TONGHUI
    assert data(own)["compound"]["grid"]["taskStats"] == DONGFANG


async def test_the_resolvers_guard_grid_and_community_stats(desk: Desk) -> None:
    """However a Grid or Community object is reached, its stats ask the policy first."""
    services = desk.api.app.state.services
    outsider = await services.authenticate_token(await desk.token(OUTSIDER))
    resident = await services.authenticate_token(await desk.token(RESIDENT))
    jiulong = await place_id(desk.url, "community", "jiulong")
    g3 = await place_id(desk.url, "grid", "jiulong-g3")
    qianshan = await fetch(desk.url, "SELECT * FROM compound WHERE key = 'qianshan-meilin'")
    assert len(qianshan) == 1
    with pytest.raises(ForbiddenError):
        await stats_resolvers.task_stats(Context(principal=outsider, services=services), "community", jiulong)
    with pytest.raises(ForbiddenError):
        await stats_resolvers.task_stats(Context(principal=outsider, services=services), "grid", g3)
    ctx = Context(principal=resident, services=services)
    assert (await stats_resolvers.task_stats(ctx, "community", jiulong)).resolved_count == 4
    assert (await stats_resolvers.task_stats(ctx, "grid", g3)).resolved_count == 3
    with pytest.raises(ForbiddenError):
        await stats_resolvers.task_stats(
            Context(principal=outsider, services=services), "compound", qianshan[0]["id"]
        )


async def test_anonymous_callers_get_nothing(desk: Desk) -> None:
    body = await desk.api.gql(COMPOUND, {"id": await compound_id(desk.url)})
    assert body["data"] == {"compound": None}
    assert [e["extensions"] for e in body["errors"]] == [{"code": "UNAUTHENTICATED"}]


# ---------------------------------------------------------------- statements


async def statements(desk: Desk, phone: str, query: str) -> tuple[int, dict[str, Any]]:
    token = await desk.token(phone)
    with counting_statements(desk.api.app) as counted:
        body = await desk.api.gql(query, token=token)
    return counted.count, data(body)


def screen(first: int, *, places: bool) -> str:
    nested = f"community {{ name {STATS} }} grid {{ name {STATS} }}" if places else ""
    return f"{{ compounds(first: {first}) {{ edges {{ node {{ name {STATS} {nested} }} }} }} }}"


async def test_statements_do_not_grow_with_the_compounds_on_screen(desk: Desk) -> None:
    one, one_data = await statements(desk, ADMIN, screen(1, places=False))
    four, four_data = await statements(desk, ADMIN, screen(4, places=False))
    assert len(one_data["compounds"]["edges"]) == 1
    assert len(four_data["compounds"]["edges"]) == 4
    assert {e["node"]["name"]: e["node"]["taskStats"] for e in four_data["compounds"]["edges"]} == (
        EXPECTED_COMPOUNDS
    )
    assert one == four
    assert one <= 10  # the principal, the compounds, then four aggregates

    # with their grids and communities too, and for a caller whose visibility must be asked
    admin_one, _ = await statements(desk, ADMIN, screen(1, places=True))
    admin_four, admin_data = await statements(desk, ADMIN, screen(4, places=True))
    assert admin_one == admin_four
    assert len(admin_data["compounds"]["edges"]) == 4
    committee_one, _ = await statements(desk, COMMUNITY, screen(1, places=True))
    committee_two, committee_data = await statements(desk, COMMUNITY, screen(2, places=True))
    assert [e["node"]["name"] for e in committee_data["compounds"]["edges"]] == ["千山美林", "山予城"]
    assert [e["node"]["community"]["taskStats"] for e in committee_data["compounds"]["edges"]] == [
        JIULONG
    ] * 2
    assert [e["node"]["grid"]["taskStats"] for e in committee_data["compounds"]["edges"]] == [
        QIANSHAN,
        SHANYU,
    ]
    assert committee_one == committee_two
