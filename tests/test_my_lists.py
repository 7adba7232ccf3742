"""A person's own lists (`me { reportedTasks assignedTasks myVotes myCalls }`) and filtered task
lists, on the demo world: each holds exactly what is the caller's, among what they may read, and a
filter narrows exactly as it says on both read paths."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
import pytest_asyncio

from resolvers.ids import encode
from tests.conftest import Api, person_id
from tests.test_schedule_changes import CANCEL_CALL, SIGN_UP, WITHDRAW, a_call
from tests.test_task_api import Desk
from tests.votes import building_id, compound_id, open_building6_vote

CHIEF, GRID, PROPERTY, OWNERS_COMMITTEE = "13800000001", "13800000003", "13800000005", "13800000006"
RESIDENT, TENANT, CO_OWNER, OUTSIDER = "13800000007", "13800000008", "13800000012", "13800000011"

MINE = """query($filter: TaskFilter) { me {
  reportedTasks(filter: $filter) { edges { node { title status } } }
  assignedTasks(filter: $filter) { edges { node { title } } } } }"""
MY_VOTES = """{ me { myVotes { edges { node { title status } } } } }"""
MY_CALLS = """{ me { myCalls { edges { node { title myStatus cancelledAt cancelReason } } } } }"""
TASKS = """query($compound: ID!, $status: TaskStatus, $filter: TaskFilter) { compound(id: $compound) {
  tasks(first: 100, status: $status, filter: $filter) { edges { node { title } } } } }"""


@pytest_asyncio.fixture
async def desk(api: Api, demo_db_url: str) -> AsyncIterator[Desk]:
    yield Desk(api, demo_db_url)


def titles(connection: dict) -> list[str]:
    return [e["node"]["title"] for e in connection["edges"]]


async def mine(desk: Desk, phone: str, filter_: dict | None = None) -> tuple[list[str], list[str]]:
    body = await desk.as_(phone, MINE, {"filter": filter_})
    assert "errors" not in body, body
    return titles(body["data"]["me"]["reportedTasks"]), titles(body["data"]["me"]["assignedTasks"])


async def test_my_reports_and_what_is_assigned_to_me(desk: Desk) -> None:
    first = await desk.new_task(RESIDENT, title="井盖松动", category="FACILITIES_REPAIR")
    await desk.new_task(RESIDENT, title="路灯不亮", category="SAFETY")
    await desk.new_task(TENANT, title="楼道堆物", category="SAFETY")
    # newest first, only the caller's own
    assert await mine(desk, RESIDENT) == (["路灯不亮", "井盖松动"], [])
    assert await mine(desk, TENANT) == (["楼道堆物"], [])
    assert await mine(desk, RESIDENT, {"category": "SAFETY"}) == (["路灯不亮"], [])

    # assigned to the compound's property staff (a role) and to a person with a working group
    assert "errors" not in await desk.do(GRID, "acceptTask", id=first)
    assert "errors" not in await desk.do(GRID, "assignTask", id=first, role="PROPERTY_STAFF")
    assert await mine(desk, PROPERTY) == ([], ["井盖松动"])
    second = await desk.new_task(CO_OWNER, title="单元门禁坏了", category="FACILITIES_REPAIR")
    await desk.do(CHIEF, "acceptTask", id=second)
    lead, member = [encode("Person", await person_id(desk.url, p)) for p in (OWNERS_COMMITTEE, TENANT)]
    body = await desk.do(CHIEF, "assignTask", id=second, assigneeId=lead, memberIds=[member])
    assert "errors" not in body, body
    assert await mine(desk, OWNERS_COMMITTEE) == ([], ["单元门禁坏了"])
    assert await mine(desk, TENANT) == (["楼道堆物"], ["单元门禁坏了"])
    assert await mine(desk, TENANT, {"status": "SUBMITTED"}) == (["楼道堆物"], [])
    # the team triages them but they are not assigned to it
    assert await mine(desk, CHIEF) == ([], [])
    # a withdrawn report stays on its reporter's list, with its status
    third = await desk.new_task(RESIDENT, title="垃圾桶满了", category="ENVIRONMENT")
    await desk.as_(
        RESIDENT, 'mutation($id: ID!) { withdrawTask(id: $id, reason: "已清理") { id } }', {"id": third}
    )
    body = await desk.as_(RESIDENT, MINE, {"filter": {"status": "WITHDRAWN"}})
    assert body["data"]["me"]["reportedTasks"]["edges"] == [
        {"node": {"title": "垃圾桶满了", "status": "WITHDRAWN"}}
    ]


async def test_my_open_votes_are_the_ones_i_may_cast_in(desk: Desk, api: Api) -> None:
    opened = await open_building6_vote(api, desk.url, await desk.token(OWNERS_COMMITTEE))
    assert "errors" not in opened, opened
    owner = await desk.as_(RESIDENT, MY_VOTES)
    assert owner["data"]["me"]["myVotes"]["edges"] == [{"node": {"title": "6栋加装电梯", "status": "OPEN"}}]
    # a tenant, the team and an owner elsewhere have no ballot in it
    for phone in (TENANT, CHIEF, OUTSIDER):
        body = await desk.as_(phone, MY_VOTES)
        assert body["data"]["me"]["myVotes"]["edges"] == [], phone
    # once closed it is not open any more
    closed = await desk.as_(
        OWNERS_COMMITTEE,
        "mutation($id: ID!) { closeVote(id: $id) { status } }",
        {"id": opened["data"]["openVote"]["id"]},
    )
    assert "errors" not in closed, closed
    assert (await desk.as_(RESIDENT, MY_VOTES))["data"]["me"]["myVotes"]["edges"] == []


async def test_my_calls_hold_my_sign_ups_and_show_a_cancellation(desk: Desk) -> None:
    task_id = await desk.new_task(category="ENVIRONMENT", title="后山树枝清理", buildingId=None)
    await desk.do(CHIEF, "acceptTask", id=task_id)
    call_id = await a_call(desk, task_id, needed=1)
    other = await a_call(desk, task_id, needed=1)
    await desk.as_(RESIDENT, SIGN_UP, {"id": call_id})
    await desk.as_(TENANT, SIGN_UP, {"id": call_id})  # on the waitlist
    await desk.as_(TENANT, SIGN_UP, {"id": other})
    await desk.as_(TENANT, WITHDRAW, {"id": other})  # withdrawn: no longer theirs

    async def calls(phone: str) -> list[tuple[str, bool]]:
        body = await desk.as_(phone, MY_CALLS)
        return [
            (e["node"]["myStatus"], e["node"]["cancelledAt"] is not None)
            for e in body["data"]["me"]["myCalls"]["edges"]
        ]

    assert await calls(RESIDENT) == [("SIGNED", False)]
    assert await calls(TENANT) == [("WAITLIST", False)]
    assert await calls(CO_OWNER) == []
    assert "errors" not in await desk.as_(CHIEF, CANCEL_CALL, {"id": call_id, "reason": "下雨"})
    assert await calls(RESIDENT) == [("SIGNED", True)]
    body = await desk.as_(TENANT, MY_CALLS)
    assert body["data"]["me"]["myCalls"]["edges"][0]["node"]["cancelReason"] == "下雨"


async def test_task_lists_filter_by_each_condition(desk: Desk) -> None:
    building6 = await building_id(desk.url)
    before = datetime.now(UTC)
    await desk.new_task(RESIDENT, title="6栋井盖", category="FACILITIES_REPAIR")
    await desk.new_task(RESIDENT, title="全小区停车", category="PARKING", buildingId=None)
    project = await desk.new_task(
        CHIEF, title="6栋电梯", category="ELEVATOR", kind="PROJECT", description="更换电梯", photoUrls=[]
    )
    await desk.do(CHIEF, "acceptTask", id=project)
    lead = encode("Person", await person_id(desk.url, OWNERS_COMMITTEE))
    await desk.do(CHIEF, "assignTask", id=project, assigneeId=lead)
    compound = await compound_id(desk.url)

    async def listed(phone: str = CHIEF, **variables: object) -> list[str]:
        body = await desk.as_(phone, TASKS, {"compound": compound, **variables})
        assert "errors" not in body, body
        return sorted(titles(body["data"]["compound"]["tasks"]))

    everything = await listed()
    assert {"6栋井盖", "全小区停车", "6栋电梯"} <= set(everything)
    assert await listed(filter={"category": "PARKING"}) == ["全小区停车"]
    assert await listed(filter={"kind": "PROJECT"}) == ["6栋电梯"]
    assert await listed(filter={"buildingId": building6, "reportedSince": before.isoformat()}) == [
        "6栋井盖",
        "6栋电梯",
    ]
    assert await listed(filter={"assigneeId": lead}) == ["6栋电梯"]
    assert await listed(filter={"status": "ACCEPTED", "kind": "PROJECT"}) == ["6栋电梯"]
    assert await listed(status="ACCEPTED") == ["6栋电梯"]
    assert await listed(filter={"reportedBefore": before.isoformat()}) == sorted(
        set(everything) - {"6栋井盖", "全小区停车", "6栋电梯"}
    )
    later = (datetime.now(UTC) + timedelta(minutes=1)).isoformat()
    assert await listed(filter={"reportedSince": later}) == []
    # a filter narrows what the caller may read, never widens it
    outsider = await desk.as_(OUTSIDER, TASKS, {"compound": compound, "filter": {"kind": "PROJECT"}})
    assert outsider["data"]["compound"] is None and outsider["errors"][0]["extensions"]["code"] == "FORBIDDEN"


@pytest.mark.parametrize(
    ("variables", "field"),
    [
        ({"filter": {"buildingId": "nonsense"}}, "filter.buildingId"),
        ({"filter": {"assigneeId": encode("Building", __import__("uuid").uuid4())}}, "filter.assigneeId"),
        ({"filter": {"reportedSince": "2026-12-01T00:00:00"}}, "filter.reportedSince"),
        ({"status": "SUBMITTED", "filter": {"status": "ACCEPTED"}}, "status"),
    ],
)
async def test_bad_filters_name_the_field(desk: Desk, variables: dict, field: str) -> None:
    compound = await compound_id(desk.url)
    body = await desk.as_(CHIEF, TASKS, {"compound": compound, **variables})
    assert body["errors"][0]["extensions"] == {"code": "BAD_USER_INPUT", "field": field}, body


async def test_my_lists_need_a_person(api: Api) -> None:
    for query in (MINE, MY_VOTES, MY_CALLS):
        body = await api.gql(query, {})
        assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED", body
        assert body["data"] is None
