"""A Party member's participation record (参与记录), end to end through the API as the people who do
each step: a newcomer registers and is approved, then attends a real meeting, serves a real
volunteer shift, resolves a real task, mediates a real dispute and holds a team position; the record shows each entry
with its source, hours and points, and its totals. Corrections append (the table refuses changes);
who reads and who corrects is asserted both ways; the points rule is checked without a database."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from app.database import create_engine, sessionmaker
from models.evaluation import PeriodKind, period_name
from models.schedule_rules import CHINA
from models.terms import today
from resolvers.ids import encode
from resolvers.ledger import credit_positions
from tests.conftest import Api, fetch, fetchval, make_settings, token_for
from tests.test_party import APPROVE, COMMITTEE, applied, error, member

pytestmark = pytest.mark.asyncio(loop_scope="module")

ADMIN, CHIEF, GRID, RESIDENT, OTHER_COMMITTEE = (
    "13800000000",
    "13800000001",
    "13800000003",
    "13800000007",
    "13800000014",
)
NOT_VISIBLE = "该内容不存在，或您没有查看权限。"
RECORD = """query($p: ID!, $from: Date, $to: Date) { participationRecord(personId: $p, startsOn: $from, endsOn: $to) {
  startsOn endsOn hours meetings shifts tasks disputes points person { name }
  entries(first: 50) { totalCount edges { node { id kind sourceId hours count points reversesId reason
  occurredAt } } } } }"""
RECORD_POSITIONS = """query($p: ID!) { participationRecord(personId: $p) { positions points
  entries(first: 50) { edges { node { id kind sourceId points occurredAt } } } } }"""
REVERSE = """mutation($id: ID!, $r: String!) { reverseParticipation(id: $id, reason: $r) {
  id kind count hours points reversesId reason } }"""


async def gql(api: Api, url: str, phone: str, query: str, **variables: object) -> dict:
    token = phone if phone.startswith("ey") else await token_for(url, phone)
    return await api.gql(query, variables, token=token)


async def ok(api: Api, url: str, phone: str, query: str, **variables: object) -> dict:
    body = await gql(api, url, phone, query, **variables)
    assert "errors" not in body, body
    return body["data"]


def ago(days: int) -> str:
    return (datetime.now(UTC) - timedelta(days=days)).replace(microsecond=0).isoformat()


async def a_registered_member(api: Api, url: str, phone: str, number: str) -> tuple[str, str]:
    """A newcomer living at `number` in 千山美林, registered (approved): (their token, their id)."""
    token = await member(url, phone, ("qianshan-meilin", number))
    made = await applied(api, url, token, number)
    await api.data(APPROVE, {"id": made["id"]}, token=await token_for(url, COMMITTEE))
    return token, encode("Person", await fetchval(url, "SELECT id FROM person WHERE phone = $1", phone))


async def a_task(api: Api, url: str, kind: str = "ISSUE", **extra: object) -> str:
    compound = encode(
        "Compound", await fetchval(url, "SELECT id FROM compound WHERE key = 'qianshan-meilin'")
    )
    made = await ok(
        api,
        url,
        RESIDENT,
        "mutation($i: ReportTaskInput!) { reportTask(input: $i) { id } }",
        i={
            "compoundId": compound,
            "kind": kind,
            "category": "OTHER",
            "title": "楼道堆物",
            "description": "需清理",
            **extra,
        },
    )
    task = made["reportTask"]["id"]
    await ok(api, url, GRID, "mutation($id: ID!) { acceptTask(id: $id) { status } }", id=task)
    return task


async def served(api: Api, url: str, token: str, me: str, task: str, hours: str) -> str:
    """`me` signs up to a volunteer call of `task` (tomorrow) and the grid worker checks them in
    for `hours`: the call's id."""
    starts = datetime.now(UTC) + timedelta(days=1)
    call = (
        await ok(
            api,
            url,
            GRID,
            "mutation($i: OpenVolunteerCallInput!) { openVolunteerCall(input: $i) { id } }",
            i={
                "taskId": task,
                "title": "清理楼道",
                "needed": 3,
                "startsAt": starts.isoformat(),
                "endsAt": (starts + timedelta(hours=2)).isoformat(),
            },
        )
    )["openVolunteerCall"]["id"]
    await ok(api, url, token, "mutation($c: ID!) { signUp(callId: $c) { id } }", c=call)
    check_in = (
        "mutation($c: ID!, $p: ID!, $h: Decimal!) { checkIn(callId: $c, personId: $p, hours: $h) { id } }"
    )
    await ok(api, url, GRID, check_in, c=call, p=me, h=hours)
    return call


async def handled(api: Api, url: str, token: str, me: str, task: str) -> None:
    """The grid worker assigns `task` to `me`, who starts and resolves it."""
    assign = "mutation($id: ID!, $p: ID) { assignTask(id: $id, assigneeId: $p) { id } }"
    await ok(api, url, GRID, assign, id=task, p=me)
    await ok(api, url, token, "mutation($id: ID!) { startTask(id: $id) { status } }", id=task)
    resolve = 'mutation($id: ID!) { resolveTask(id: $id, resolution: "已清理") { status } }'
    await ok(api, url, token, resolve, id=task)


async def test_the_record_follows_what_happens(shared_api: Api, shared_demo_db_url: str) -> None:
    api, url = shared_api, shared_demo_db_url
    token, me = await a_registered_member(api, url, "13999960001", "4-1-101")
    # a meeting they attended
    task = await a_task(api, url)
    meeting = (
        await ok(
            api,
            url,
            GRID,
            """mutation($i: ScheduleMeetingInput!) { scheduleMeeting(input: $i) { id } }""",
            i={
                "taskId": task,
                "topic": "楼道清理安排",
                "heldAt": ago(2),
                "location": "4栋架空层",
                "attendeeIds": [me],
            },
        )
    )["scheduleMeeting"]["id"]
    minutes = """mutation($id: ID!, $a: [ID!]) { recordMeetingDecisions(meetingId: $id, decisions: ["周六清理"],
      attendeeIds: $a) { id } }"""
    await ok(api, url, GRID, minutes, id=meeting, a=None)
    # a volunteer shift they served, 2.5 hours
    call = await served(api, url, token, me, task, "2.5")
    # a task assigned to them, which they resolve
    await handled(api, url, token, me, task)
    # a dispute they mediate to its outcome
    neighbour = encode("Person", await fetchval(url, "SELECT id FROM person WHERE phone = $1", "13800000008"))
    dispute = await a_task(api, url, kind="DISPUTE", partyIds=[neighbour])
    await ok(
        api,
        url,
        GRID,
        "mutation($t: ID!, $p: ID!) { addMediator(taskId: $t, personId: $p) { id } }",
        t=dispute,
        p=me,
    )
    await ok(
        api,
        url,
        token,
        'mutation($t: ID!) { recordDisputeOutcome(taskId: $t, agreed: true, agreement: "双方同意错峰晾晒") { id } }',
        t=dispute,
    )

    record = (await ok(api, url, token, RECORD, p=me))["participationRecord"]
    assert (record["meetings"], record["shifts"], record["tasks"], record["disputes"]) == (1, 1, 1, 1)
    assert (record["hours"], record["points"]) == ("2.50", "12.50")
    kinds = {e["node"]["kind"]: e["node"] for e in record["entries"]["edges"]}
    assert set(kinds) == {"MEETING", "VOLUNTEER", "TASK", "DISPUTE"}
    assert kinds["MEETING"]["sourceId"] == meeting and kinds["VOLUNTEER"]["sourceId"] == call
    assert kinds["TASK"]["sourceId"] == task and kinds["DISPUTE"]["sourceId"] == dispute
    assert kinds["VOLUNTEER"]["hours"] == "2.50" and kinds["DISPUTE"]["points"] == "5.00"

    # the reporter reopens the task: a reversing entry, the old one stays; resolved again, credited again
    await ok(
        api,
        url,
        RESIDENT,
        'mutation($id: ID!) { reopenTask(id: $id, reason: "又堆上了") { status } }',
        id=task,
    )
    after = (await ok(api, url, token, RECORD, p=me))["participationRecord"]
    assert after["tasks"] == 0 and after["entries"]["totalCount"] == 5
    reversal = next(e["node"] for e in after["entries"]["edges"] if e["node"]["count"] == -1)
    assert (reversal["kind"], reversal["reversesId"], reversal["reason"]) == (
        "TASK",
        kinds["TASK"]["id"],
        "事项被重新打开",
    )
    assert reversal["occurredAt"] == kinds["TASK"]["occurredAt"]  # it undoes that day's entry
    await ok(
        api,
        url,
        token,
        'mutation($id: ID!) { resolveTask(id: $id, resolution: "已再次清理") { status } }',
        id=task,
    )
    assert (await ok(api, url, token, RECORD, p=me))["participationRecord"]["tasks"] == 1

    # corrected minutes: they did not attend after all
    await ok(api, url, GRID, minutes, id=meeting, a=[])
    corrected = (await ok(api, url, token, RECORD, p=me))["participationRecord"]
    assert corrected["meetings"] == 0 and corrected["points"] == "10.50"  # 2 + 2.5 + 3 - 3 + 3 + 5 - 2

    # a period that holds none of it
    empty = (await ok(api, url, token, RECORD, p=me, **{"from": "2025-01-01", "to": "2025-04-01"}))[
        "participationRecord"
    ]
    assert (empty["points"], empty["entries"]["totalCount"]) == ("0.00", 0)
    bad = await gql(api, url, token, RECORD, p=me, **{"from": "2025-04-01", "to": "2025-01-01"})
    assert error(bad)[:2] == ("BAD_USER_INPUT", "endsOn")
    for dates, field in (({"to": "0001-01-01"}, "endsOn"), ({"from": "9999-06-01"}, "startsOn")):
        assert error(await gql(api, url, token, RECORD, p=me, **dates))[:2] == ("BAD_USER_INPUT", field)

    # the committee reverses a meeting entry by hand; saving the minutes again does not undo that
    committee = await token_for(url, COMMITTEE)
    await ok(api, url, GRID, minutes, id=meeting, a=[me])  # listed again: credited again
    credited = (await ok(api, url, token, RECORD, p=me))["participationRecord"]
    assert credited["meetings"] == 1
    entry = next(
        e["node"]["id"]
        for e in credited["entries"]["edges"]
        if e["node"]["kind"] == "MEETING"
        and e["node"]["count"] == 1
        and e["node"]["reversesId"] is None
        and e["node"]["id"] != kinds["MEETING"]["id"]
    )
    await api.data(REVERSE, {"id": entry, "r": "实际未到会"}, token=committee)
    await ok(api, url, GRID, minutes, id=meeting, a=[me])  # the minutes saved again, unchanged
    assert (await ok(api, url, token, RECORD, p=me))["participationRecord"]["meetings"] == 0


async def test_a_team_position_held_earns_an_entry_per_period(
    shared_api: Api, shared_demo_db_url: str
) -> None:
    api, url = shared_api, shared_demo_db_url
    token, me = await a_registered_member(api, url, "13999960021", "4-2-101")
    compound = encode(
        "Compound", await fetchval(url, "SELECT id FROM compound WHERE key = 'qianshan-meilin'")
    )
    appoint = "mutation($i: AppointPositionInput!) { appointPosition(input: $i) { id } }"
    made = await ok(
        api,
        url,
        COMMITTEE,
        appoint,
        i={"compoundId": compound, "person": {"personId": me}, "position": "COMMITTEE_MEMBER"},
    )
    # a resident who is not a Party member holds one too, and earns nothing: the record is members'
    outsider = encode("Person", await fetchval(url, "SELECT id FROM person WHERE phone = $1", RESIDENT))
    await ok(
        api,
        url,
        COMMITTEE,
        appoint,
        i={"compoundId": compound, "person": {"personId": outsider}, "position": "DEPUTY_CONVENER"},
    )
    engine = create_engine(url, make_settings(url), pool_size=2, max_overflow=0)
    try:
        sessions = sessionmaker(engine)
        # two processes' jobs at once, then again: one entry for this term and period
        await asyncio.gather(credit_positions(sessions), credit_positions(sessions))
        assert await credit_positions(sessions) == 0
        # the community turns to yearly evaluations and back: the year, like the quarter, holds it already
        jiulong = encode("Community", await fetchval(url, "SELECT id FROM community WHERE key = 'jiulong'"))
        every = (
            "mutation($c: ID!, $p: EvaluationPeriod!) { setEvaluationPeriod(communityId: $c, period: $p) }"
        )
        for kind in ("YEAR", "QUARTER"):
            await ok(api, url, COMMITTEE, every, c=jiulong, p=kind)
            assert await credit_positions(sessions) == 0
        record = (await ok(api, url, token, RECORD_POSITIONS, p=me))["participationRecord"]
        (entry,) = [e["node"] for e in record["entries"]["edges"] if e["node"]["kind"] == "POSITION"]
        assert entry["sourceId"] == made["appointPosition"]["id"] and entry["points"] == "5.00"
        assert (record["positions"], record["points"]) == (1, "5.00")
        assert (
            datetime.fromisoformat(entry["occurredAt"]).astimezone(CHINA).date() == today()
        )  # the term's first day
        resident_entries = await fetchval(
            url,
            "SELECT count(*) FROM participation x JOIN person p ON p.id = x.person_id WHERE p.phone = $1",
            RESIDENT,
        )
        assert resident_entries == 0
        # an evaluation drafted now counts it
        draft = "mutation($i: DraftEvaluationInput!) { draftEvaluation(input: $i) { positions points } }"
        period = period_name(today(), PeriodKind.QUARTER)
        drafted = await ok(
            api,
            url,
            CHIEF,
            draft,
            i={"personId": me, "period": period, "grade": "QUALIFIED", "comment": "任职尽责。"},
        )
        assert drafted["draftEvaluation"] == {"positions": 1, "points": "5.00"}
        # reversed by the committee, it is not credited again by the next round
        await ok(api, url, COMMITTEE, REVERSE, id=entry["id"], r="任职未到岗")
        assert await credit_positions(sessions) == 0
        assert (await ok(api, url, token, RECORD_POSITIONS, p=me))["participationRecord"]["positions"] == 0
    finally:
        await engine.dispose()


async def test_the_record_is_append_only(shared_api: Api, shared_demo_db_url: str) -> None:
    url = shared_demo_db_url
    some = await fetchval(
        url,
        "INSERT INTO participation (person_id, compound_id, kind, ref_id, hours, occurred_at)"
        " SELECT p.id, c.id, 'MEETING', gen_random_uuid(), 0, now() FROM person p, compound c"
        " WHERE p.phone = $1 AND c.key = 'qianshan-meilin' RETURNING id",
        CHIEF,
    )
    for statement in (
        "UPDATE participation SET hours = hours + 1 WHERE id = $1",
        "DELETE FROM participation WHERE id = $1",
    ):
        with pytest.raises(asyncpg.exceptions.RestrictViolationError):
            await fetch(url, statement, some)


READERS = [
    ("member", True, False),
    (COMMITTEE, True, True),
    (OTHER_COMMITTEE, False, False),
    (GRID, False, False),
    (ADMIN, False, False),
    (CHIEF, False, False),
    (RESIDENT, False, False),
]


@pytest.mark.parametrize("case", range(len(READERS)))
async def test_who_reads_and_who_corrects(shared_api: Api, shared_demo_db_url: str, case: int) -> None:
    api, url = shared_api, shared_demo_db_url
    who, reads, corrects = READERS[case]
    token, me = await a_registered_member(api, url, f"1399996{case + 100:04d}", "4-1-201")
    task = await a_task(api, url)
    await ok(
        api,
        url,
        GRID,
        "mutation($id: ID!, $p: ID) { assignTask(id: $id, assigneeId: $p) { id } }",
        id=task,
        p=me,
    )
    await ok(api, url, token, "mutation($id: ID!) { startTask(id: $id) { status } }", id=task)
    await ok(
        api, url, token, 'mutation($id: ID!) { resolveTask(id: $id, resolution: "已办") { status } }', id=task
    )
    entry = (await ok(api, url, token, RECORD, p=me))["participationRecord"]["entries"]["edges"][0]["node"][
        "id"
    ]
    caller = token if who == "member" else await token_for(url, who)
    body = await api.gql(RECORD, {"p": me}, token=caller)
    if reads:
        assert body["data"]["participationRecord"]["tasks"] == 1
    else:
        assert error(body)[0] == "FORBIDDEN"
    node = await api.gql(
        "query($id: ID!) { node(id: $id) { ... on ParticipationEntry { kind } } }",
        {"id": entry},
        token=caller,
    )
    if reads:
        assert node["data"]["node"] == {"kind": "TASK"}
    else:
        assert error(node) == ("FORBIDDEN", None, NOT_VISIBLE)
    reversed_ = await api.gql(REVERSE, {"id": entry, "r": "误记"}, token=caller)
    if corrects:
        made = reversed_["data"]["reverseParticipation"]
        assert (made["count"], made["reversesId"], made["reason"], made["points"]) == (
            -1,
            entry,
            "误记",
            "-3.00",
        )
        again = await api.gql(REVERSE, {"id": entry, "r": "误记"}, token=caller)
        assert error(again)[0] == "CONFLICT"
        assert error(await api.gql(REVERSE, {"id": made["id"], "r": "再冲"}, token=caller))[0] == "CONFLICT"
        assert (await ok(api, url, token, RECORD, p=me))["participationRecord"]["tasks"] == 0
        audited = await fetchval(
            url,
            "SELECT count(*) FROM audit_record WHERE payload::jsonb->>'action' = 'CORRECT_PARTY_RECORD'"
            " AND payload::jsonb->>'object_id' = $1",
            str(
                await fetchval(
                    url,
                    "SELECT reverses_id FROM participation WHERE reason = '误记' AND person_id = (SELECT id FROM person WHERE phone = $1)",
                    f"1399996{case + 100:04d}",
                )
            ),
        )
        assert audited == 1
    else:
        assert error(reversed_)[0] == "FORBIDDEN"
        assert (await ok(api, url, token, RECORD, p=me))["participationRecord"]["tasks"] == 1


async def test_committee_reads_of_a_record_are_recorded(shared_api: Api, shared_demo_db_url: str) -> None:
    api, url = shared_api, shared_demo_db_url
    chief = encode("Person", await fetchval(url, "SELECT id FROM person WHERE phone = $1", CHIEF))
    count = "SELECT count(*) FROM audit_record WHERE payload::jsonb->>'action' = 'REVEAL'"
    await api.app.state.services.reveals.flush()
    before = await fetchval(url, count)
    await ok(api, url, COMMITTEE, RECORD, p=chief)
    await api.app.state.services.reveals.flush()
    assert await fetchval(url, count) == before + 1
