"""Tasks over the API on the demo world: the lifecycle, the timeline, who may do what, races."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
import pytest_asyncio

from app.database import create_engine, sessionmaker
from resolvers.ids import decode, encode
from resolvers.task import auto_close_resolved
from tests.conftest import Api, fetch, fetchval, make_settings, token_for
from tests.votes import building_id, compound_id

RESIDENT = "13800000007"  # owner of 6-1-302, 千山美林
CO_OWNER = "13800000012"
CHIEF = "13800000001"
BUILDING6 = "13800000002"
GRID = "13800000003"
COMMUNITY = "13800000004"
PROPERTY = "13800000005"
OWNERS_COMMITTEE = "13800000006"
TENANT = "13800000008"
DEPUTY = "13800000009"  # the property manager: also property staff
OUTSIDER = "13800000011"  # 东方新天地
OTHER_GRID = "13800000013"
OTHER_COMMUNITY = "13800000014"
OTHER_PROPERTY = "13800000015"

REPORT = """mutation($input: ReportTaskInput!) { reportTask(input: $input) { id status kind title } }"""
TASK = """query($id: ID!) { task(id: $id) { id status resolution rating { stars comment }
  timeline(first: 50) { edges { node { kind actorRole fromStatus toStatus text } } } } }"""


class Desk:
    def __init__(self, api: Api, url: str) -> None:
        self.api, self.url = api, url
        self.tokens: dict[str, str] = {}

    async def token(self, phone: str) -> str:
        if phone not in self.tokens:
            self.tokens[phone] = await token_for(self.url, phone)
        return self.tokens[phone]

    async def as_(self, phone: str | None, query: str, variables: dict | None = None) -> dict:
        return await self.api.gql(query, variables, token=await self.token(phone) if phone else None)

    async def report(self, phone: str = RESIDENT, **overrides: object) -> dict:
        variables = {
            "input": {
                "compoundId": await compound_id(self.url),
                "buildingId": await building_id(self.url),
                "category": "FACILITIES_REPAIR",
                "title": "6栋门口井盖松动",
                "description": "6栋1单元门口的井盖踩上去会晃，晚上有老人经过，担心摔倒。",
                "photoUrls": ["https://img.example.cn/a.jpg"],
                **overrides,
            }
        }
        return await self.as_(phone, REPORT, variables)

    async def new_task(self, phone: str = RESIDENT, **overrides: object) -> str:
        body = await self.report(phone, **overrides)
        assert "errors" not in body, body
        return body["data"]["reportTask"]["id"]

    async def do(self, phone: str, mutation: str, **variables: object) -> dict:
        args = ", ".join(f"${k}: {_types[k]}" for k in variables)
        call = ", ".join(f"{k}: ${k}" for k in variables)
        return await self.as_(phone, f"mutation({args}) {{ {mutation}({call}) {{ id status }} }}", variables)

    async def events(self, task_id: str) -> int:
        return await fetchval(
            self.url, "SELECT count(*) FROM task_event WHERE task_id = $1", decode(task_id)[1]
        )


_types = {
    "id": "ID!",
    "reason": "String!",
    "resolution": "String!",
    "stars": "Int!",
    "comment": "String",
    "assigneeId": "ID",
    "role": "Role",
    "memberIds": "[ID!]",
    "text": "String!",
}


@pytest_asyncio.fixture
async def desk(api: Api, demo_db_url: str) -> AsyncIterator[Desk]:
    yield Desk(api, demo_db_url)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def shared_desk(shared_api: Api, shared_demo_db_url: str) -> AsyncIterator[Desk]:
    """One database and app for the module's matrices: each of their tests works on objects of its
    own, and what it counts it counts before and after its own request."""
    yield Desk(shared_api, shared_demo_db_url)


async def test_manhole_cover_from_report_to_rating(desk: Desk) -> None:
    """A resident photographs a loose manhole cover; the grid worker accepts it; the property
    company fixes it; the resident rates it."""
    task_id = await desk.new_task()
    assert (await desk.do(GRID, "acceptTask", id=task_id))["data"]["acceptTask"]["status"] == "ACCEPTED"
    assigned = await desk.do(GRID, "assignTask", id=task_id, role="PROPERTY_STAFF")
    assert "errors" not in assigned, assigned
    assert (await desk.do(PROPERTY, "startTask", id=task_id))["data"]["startTask"]["status"] == "IN_PROGRESS"
    resolved = await desk.do(PROPERTY, "resolveTask", id=task_id, resolution="已更换井盖并加固。")
    assert resolved["data"]["resolveTask"]["status"] == "RESOLVED"
    rated = await desk.do(RESIDENT, "rateTask", id=task_id, stars=5, comment="修得很快，谢谢！")
    assert rated["data"]["rateTask"]["status"] == "CLOSED"
    body = await desk.as_(RESIDENT, TASK, {"id": task_id})
    task = body["data"]["task"]
    assert task["rating"] == {"stars": 5, "comment": "修得很快，谢谢！"}
    assert task["resolution"] == "已更换井盖并加固。"
    timeline = [
        (e["node"]["kind"], e["node"]["actorRole"], e["node"]["toStatus"]) for e in task["timeline"]["edges"]
    ]
    assert timeline == [
        ("REPORTED", "REPORTER", None),
        ("STATUS_CHANGED", "TEAM", "ACCEPTED"),
        ("ASSIGNED", "TEAM", None),
        ("STATUS_CHANGED", "ASSIGNEE", "IN_PROGRESS"),
        ("STATUS_CHANGED", "ASSIGNEE", "RESOLVED"),
        ("RATED", "REPORTER", "CLOSED"),
    ]


async def test_reopen_once_then_not_again(desk: Desk) -> None:
    task_id = await desk.new_task()
    await desk.do(CHIEF, "acceptTask", id=task_id)
    await desk.do(CHIEF, "resolveTask", id=task_id, resolution="已处理")
    reopened = await desk.do(RESIDENT, "reopenTask", id=task_id, reason="井盖还是晃")
    assert reopened["data"]["reopenTask"]["status"] == "IN_PROGRESS"
    await desk.do(CHIEF, "resolveTask", id=task_id, resolution="重新加固")
    again = await desk.do(RESIDENT, "reopenTask", id=task_id, reason="还是不行")
    assert again["errors"][0]["extensions"]["code"] == "CONFLICT"
    assert "只能重新打开一次" in again["errors"][0]["message"]


@pytest.mark.parametrize(
    ("mutation", "variables", "code", "fragment"),
    [
        ("resolveTask", {"resolution": "好了"}, "CONFLICT", "待受理"),  # not accepted yet
        ("rateTask", {"stars": 5}, "FORBIDDEN", None),  # the grid worker is not the reporter
        ("rejectTask", {"reason": "  "}, "BAD_USER_INPUT", "理由"),
        ("startTask", {}, "CONFLICT", "待受理"),
    ],
)
async def test_illegal_moves_name_the_state_and_write_nothing(
    desk: Desk, mutation: str, variables: dict, code: str, fragment: str | None
) -> None:
    task_id = await desk.new_task()
    before = await desk.events(task_id)
    body = await desk.do(GRID, mutation, id=task_id, **variables)
    assert body["errors"][0]["extensions"]["code"] == code
    if fragment:
        assert fragment in body["errors"][0]["message"]
    assert await desk.events(task_id) == before
    assert (
        await fetchval(desk.url, "SELECT status FROM task WHERE id = $1", decode(task_id)[1]) == "SUBMITTED"
    )


@pytest.mark.parametrize("stars", [0, 6, -1])
async def test_stars_outside_one_to_five(desk: Desk, stars: int) -> None:
    task_id = await desk.new_task()
    await desk.do(GRID, "acceptTask", id=task_id)
    await desk.do(GRID, "resolveTask", id=task_id, resolution="已处理")
    body = await desk.do(RESIDENT, "rateTask", id=task_id, stars=stars)
    assert body["errors"][0]["extensions"] == {"code": "BAD_USER_INPUT", "field": "stars"}
    assert await fetchval(desk.url, "SELECT status FROM task WHERE id = $1", decode(task_id)[1]) == "RESOLVED"


async def test_duplicate_rating_is_a_conflict(desk: Desk) -> None:
    task_id = await desk.new_task()
    await desk.do(GRID, "acceptTask", id=task_id)
    await desk.do(GRID, "resolveTask", id=task_id, resolution="已处理")
    assert "errors" not in await desk.do(RESIDENT, "rateTask", id=task_id, stars=4)
    second = await desk.do(RESIDENT, "rateTask", id=task_id, stars=1)
    assert second["errors"][0]["extensions"]["code"] == "CONFLICT"
    assert await fetchval(desk.url, "SELECT rating_stars FROM task WHERE id = $1", decode(task_id)[1]) == 4


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"title": ""}, "title"),
        ({"title": "井" * 61}, "title"),
        ({"description": "   "}, "description"),
        ({"description": "字" * 2001}, "description"),
        ({"photoUrls": ["http://insecure.example/a.jpg"]}, "photoUrls"),
        ({"photoUrls": [f"https://img.example.cn/{i}.jpg" for i in range(10)]}, "photoUrls"),
    ],
)
async def test_bad_reports_are_refused(desk: Desk, overrides: dict, field: str) -> None:
    body = await desk.report(**overrides)
    assert body["errors"][0]["extensions"] == {"code": "BAD_USER_INPUT", "field": field}
    assert await fetchval(desk.url, "SELECT count(*) FROM task") == 0


async def test_foreign_building_and_foreign_compound(desk: Desk) -> None:
    foreign_building = await building_id(desk.url, "1栋", "dongfang-xintiandi")
    body = await desk.report(buildingId=foreign_building)
    assert body["errors"][0]["extensions"] == {"code": "BAD_USER_INPUT", "field": "buildingId"}
    elsewhere = await desk.report(
        compoundId=await compound_id(desk.url, "dongfang-xintiandi"), buildingId=None
    )
    assert elsewhere["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    missing = await desk.as_(RESIDENT, TASK, {"id": encode("Task", __import__("uuid").uuid4())})
    assert missing["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert await fetchval(desk.url, "SELECT count(*) FROM task") == 0


PUBLIC_READERS = {
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
}
EVERYONE = sorted(PUBLIC_READERS | {OUTSIDER, OTHER_GRID, OTHER_COMMUNITY, OTHER_PROPERTY, "13800000000"})


@pytest.mark.parametrize("phone", EVERYONE)
@pytest.mark.asyncio(loop_scope="module")
async def test_who_sees_a_public_issue(shared_desk: Desk, phone: str) -> None:
    desk = shared_desk
    task_id = await desk.new_task()
    body = await desk.as_(phone, "query($id: ID!) { task(id: $id) { title } }", {"id": task_id})
    if phone in PUBLIC_READERS:
        assert body["data"]["task"]["title"] == "6栋门口井盖松动"
    else:
        assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"


DISPUTE_READERS = {RESIDENT, CO_OWNER, GRID, COMMUNITY}  # the two parties, the grid, the community


@pytest.mark.parametrize("phone", EVERYONE)
@pytest.mark.asyncio(loop_scope="module")
async def test_disputes_are_private(shared_desk: Desk, phone: str) -> None:
    desk = shared_desk
    other_party = encode(
        "Person", await fetchval(desk.url, "SELECT id FROM person WHERE phone = $1", CO_OWNER)
    )
    task_id = await desk.new_task(
        kind="DISPUTE",
        category="NEIGHBOUR_RELATIONS",
        title="车库漏水纠纷",
        description="楼上车库漏水到我家车库。",
        partyIds=[other_party],
    )
    body = await desk.as_(phone, "query($id: ID!) { task(id: $id) { kind } }", {"id": task_id})
    if phone in DISPUTE_READERS:
        assert body["data"]["task"]["kind"] == "DISPUTE"
    else:
        assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    # an assignee sees the dispute they were given
    if phone == PROPERTY:
        await desk.do(GRID, "assignTask", id=task_id, role="PROPERTY_STAFF")
        body = await desk.as_(phone, "query($id: ID!) { task(id: $id) { kind } }", {"id": task_id})
        assert body["data"]["task"]["kind"] == "DISPUTE"


TRIAGERS = {CHIEF, BUILDING6, GRID, COMMUNITY, DEPUTY, "13800000010"}


@pytest.mark.parametrize(
    "phone", sorted(TRIAGERS | {RESIDENT, PROPERTY, OWNERS_COMMITTEE, TENANT, OUTSIDER, OTHER_GRID})
)
@pytest.mark.asyncio(loop_scope="module")
async def test_who_may_accept(shared_desk: Desk, phone: str) -> None:
    desk = shared_desk
    task_id = await desk.new_task()
    body = await desk.do(phone, "acceptTask", id=task_id)
    if phone in TRIAGERS:
        assert body["data"]["acceptTask"]["status"] == "ACCEPTED"
    else:
        assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
        assert await desk.events(task_id) == 1


async def test_building_convener_triages_only_their_building(desk: Desk) -> None:
    elsewhere = await desk.new_task(buildingId=await building_id(desk.url, "1栋"))
    body = await desk.do(BUILDING6, "acceptTask", id=elsewhere)
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"


async def test_simultaneous_status_changes_one_wins(desk: Desk) -> None:
    task_id = await desk.new_task()
    for phone in (CHIEF, GRID, COMMUNITY, DEPUTY):
        await desk.token(phone)
    results = await asyncio.gather(
        *(desk.do(phone, "acceptTask", id=task_id) for phone in [CHIEF, GRID, COMMUNITY, DEPUTY] * 5)
    )
    winners = [r for r in results if "errors" not in r]
    losers = [r for r in results if "errors" in r]
    assert len(winners) == 1
    assert {r["errors"][0]["extensions"]["code"] for r in losers} == {"CONFLICT"}
    assert all("已立项" in r["errors"][0]["message"] for r in losers)
    assert (
        await fetchval(
            desk.url,
            "SELECT count(*) FROM task_event WHERE task_id = $1 AND kind = 'STATUS_CHANGED'",
            decode(task_id)[1],
        )
        == 1
    )


async def test_a_reporter_withdraws_a_report_before_it_is_accepted(desk: Desk) -> None:
    task_id = await desk.new_task()
    withdrawn = await desk.as_(
        RESIDENT,
        'mutation($id: ID!) { withdrawTask(id: $id, reason: "物业已经修好了") { status } }',
        {"id": task_id},
    )
    assert withdrawn["data"]["withdrawTask"]["status"] == "WITHDRAWN", withdrawn
    seen = (await desk.as_(CHIEF, TASK, {"id": task_id}))["data"]["task"]
    last = seen["timeline"]["edges"][-1]["node"]
    assert (last["kind"], last["actorRole"], last["fromStatus"], last["toStatus"]) == (
        "STATUS_CHANGED",
        "REPORTER",
        "SUBMITTED",
        "WITHDRAWN",
    )
    assert last["text"] and "物业已经修好了" in last["text"]
    # nothing more happens around it: no triage, no second withdrawal, no meeting
    events = await desk.events(task_id)
    for phone, mutation in ((CHIEF, "acceptTask"), (RESIDENT, "withdrawTask")):
        refused = await desk.do(phone, mutation, id=task_id)
        assert refused["errors"][0]["extensions"]["code"] == "CONFLICT"
        assert "已撤回" in refused["errors"][0]["message"]
    assert await desk.events(task_id) == events


async def test_an_accepted_report_can_no_longer_be_withdrawn(desk: Desk) -> None:
    task_id = await desk.new_task()
    assert "errors" not in await desk.do(GRID, "acceptTask", id=task_id)
    refused = await desk.do(RESIDENT, "withdrawTask", id=task_id)
    assert refused["errors"][0]["extensions"]["code"] == "CONFLICT"
    assert "已立项" in refused["errors"][0]["message"]


async def test_a_withdrawal_racing_the_acceptance_leaves_one_of_them(desk: Desk) -> None:
    for _ in range(3):
        task_id = await desk.new_task()
        await desk.token(GRID)
        accepted, withdrawn = await asyncio.gather(
            desk.do(GRID, "acceptTask", id=task_id), desk.do(RESIDENT, "withdrawTask", id=task_id)
        )
        winners = [b for b in (accepted, withdrawn) if "errors" not in b]
        assert len(winners) == 1, (accepted, withdrawn)
        loser = accepted if winners[0] is withdrawn else withdrawn
        assert loser["errors"][0]["extensions"]["code"] == "CONFLICT"
        status = await fetchval(desk.url, "SELECT status FROM task WHERE id = $1", decode(task_id)[1])
        assert status == winners[0]["data"][next(iter(winners[0]["data"]))]["status"]
        changes = await fetchval(
            desk.url,
            "SELECT count(*) FROM task_event WHERE task_id = $1 AND kind = 'STATUS_CHANGED'",
            decode(task_id)[1],
        )
        assert changes == 1


EDIT = """mutation($id: ID!, $title: String, $description: String, $category: TaskCategory) {
  editTask(id: $id, title: $title, description: $description, category: $category) { title description category } }"""


async def test_a_report_is_corrected_and_its_old_text_kept(desk: Desk) -> None:
    task_id = await desk.new_task()
    edited = await desk.as_(RESIDENT, EDIT, {"id": task_id, "title": "6栋1单元门口井盖松动"})
    assert edited["data"]["editTask"]["title"] == "6栋1单元门口井盖松动", edited
    assert edited["data"]["editTask"]["description"].startswith("6栋1单元门口的井盖")  # unchanged
    last = (await desk.as_(CHIEF, TASK, {"id": task_id}))["data"]["task"]["timeline"]["edges"][-1]["node"]
    assert (last["kind"], last["actorRole"]) == ("EDITED", "REPORTER")
    assert "6栋门口井盖松动" in last["text"]  # the old title
    # once accepted the reporter no longer edits; the team still corrects the category
    assert "errors" not in await desk.do(GRID, "acceptTask", id=task_id)
    late = await desk.as_(RESIDENT, EDIT, {"id": task_id, "description": "补充：晚上更危险"})
    assert late["errors"][0]["extensions"]["code"] == "CONFLICT"
    events = await desk.events(task_id)
    fixed = await desk.as_(GRID, EDIT, {"id": task_id, "category": "SAFETY"})
    assert fixed["data"]["editTask"]["category"] == "SAFETY"
    assert await desk.events(task_id) == events + 1
    row = (
        await fetch(
            desk.url,
            "SELECT payload FROM task_event WHERE task_id = $1 ORDER BY seq DESC LIMIT 1",
            decode(task_id)[1],
        )
    )[0]
    assert json.loads(row["payload"])["before"] == {"category": "FACILITIES_REPAIR"}


@pytest.mark.parametrize(
    ("variables", "field"),
    [
        ({}, "title"),
        ({"title": "6栋门口井盖松动"}, "title"),
        ({"title": "x" * 61}, "title"),
        ({"description": " "}, "title"),
    ],
    ids=["nothing", "the-same", "too-long", "blank"],
)
async def test_an_edit_that_changes_nothing_or_too_much_is_refused(
    desk: Desk, variables: dict, field: str
) -> None:
    task_id = await desk.new_task()
    events = await desk.events(task_id)
    body = await desk.as_(RESIDENT, EDIT, {"id": task_id, **variables})
    assert body["errors"][0]["extensions"] == {"code": "BAD_USER_INPUT", "field": field}, body
    assert await desk.events(task_id) == events


async def test_a_reporters_edit_racing_the_acceptance_lands_before_it_or_not_at_all(desk: Desk) -> None:
    for round_ in range(4):
        task_id = await desk.new_task()
        await desk.token(GRID)
        title = f"井盖松动（第{round_}次更正）"
        edited, accepted = await asyncio.gather(
            desk.as_(RESIDENT, EDIT, {"id": task_id, "title": title}), desk.do(GRID, "acceptTask", id=task_id)
        )
        assert "errors" not in accepted, accepted
        ident = decode(task_id)[1]
        kinds = [
            r["kind"]
            for r in await fetch(
                desk.url, "SELECT kind FROM task_event WHERE task_id = $1 ORDER BY seq", ident
            )
        ]
        stored = await fetchval(desk.url, "SELECT title FROM task WHERE id = $1", ident)
        if "errors" in edited:  # accepted first: the reporter may no longer edit
            assert edited["errors"][0]["extensions"]["code"] == "CONFLICT"
            assert stored == "6栋门口井盖松动" and "EDITED" not in kinds
        else:  # edited first, then accepted
            assert stored == title and kinds.index("EDITED") < kinds.index("STATUS_CHANGED")


async def test_a_finished_task_is_not_edited(desk: Desk) -> None:
    task_id = await desk.new_task()
    assert "errors" not in await desk.as_(
        GRID, 'mutation($id: ID!) { rejectTask(id: $id, reason: "重复反映") { status } }', {"id": task_id}
    )
    body = await desk.as_(GRID, EDIT, {"id": task_id, "title": "新标题"})
    assert body["errors"][0]["extensions"]["code"] == "CONFLICT"
    assert "不予受理" in body["errors"][0]["message"]


async def test_comments_and_the_timeline_is_append_only(desk: Desk) -> None:
    task_id = await desk.new_task()
    body = await desk.as_(
        CO_OWNER,
        'mutation($id: ID!) { commentTask(id: $id, text: "我也看到了") { kind text actorRole } }',
        {"id": task_id},
    )
    assert body["data"]["commentTask"] == {"kind": "COMMENTED", "text": "我也看到了", "actorRole": "RESIDENT"}
    empty = await desk.as_(
        CO_OWNER, 'mutation($id: ID!) { commentTask(id: $id, text: " ") { kind } }', {"id": task_id}
    )
    assert empty["errors"][0]["extensions"] == {"code": "BAD_USER_INPUT", "field": "text"}
    outsider = await desk.as_(
        OUTSIDER, 'mutation($id: ID!) { commentTask(id: $id, text: "路过") { kind } }', {"id": task_id}
    )
    assert outsider["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    with pytest.raises(Exception, match="append-only"):
        await fetch(desk.url, "UPDATE task_event SET kind = 'X'")
    with pytest.raises(Exception, match="append-only"):
        await fetch(desk.url, "DELETE FROM task_event")


async def test_working_group_members_work_the_task(desk: Desk) -> None:
    task_id = await desk.new_task()
    await desk.do(CHIEF, "acceptTask", id=task_id)
    lead, member = [
        encode("Person", await fetchval(desk.url, "SELECT id FROM person WHERE phone = $1", phone))
        for phone in (OWNERS_COMMITTEE, TENANT)
    ]
    body = await desk.do(CHIEF, "assignTask", id=task_id, assigneeId=lead, memberIds=[member])
    assert "errors" not in body, body
    started = await desk.do(TENANT, "startTask", id=task_id)
    assert started["data"]["startTask"]["status"] == "IN_PROGRESS"
    names = await desk.as_(CHIEF, "query($id: ID!) { task(id: $id) { assignees { id } } }", {"id": task_id})
    assert [p["id"] for p in names["data"]["task"]["assignees"]] == [lead, member]


async def test_automatic_close_after_seven_days_in_many_processes(desk: Desk) -> None:
    task_id = await desk.new_task()
    await desk.do(GRID, "acceptTask", id=task_id)
    await desk.do(GRID, "resolveTask", id=task_id, resolution="已处理")
    ident = decode(task_id)[1]
    engines = [create_engine(desk.url, make_settings(desk.url)) for _ in range(3)]
    try:
        assert sum(await asyncio.gather(*(auto_close_resolved(sessionmaker(e)) for e in engines))) == 0
        await fetch(
            desk.url, "UPDATE task SET resolved_at = now() - interval '7 days 1 minute' WHERE id = $1", ident
        )
        assert sum(await asyncio.gather(*(auto_close_resolved(sessionmaker(e)) for e in engines))) == 1
    finally:
        for e in engines:
            await e.dispose()
    row = (await fetch(desk.url, "SELECT status, closed_at FROM task WHERE id = $1", ident))[0]
    assert row["status"] == "CLOSED" and row["closed_at"] is not None
    assert (
        await fetchval(
            desk.url, "SELECT count(*) FROM task_event WHERE task_id = $1 AND actor_role = 'SYSTEM'", ident
        )
        == 1
    )


# --- volunteer calls -------------------------------------------------------------------------------

OPEN_CALL = """mutation($input: OpenVolunteerCallInput!) { openVolunteerCall(input: $input) { id needed signedCount } }"""
SIGN_UP = """mutation($id: ID!) { signUp(callId: $id) { signedCount waitlistCount myStatus } }"""
WITHDRAW = """mutation($id: ID!) { withdraw(callId: $id) { signedCount waitlistCount myStatus } }"""


async def open_call(desk: Desk, task_id: str, needed: int = 10) -> str:
    starts = datetime.now(UTC) + timedelta(days=2)
    body = await desk.as_(
        CHIEF,
        OPEN_CALL,
        {
            "input": {
                "taskId": task_id,
                "title": "周六清理后山树枝",
                "needed": needed,
                "startsAt": starts.isoformat(),
                "endsAt": (starts + timedelta(hours=3)).isoformat(),
            }
        },
    )
    assert "errors" not in body, body
    return body["data"]["openVolunteerCall"]["id"]


async def residents(desk: Desk, count: int) -> list[str]:
    rows = await fetch(
        desk.url,
        "SELECT DISTINCT p.phone FROM person p JOIN home h ON h.person_id = p.id JOIN compound c ON c.id = h.compound_id "
        "WHERE c.key = 'qianshan-meilin' ORDER BY p.phone LIMIT $1",
        count,
    )
    return [r["phone"] for r in rows]


async def test_fifty_simultaneous_sign_ups_for_ten_places(desk: Desk) -> None:
    task_id = await desk.new_task(
        category="ENVIRONMENT", title="后山树枝清理", description="后山树枝挡路。", buildingId=None
    )
    call_id = await open_call(desk, task_id, needed=10)
    phones = await residents(desk, 50)
    for phone in phones:
        await desk.token(phone)
    results = await asyncio.gather(*(desk.as_(p, SIGN_UP, {"id": call_id}) for p in phones))
    assert all("errors" not in r for r in results), [r for r in results if "errors" in r][:1]
    statuses = [r["data"]["signUp"]["myStatus"] for r in results]
    assert statuses.count("SIGNED") == 10 and statuses.count("WAITLIST") == 40
    ident = decode(call_id)[1]
    assert await fetchval(desk.url, "SELECT signed_count FROM volunteer_call WHERE id = $1", ident) == 10
    assert (
        await fetchval(
            desk.url, "SELECT count(*) FROM volunteer_signup WHERE call_id = $1 AND status = 'SIGNED'", ident
        )
        == 10
    )
    # the first on the waitlist moves up when a volunteer withdraws
    signed = [p for p, s in zip(phones, statuses, strict=True) if s == "SIGNED"]
    first_waiting = await fetchval(
        desk.url,
        "SELECT p.phone FROM volunteer_signup s JOIN person p ON p.id = s.person_id "
        "WHERE s.call_id = $1 AND s.status = 'WAITLIST' ORDER BY s.position LIMIT 1",
        ident,
    )
    left = await desk.as_(signed[0], WITHDRAW, {"id": call_id})
    assert left["data"]["withdraw"] == {"signedCount": 10, "waitlistCount": 39, "myStatus": "WITHDRAWN"}
    moved = await desk.as_(
        first_waiting, "query($id: ID!) { task(id: $id) { volunteerCalls { myStatus } } }", {"id": task_id}
    )
    assert moved["data"]["task"]["volunteerCalls"] == [{"myStatus": "SIGNED"}]
    # signing up twice changes nothing; withdrawing twice is refused
    again = await desk.as_(signed[1], SIGN_UP, {"id": call_id})
    assert again["data"]["signUp"]["signedCount"] == 10
    twice = await desk.as_(signed[0], WITHDRAW, {"id": call_id})
    assert twice["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


async def test_check_in_records_participation(desk: Desk) -> None:
    task_id = await desk.new_task(category="ENVIRONMENT", buildingId=None)
    call_id = await open_call(desk, task_id, needed=2)
    await desk.as_(RESIDENT, SIGN_UP, {"id": call_id})
    person = encode("Person", await fetchval(desk.url, "SELECT id FROM person WHERE phone = $1", RESIDENT))
    check = "mutation($c: ID!, $p: ID!) { checkIn(callId: $c, personId: $p) { signedCount } }"
    assert "errors" not in await desk.as_(CHIEF, check, {"c": call_id, "p": person})
    hours = await fetchval(desk.url, "SELECT hours FROM participation WHERE kind = 'VOLUNTEER'")
    assert str(hours) == "3.00"
    again = await desk.as_(CHIEF, check, {"c": call_id, "p": person})
    assert again["errors"][0]["extensions"]["code"] == "CONFLICT"
    not_organiser = await desk.as_(RESIDENT, check, {"c": call_id, "p": person})
    assert not_organiser["errors"][0]["extensions"]["code"] == "FORBIDDEN"


@pytest.mark.parametrize(
    ("overrides", "field"),
    [({"needed": 0}, "needed"), ({"needed": 1001}, "needed"), ({"title": ""}, "title")],
)
async def test_bad_volunteer_calls(desk: Desk, overrides: dict, field: str) -> None:
    task_id = await desk.new_task(buildingId=None)
    starts = datetime.now(UTC) + timedelta(days=1)
    body = await desk.as_(
        CHIEF,
        OPEN_CALL,
        {
            "input": {
                "taskId": task_id,
                "title": "清理",
                "needed": 5,
                "startsAt": starts.isoformat(),
                "endsAt": (starts + timedelta(hours=2)).isoformat(),
                **overrides,
            }
        },
    )
    assert body["errors"][0]["extensions"] == {"code": "BAD_USER_INPUT", "field": field}
    assert await fetchval(desk.url, "SELECT count(*) FROM volunteer_call") == 0


async def test_outsiders_cannot_sign_up(desk: Desk) -> None:
    task_id = await desk.new_task(buildingId=None)
    call_id = await open_call(desk, task_id)
    body = await desk.as_(OUTSIDER, SIGN_UP, {"id": call_id})
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    staff = await desk.as_(PROPERTY, SIGN_UP, {"id": call_id})  # sees the task, does not live there
    assert staff["errors"][0]["extensions"]["code"] == "FORBIDDEN"


async def test_every_id_resolves_through_node(desk: Desk) -> None:
    """Tasks, timeline events and volunteer calls resolve through node(id:), with the task's policy."""
    task_id = await desk.new_task(buildingId=None)
    call_id = await open_call(desk, task_id, needed=3)
    events = await desk.as_(
        RESIDENT, "query($id: ID!) { task(id: $id) { lastEvent { id kind } } }", {"id": task_id}
    )
    event_id = events["data"]["task"]["lastEvent"]["id"]
    query = """query($id: ID!) { node(id: $id) { id __typename
      ... on Task { title } ... on TaskEvent { kind } ... on VolunteerCall { needed } } }"""
    for node_id, typename in ((task_id, "Task"), (event_id, "TaskEvent"), (call_id, "VolunteerCall")):
        mine = await desk.as_(RESIDENT, query, {"id": node_id})
        assert mine["data"]["node"]["__typename"] == typename
        assert mine["data"]["node"]["id"] == node_id
        theirs = await desk.as_(OUTSIDER, query, {"id": node_id})
        assert theirs["errors"][0]["extensions"]["code"] == "FORBIDDEN"


async def test_two_job_processes_close_a_task_once(desk: Desk) -> None:
    import os
    import sys
    from pathlib import Path

    from tests.conftest import SECRET

    task_id = await desk.new_task()
    await desk.do(GRID, "acceptTask", id=task_id)
    await desk.do(GRID, "resolveTask", id=task_id, resolution="已处理")
    ident = decode(task_id)[1]
    await fetch(desk.url, "UPDATE task SET resolved_at = now() - interval '8 days' WHERE id = $1", ident)
    env = {**os.environ, "DATABASE_URL": desk.url, "QILIJIA_SECRET_KEY": SECRET}
    command = str(Path(sys.executable).parent / "qilijia")
    processes = [
        await asyncio.create_subprocess_exec(command, "jobs", env=env, stdout=asyncio.subprocess.PIPE)
        for _ in range(2)
    ]
    outputs = [(await p.communicate())[0].decode() for p in processes]
    assert [p.returncode for p in processes] == [0, 0]
    closed = sorted(int(out.split("自动关闭的事项：")[1].split(" ")[0]) for out in outputs)
    assert closed == [0, 1]
    assert await fetchval(desk.url, "SELECT status FROM task WHERE id = $1", ident) == "CLOSED"
    assert (
        await fetchval(
            desk.url, "SELECT count(*) FROM task_event WHERE task_id = $1 AND actor_role = 'SYSTEM'", ident
        )
        == 1
    )


async def test_people_from_elsewhere_cannot_be_attached(desk: Desk) -> None:
    """Assignees, working groups and dispute parties belong to the task's compound: otherwise a team
    could pull anyone in and see their data through the task."""
    task_id = await desk.new_task()
    await desk.do(CHIEF, "acceptTask", id=task_id)
    outsider = encode("Person", await fetchval(desk.url, "SELECT id FROM person WHERE phone = $1", OUTSIDER))
    body = await desk.do(CHIEF, "assignTask", id=task_id, assigneeId=outsider)
    assert body["errors"][0]["extensions"] == {"code": "BAD_USER_INPUT", "field": "assigneeId"}
    grid = encode("Person", await fetchval(desk.url, "SELECT id FROM person WHERE phone = $1", GRID))
    assert "errors" not in await desk.do(
        CHIEF, "assignTask", id=task_id, assigneeId=grid
    )  # serves the compound
    dispute = await desk.report(
        kind="DISPUTE",
        category="NEIGHBOUR_RELATIONS",
        title="纠纷",
        description="车库漏水",
        partyIds=[outsider],
    )
    assert dispute["errors"][0]["extensions"] == {"code": "BAD_USER_INPUT", "field": "partyIds"}


@pytest.mark.parametrize("role", ["OWNERS_COMMITTEE", "PARTY_MEMBER"])
async def test_disputes_are_not_assigned_to_whole_resident_roles(desk: Desk, role: str) -> None:
    other_party = encode(
        "Person", await fetchval(desk.url, "SELECT id FROM person WHERE phone = $1", CO_OWNER)
    )
    task_id = await desk.new_task(
        kind="DISPUTE",
        category="NEIGHBOUR_RELATIONS",
        title="纠纷",
        description="车库漏水",
        partyIds=[other_party],
    )
    body = await desk.do(GRID, "assignTask", id=task_id, role=role)
    assert body["errors"][0]["extensions"] == {"code": "BAD_USER_INPUT", "field": "role"}
    hidden = await desk.as_(OWNERS_COMMITTEE, "query($id: ID!) { task(id: $id) { kind } }", {"id": task_id})
    assert hidden["errors"][0]["extensions"]["code"] == "FORBIDDEN"
