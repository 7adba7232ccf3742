"""Topical meetings (专题会议) over the API on the demo world: the building-6 elevator took six.

Who may schedule them and record their decisions, what attendance leaves in the Party members'
participation records, what readers see of the attendees, and inputs that are refused whole.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
import pytest_asyncio

from resolvers.ids import decode, encode
from tests.conftest import Api, fetch, fetchval, person_id
from tests.test_task_api import Desk

CHIEF = "13800000001"  # chief convener of 千山美林, Party member
BUILDING6 = "13800000002"  # Party member, convener of 6栋
GRID = "13800000003"
COMMUNITY = "13800000004"
PROPERTY = "13800000005"
RESIDENT = "13800000007"  # owner of 6-1-302, not a Party member
COMMITTEE = "13800000010"  # committee member of the team, Party member
OUTSIDER = "13800000011"  # 东方新天地

SCHEDULE = """mutation($input: ScheduleMeetingInput!) {
  scheduleMeeting(input: $input) { id topic heldAt location decisions attendees { id } } }"""
RECORD = """mutation($id: ID!, $decisions: [String!]!, $attendeeIds: [ID!]) {
  recordMeetingDecisions(meetingId: $id, decisions: $decisions, attendeeIds: $attendeeIds) {
    id topic decisions attendees { id } } }"""
MEETINGS = """query($id: ID!) { task(id: $id) { meetings {
  id topic heldAt location decisions attendees { id name phone } } } }"""
TIMELINE = (
    """query($id: ID!) { task(id: $id) { timeline(first: 50) { edges { node { kind actorRole text } } } } }"""
)

TOPICS = [
    "6栋电梯现状通报与更换意向摸底",
    "电梯更换方案与补贴政策说明",
    "费用分摊方式讨论",
    "反对意见听取与答疑",
    "施工单位比选与合同审议",
    "成立施工监督小组",
]


@pytest_asyncio.fixture
async def desk(api: Api, demo_db_url: str) -> AsyncIterator[Desk]:
    yield Desk(api, demo_db_url)


async def pid(desk: Desk, phone: str) -> str:
    return encode("Person", await person_id(desk.url, phone))


async def elevator_project(desk: Desk) -> str:
    """The chief convener reports the building-6 elevator project and accepts it."""
    task_id = await desk.new_task(
        CHIEF,
        kind="PROJECT",
        category="ELEVATOR",
        title="6栋电梯更换",
        description="6栋电梯频繁故障，拟整体更换，需要本栋四分之三业主同意。",
        photoUrls=[],
    )
    accepted = await desk.do(CHIEF, "acceptTask", id=task_id)
    assert accepted["data"]["acceptTask"]["status"] == "ACCEPTED", accepted
    return task_id


def when(days_ago: int) -> str:
    return (datetime.now(UTC) - timedelta(days=days_ago)).replace(microsecond=0).isoformat()


async def schedule(desk: Desk, phone: str, task_id: str, **overrides: object) -> dict:
    variables = {
        "input": {
            "taskId": task_id,
            "topic": TOPICS[0],
            "heldAt": when(3),
            "location": "6栋架空层",
            "attendeeIds": [],
            **overrides,
        }
    }
    return await desk.as_(phone, SCHEDULE, variables)


async def record(
    desk: Desk, phone: str, meeting_id: str, decisions: list[str], attendees: list[str] | None
) -> dict:
    return await desk.as_(phone, RECORD, {"id": meeting_id, "decisions": decisions, "attendeeIds": attendees})


async def count(desk: Desk, table: str) -> int:
    return await fetchval(desk.url, f"SELECT count(*) FROM {table}")


async def participation(desk: Desk) -> list[tuple[str, int]]:
    rows = await fetch(
        desk.url,
        "SELECT p.phone, sum(x.count) AS n FROM participation x JOIN person p ON p.id = x.person_id "
        "WHERE x.kind = 'MEETING' GROUP BY p.phone HAVING sum(x.count) > 0 ORDER BY p.phone",
    )
    return [(r["phone"], r["n"]) for r in rows]


async def test_the_elevator_took_six_meetings(desk: Desk) -> None:
    task_id = await elevator_project(desk)
    party_a, party_b, resident, grid = [await pid(desk, p) for p in (BUILDING6, COMMITTEE, RESIDENT, GRID)]
    invited = [party_a, party_b, resident]
    held = [when(60 - 10 * number) for number in range(len(TOPICS))]
    meeting_ids = []
    for number, topic in enumerate(TOPICS):
        body = await schedule(desk, CHIEF, task_id, topic=topic, heldAt=held[number], attendeeIds=invited)
        assert "errors" not in body, body
        meeting = body["data"]["scheduleMeeting"]
        assert meeting["topic"] == topic
        assert meeting["location"] == "6栋架空层"
        assert meeting["decisions"] == []
        assert sorted(a["id"] for a in meeting["attendees"]) == sorted(invited)
        assert datetime.fromisoformat(meeting["heldAt"]) == datetime.fromisoformat(held[number])
        meeting_ids.append(meeting["id"])
    # scheduling alone is an invitation, not attendance
    assert await participation(desk) == []

    for number, meeting_id in enumerate(meeting_ids):
        body = await record(
            desk, CHIEF, meeting_id, [f"第{number + 1}次会议决定一", "下次会议两周后召开"], [*invited, grid]
        )
        assert "errors" not in body, body
        recorded = body["data"]["recordMeetingDecisions"]
        assert recorded["decisions"] == [f"第{number + 1}次会议决定一", "下次会议两周后召开"]
        assert sorted(a["id"] for a in recorded["attendees"]) == sorted([*invited, grid])

    # the two Party members attended six meetings each; the resident and the grid worker leave no record
    assert await participation(desk) == [(BUILDING6, 6), (COMMITTEE, 6)]
    rows = await fetch(desk.url, "SELECT DISTINCT hours, compound_id FROM participation")
    assert [str(r["hours"]) for r in rows] == ["0.00"]
    task_compound = await fetchval(desk.url, "SELECT compound_id FROM task WHERE id = $1", decode(task_id)[1])
    assert rows[0]["compound_id"] == task_compound
    occurred = await fetch(
        desk.url,
        "SELECT m.held_at = x.occurred_at AS same FROM participation x JOIN meeting m ON m.id = x.ref_id",
    )
    assert [r["same"] for r in occurred] == [True] * 12

    # the minutes of the first meeting recorded again: still exactly one record each
    again = await record(desk, CHIEF, meeting_ids[0], ["更正：决定委托第三方评估"], None)
    assert "errors" not in again, again
    assert again["data"]["recordMeetingDecisions"]["decisions"] == ["更正：决定委托第三方评估"]
    assert sorted(a["id"] for a in again["data"]["recordMeetingDecisions"]["attendees"]) == sorted(
        [*invited, grid]
    )
    assert await participation(desk) == [(BUILDING6, 6), (COMMITTEE, 6)]

    # the task lists its six meetings in order of time, for every reader of the task
    body = await desk.as_(RESIDENT, MEETINGS, {"id": task_id})
    meetings = body["data"]["task"]["meetings"]
    assert [m["topic"] for m in meetings] == TOPICS
    assert [m["id"] for m in meetings] == meeting_ids
    assert meetings[0]["decisions"] == ["更正：决定委托第三方评估"]
    assert meetings[5]["decisions"] == ["第6次会议决定一", "下次会议两周后召开"]

    # the timeline holds one event per scheduling and per recording of minutes
    timeline = await desk.as_(CHIEF, TIMELINE, {"id": task_id})
    kinds = [
        (e["node"]["kind"], e["node"]["actorRole"]) for e in timeline["data"]["task"]["timeline"]["edges"]
    ]
    assert kinds == [
        ("REPORTED", "REPORTER"),
        ("STATUS_CHANGED", "TEAM"),
        *[("MEETING", "TEAM")] * 6,
        *[("MEETING_DECISIONS", "TEAM")] * 7,
    ]
    texts = [e["node"]["text"] for e in timeline["data"]["task"]["timeline"]["edges"]]
    assert texts[2] == f"安排专题会议「{TOPICS[0]}」"
    assert texts[-1] == f"专题会议「{TOPICS[0]}」决定：1. 更正：决定委托第三方评估"


async def test_attendees_are_shown_masked_as_the_policy_says(desk: Desk) -> None:
    task_id = await elevator_project(desk)
    party_a, party_b, resident = [await pid(desk, p) for p in (BUILDING6, COMMITTEE, RESIDENT)]
    body = await schedule(desk, CHIEF, task_id, attendeeIds=[party_a, party_b, resident])
    assert "errors" not in body, body

    async def seen_by(phone: str) -> dict[str, tuple[str, str | None]]:
        answer = await desk.as_(phone, MEETINGS, {"id": task_id})
        (meeting,) = answer["data"]["task"]["meetings"]
        return {a["id"]: (a["name"], a["phone"]) for a in meeting["attendees"]}

    # a resident: themself in full, everyone else's name masked and no phones
    assert await seen_by(RESIDENT) == {
        party_a: ("陈**", None),
        party_b: ("蒋*", None),
        resident: ("张德明", RESIDENT),
    }
    # a Party member: fellow Party members by name, no phones
    assert await seen_by(BUILDING6) == {
        party_a: ("陈秀兰", BUILDING6),
        party_b: ("蒋丽", None),
        resident: ("张**", None),
    }
    # the grid worker: everyone in full
    assert await seen_by(GRID) == {
        party_a: ("陈秀兰", BUILDING6),
        party_b: ("蒋丽", COMMITTEE),
        resident: ("张德明", RESIDENT),
    }
    # outside the compound: nothing at all
    outsider = await desk.as_(OUTSIDER, MEETINGS, {"id": task_id})
    assert outsider["data"] == {"task": None}
    assert outsider["errors"][0]["extensions"]["code"] == "FORBIDDEN"


async def test_correcting_the_attendees_corrects_the_participation(desk: Desk) -> None:
    task_id = await elevator_project(desk)
    party_a, party_b = await pid(desk, BUILDING6), await pid(desk, COMMITTEE)
    meeting_id = (await schedule(desk, CHIEF, task_id, attendeeIds=[party_a, party_b]))["data"][
        "scheduleMeeting"
    ]["id"]
    assert "errors" not in await record(desk, CHIEF, meeting_id, ["同意启动电梯更换"], None)
    assert await participation(desk) == [(BUILDING6, 1), (COMMITTEE, 1)]
    # 蒋丽 sent apologies after all: the corrected minutes leave her no record of this meeting
    corrected = await record(desk, CHIEF, meeting_id, ["同意启动电梯更换"], [party_a])
    assert [a["id"] for a in corrected["data"]["recordMeetingDecisions"]["attendees"]] == [party_a]
    assert await participation(desk) == [(BUILDING6, 1)]
    assert await count(desk, "meeting_attendee") == 1


TEAM = [CHIEF, GRID, COMMUNITY]
NOT_TEAM = [RESIDENT, PROPERTY, OUTSIDER]


@pytest.mark.parametrize("phone", TEAM + NOT_TEAM)
async def test_who_may_schedule_a_meeting(desk: Desk, phone: str) -> None:
    task_id = await elevator_project(desk)
    before = await desk.events(task_id)
    body = await schedule(desk, phone, task_id, attendeeIds=[await pid(desk, BUILDING6)])
    if phone in TEAM:
        assert body["data"]["scheduleMeeting"]["topic"] == TOPICS[0]
        assert await count(desk, "meeting") == 1
        assert await desk.events(task_id) == before + 1
        creator = await fetchval(desk.url, "SELECT created_by FROM meeting")
        assert creator == await person_id(desk.url, phone)
    else:
        assert body["data"] is None
        assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
        assert await count(desk, "meeting") == 0
        assert await count(desk, "meeting_attendee") == 0
        assert await desk.events(task_id) == before


@pytest.mark.parametrize("phone", TEAM + NOT_TEAM)
async def test_who_may_record_decisions(desk: Desk, phone: str) -> None:
    task_id = await elevator_project(desk)
    party = await pid(desk, BUILDING6)
    meeting_id = (await schedule(desk, CHIEF, task_id, attendeeIds=[party]))["data"]["scheduleMeeting"]["id"]
    before = await desk.events(task_id)
    body = await record(desk, phone, meeting_id, ["同意更换电梯"], None)
    if phone in TEAM:
        assert body["data"]["recordMeetingDecisions"]["decisions"] == ["同意更换电梯"]
        assert await participation(desk) == [(BUILDING6, 1)]
        assert await desk.events(task_id) == before + 1
    else:
        assert body["data"] is None
        assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
        assert await fetchval(desk.url, "SELECT decisions FROM meeting") == []
        assert await participation(desk) == []
        assert await desk.events(task_id) == before


async def test_the_building_convener_schedules_for_their_own_building(desk: Desk) -> None:
    task_id = await elevator_project(desk)  # for 6栋, convened by 13800000002
    assert "errors" not in await schedule(desk, BUILDING6, task_id)
    elsewhere = await desk.new_task(CHIEF, kind="PROJECT", category="ELEVATOR", buildingId=None, photoUrls=[])
    refused = await schedule(desk, BUILDING6, elsewhere)
    assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert await count(desk, "meeting") == 1


def _too_far() -> str:
    return (datetime.now(UTC) + timedelta(days=400)).isoformat()


@pytest.mark.parametrize(
    ("overrides", "field", "fragment"),
    [
        ({"topic": ""}, "topic", "请填写会议议题"),
        ({"topic": "   "}, "topic", "请填写会议议题"),
        ({"topic": "电" * 101}, "topic", "不能超过 100 个字"),
        ({"location": "架" * 101}, "location", "不能超过 100 个字"),
        ({"heldAt": "2026-03-01T19:30:00"}, "heldAt", "时区"),
        ({"heldAt": "far"}, "heldAt", "一年"),
        ({"attendeeIds": ["unknown"]}, "attendeeIds", "本小区的居民或服务本小区的人员"),
        ({"attendeeIds": ["not-an-id"]}, "attendeeIds", "格式不正确"),
        ({"attendeeIds": ["task"]}, "attendeeIds", "格式不正确"),
    ],
)
async def test_bad_meetings_are_refused_and_write_nothing(
    desk: Desk, overrides: dict, field: str, fragment: str
) -> None:
    task_id = await elevator_project(desk)
    if overrides.get("heldAt") == "far":
        overrides = {"heldAt": _too_far()}
    if overrides.get("attendeeIds") == ["unknown"]:
        overrides = {"attendeeIds": [await pid(desk, BUILDING6), encode("Person", uuid.uuid4())]}
    if overrides.get("attendeeIds") == ["task"]:
        overrides = {"attendeeIds": [task_id]}
    before = await desk.events(task_id)
    body = await schedule(desk, CHIEF, task_id, **overrides)
    assert body["data"] is None
    assert body["errors"][0]["extensions"] == {"code": "BAD_USER_INPUT", "field": field}
    assert fragment in body["errors"][0]["message"]
    assert await count(desk, "meeting") == 0
    assert await count(desk, "meeting_attendee") == 0
    assert await desk.events(task_id) == before


@pytest.mark.parametrize(
    ("decisions", "attendees", "field", "fragment"),
    [
        ([], None, "decisions", "1 到 20 条"),
        ([f"决定{i}" for i in range(21)], None, "decisions", "1 到 20 条"),
        (["同意", "  "], None, "decisions", "第 2 条会议决定是空的"),
        (["定" * 501], None, "decisions", "不能超过 500 个字"),
        (["同意"], "unknown", "attendeeIds", "本小区的居民或服务本小区的人员"),
    ],
)
async def test_bad_minutes_are_refused_and_write_nothing(
    desk: Desk, decisions: list[str], attendees: str | None, field: str, fragment: str
) -> None:
    task_id = await elevator_project(desk)
    party = await pid(desk, BUILDING6)
    meeting_id = (await schedule(desk, CHIEF, task_id, attendeeIds=[party]))["data"]["scheduleMeeting"]["id"]
    before = await desk.events(task_id)
    attendee_ids = None if attendees is None else [encode("Person", uuid.uuid4())]
    body = await record(desk, CHIEF, meeting_id, decisions, attendee_ids)
    assert body["data"] is None
    assert body["errors"][0]["extensions"] == {"code": "BAD_USER_INPUT", "field": field}
    assert fragment in body["errors"][0]["message"]
    assert await fetchval(desk.url, "SELECT decisions FROM meeting") == []
    assert await fetchval(desk.url, "SELECT person_id FROM meeting_attendee") == await person_id(
        desk.url, BUILDING6
    )
    assert await count(desk, "meeting_attendee") == 1
    assert await participation(desk) == []
    assert await desk.events(task_id) == before


async def test_a_malformed_or_unknown_meeting_id(desk: Desk) -> None:
    malformed = await record(desk, CHIEF, "nonsense", ["同意"], None)
    assert malformed["errors"][0]["extensions"] == {"code": "BAD_USER_INPUT", "field": "meetingId"}
    unknown = await record(desk, CHIEF, encode("Meeting", uuid.uuid4()), ["同意"], None)
    assert unknown["errors"][0]["extensions"]["code"] == "FORBIDDEN"


async def test_no_meetings_on_finished_tasks(desk: Desk) -> None:
    rejected = await desk.new_task(CHIEF, kind="PROJECT", category="ELEVATOR", photoUrls=[])
    assert "errors" not in await desk.do(CHIEF, "rejectTask", id=rejected, reason="重复立项")
    closed = await desk.new_task(CHIEF, kind="PROJECT", category="ELEVATOR", photoUrls=[])
    await desk.do(CHIEF, "acceptTask", id=closed)
    await desk.do(CHIEF, "resolveTask", id=closed, resolution="电梯已更换并验收")
    assert (await desk.do(CHIEF, "rateTask", id=closed, stars=5))["data"]["rateTask"]["status"] == "CLOSED"
    for task_id in (rejected, closed):
        before = await desk.events(task_id)
        body = await schedule(desk, CHIEF, task_id)
        assert body["errors"][0]["extensions"]["code"] == "CONFLICT"
        assert body["errors"][0]["message"] in (
            "事项已不予受理，不能再安排专题会议。",
            "事项已结束，不能再安排专题会议。",
        )
        assert await desk.events(task_id) == before
    assert await count(desk, "meeting") == 0


async def test_decisions_only_after_the_meeting_is_held(desk: Desk) -> None:
    task_id = await elevator_project(desk)
    party = await pid(desk, BUILDING6)
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    meeting_id = (await schedule(desk, CHIEF, task_id, heldAt=tomorrow, attendeeIds=[party]))["data"][
        "scheduleMeeting"
    ]["id"]
    before = await desk.events(task_id)
    body = await record(desk, CHIEF, meeting_id, ["同意"], None)
    assert body["errors"][0]["extensions"]["code"] == "CONFLICT"
    assert "还没有召开" in body["errors"][0]["message"]
    assert await participation(desk) == []
    assert await fetchval(desk.url, "SELECT decisions FROM meeting") == []
    assert await desk.events(task_id) == before


async def test_meetings_of_a_dispute_stay_with_the_dispute(desk: Desk) -> None:
    other = await pid(desk, "13800000012")
    dispute = await desk.new_task(
        RESIDENT,
        kind="DISPUTE",
        category="NEIGHBOUR_RELATIONS",
        title="车库漏水纠纷",
        description="楼上车库漏水到我家车库。",
        partyIds=[other],
    )
    body = await schedule(desk, GRID, dispute, topic="漏水纠纷调解会", attendeeIds=[other])
    assert "errors" not in body, body
    # the chief convener triages the compound's tasks but may not see a dispute, nor schedule on it
    chief = await schedule(desk, CHIEF, dispute)
    assert chief["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    party_view = await desk.as_(RESIDENT, MEETINGS, {"id": dispute})
    assert [m["topic"] for m in party_view["data"]["task"]["meetings"]] == ["漏水纠纷调解会"]
    assert (await desk.as_(CHIEF, MEETINGS, {"id": dispute}))["errors"][0]["extensions"][
        "code"
    ] == "FORBIDDEN"
