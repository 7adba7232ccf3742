"""Meetings and volunteer calls cancelled or moved, on the demo world: the change is on the meeting
or call for everyone who sees it (the invitees, the volunteers signed up), on the task's timeline,
refused once the meeting was held or a volunteer served, and refused whole on bad input."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
import pytest_asyncio

from models.schedule_rules import (
    CHINA,
    call_change_problem,
    call_times_problem,
    meeting_time_problem,
    shown,
    shown_span,
)
from resolvers.ids import decode, encode
from tests.conftest import Api, fetchval, person_id, token_for
from tests.test_task_api import Desk
from tests.test_task_matrix import CALLERS, TEAM, prepared_task

CHIEF, GRID, RESIDENT, TENANT, OUTSIDER = (
    "13800000001",
    "13800000003",
    "13800000007",
    "13800000008",
    "13800000011",
)

SCHEDULE = """mutation($input: ScheduleMeetingInput!) { scheduleMeeting(input: $input) { id heldAt } }"""
RESCHEDULE_MEETING = """mutation($id: ID!, $heldAt: DateTime!, $location: String, $reason: String) {
  rescheduleMeeting(meetingId: $id, heldAt: $heldAt, location: $location, reason: $reason) {
    id heldAt location previousHeldAt rescheduledAt rescheduleReason cancelledAt } }"""
CANCEL_MEETING = """mutation($id: ID!, $reason: String!) {
  cancelMeeting(meetingId: $id, reason: $reason) { id cancelledAt cancelReason } }"""
RECORD = """mutation($id: ID!) { recordMeetingDecisions(meetingId: $id, decisions: ["同意"]) { id } }"""
MEETINGS = """query($id: ID!) { task(id: $id) { meetings {
  id topic heldAt location previousHeldAt rescheduleReason cancelledAt cancelReason } } }"""

OPEN_CALL = """mutation($input: OpenVolunteerCallInput!) { openVolunteerCall(input: $input) { id } }"""
RESCHEDULE_CALL = """mutation($id: ID!, $startsAt: DateTime!, $endsAt: DateTime!, $reason: String) {
  rescheduleVolunteerCall(callId: $id, startsAt: $startsAt, endsAt: $endsAt, reason: $reason) {
    startsAt endsAt previousStartsAt rescheduledAt rescheduleReason signedCount waitlistCount } }"""
CANCEL_CALL = """mutation($id: ID!, $reason: String!) {
  cancelVolunteerCall(callId: $id, reason: $reason) { cancelledAt cancelReason signedCount } }"""
SIGN_UP = """mutation($id: ID!) { signUp(callId: $id) { myStatus } }"""
WITHDRAW = """mutation($id: ID!) { withdraw(callId: $id) { myStatus } }"""
CHECK_IN = """mutation($c: ID!, $p: ID!) { checkIn(callId: $c, personId: $p) { signedCount } }"""
CALLS = """query($id: ID!) { task(id: $id) { volunteerCalls {
  startsAt endsAt previousStartsAt rescheduleReason cancelledAt cancelReason myStatus signedCount } } }"""
TIMELINE = """query($id: ID!) { task(id: $id) { timeline(first: 50) { edges { node { kind text } } } } }"""


@pytest_asyncio.fixture
async def desk(api: Api, demo_db_url: str) -> AsyncIterator[Desk]:
    yield Desk(api, demo_db_url)


def later(days: int, hour: int = 19) -> datetime:
    """`hour` o'clock Beijing time on the day `days` from today, as a client sends it."""
    day = (datetime.now(UTC) + timedelta(days=days)).astimezone(CHINA).date()
    return datetime(day.year, day.month, day.day, hour, tzinfo=CHINA)


def error(body: dict) -> tuple[str, str | None]:
    (first,) = body["errors"]
    return first["extensions"]["code"], first["extensions"].get("field")


async def events(desk: Desk) -> int:
    return await fetchval(desk.url, "SELECT count(*) FROM task_event")


async def a_task(desk: Desk) -> str:
    task_id = await desk.new_task(category="ENVIRONMENT", title="后山树枝清理", buildingId=None)
    accepted = await desk.do(CHIEF, "acceptTask", id=task_id)
    assert "errors" not in accepted, accepted
    return task_id


async def a_meeting(desk: Desk, task_id: str, held_at: datetime, invited: list[str]) -> str:
    body = await desk.as_(
        CHIEF,
        SCHEDULE,
        {
            "input": {
                "taskId": task_id,
                "topic": "清理方案讨论",
                "heldAt": held_at.isoformat(),
                "location": "物业会议室",
                "attendeeIds": invited,
            }
        },
    )
    assert "errors" not in body, body
    return body["data"]["scheduleMeeting"]["id"]


async def a_call(desk: Desk, task_id: str, needed: int = 2, starts: datetime | None = None) -> str:
    starts = starts or later(3, hour=9)
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


# --- meetings ---------------------------------------------------------------------------------------


async def test_a_meeting_is_moved_then_called_off_and_the_invitees_see_both(desk: Desk) -> None:
    task_id = await a_task(desk)
    resident = encode("Person", await person_id(desk.url, RESIDENT))
    first = later(2)
    meeting_id = await a_meeting(desk, task_id, first, [resident])

    second = later(4)
    moved = await desk.as_(
        CHIEF,
        RESCHEDULE_MEETING,
        {"id": meeting_id, "heldAt": second.isoformat(), "location": "6栋架空层", "reason": "主讲人出差"},
    )
    assert "errors" not in moved, moved
    meeting = moved["data"]["rescheduleMeeting"]
    assert datetime.fromisoformat(meeting["heldAt"]) == second
    assert datetime.fromisoformat(meeting["previousHeldAt"]) == first
    assert meeting["location"] == "6栋架空层" and meeting["rescheduleReason"] == "主讲人出差"
    assert meeting["rescheduledAt"] is not None and meeting["cancelledAt"] is None

    # the invitee reads the move on the task's meeting
    (seen,) = (await desk.as_(RESIDENT, MEETINGS, {"id": task_id}))["data"]["task"]["meetings"]
    assert datetime.fromisoformat(seen["previousHeldAt"]) == first
    assert seen["rescheduleReason"] == "主讲人出差" and seen["cancelledAt"] is None

    called_off = await desk.as_(CHIEF, CANCEL_MEETING, {"id": meeting_id, "reason": "问题已由物业解决"})
    assert "errors" not in called_off, called_off
    assert called_off["data"]["cancelMeeting"]["cancelReason"] == "问题已由物业解决"
    (seen,) = (await desk.as_(RESIDENT, MEETINGS, {"id": task_id}))["data"]["task"]["meetings"]
    assert seen["cancelledAt"] is not None and seen["cancelReason"] == "问题已由物业解决"
    assert seen["topic"] == "清理方案讨论"  # still on the task, marked cancelled

    # a cancelled meeting is not moved, cancelled again, or given minutes; nothing is written
    before = await events(desk)
    again = await desk.as_(CHIEF, CANCEL_MEETING, {"id": meeting_id, "reason": "再取消"})
    assert error(again) == ("CONFLICT", None) and "已经取消" in again["errors"][0]["message"]
    move = await desk.as_(CHIEF, RESCHEDULE_MEETING, {"id": meeting_id, "heldAt": later(5).isoformat()})
    assert error(move) == ("CONFLICT", None)
    assert error(await desk.as_(CHIEF, RECORD, {"id": meeting_id}))[0] == "CONFLICT"
    assert await events(desk) == before

    timeline = (await desk.as_(CHIEF, TIMELINE, {"id": task_id}))["data"]["task"]["timeline"]["edges"]
    changes = [(e["node"]["kind"], e["node"]["text"]) for e in timeline[-2:]]
    assert changes == [
        (
            "MEETING_RESCHEDULED",
            f"专题会议「清理方案讨论」改期：由 {shown(first)} 改为 {shown(second)}（主讲人出差）",
        ),
        ("MEETING_CANCELLED", "取消专题会议「清理方案讨论」：问题已由物业解决"),
    ]


async def test_a_held_meeting_is_neither_moved_nor_cancelled(desk: Desk) -> None:
    task_id = await a_task(desk)
    held = datetime.now(UTC).replace(microsecond=0) - timedelta(days=1)
    meeting_id = await a_meeting(desk, task_id, held, [])
    assert "errors" not in await desk.as_(CHIEF, RECORD, {"id": meeting_id})
    before = await events(desk)
    cancel = await desk.as_(CHIEF, CANCEL_MEETING, {"id": meeting_id, "reason": "搞错了"})
    assert error(cancel) == ("CONFLICT", None) and "已经记录了会议决定" in cancel["errors"][0]["message"]
    move = await desk.as_(CHIEF, RESCHEDULE_MEETING, {"id": meeting_id, "heldAt": later(2).isoformat()})
    assert error(move) == ("CONFLICT", None)
    assert await events(desk) == before
    assert await fetchval(desk.url, "SELECT cancelled_at IS NULL AND rescheduled_at IS NULL FROM meeting")


@pytest.mark.parametrize(
    ("mutation", "variables", "field"),
    [
        (CANCEL_MEETING, {"reason": "  "}, "reason"),
        (CANCEL_MEETING, {"reason": "因" * 201}, "reason"),
        (RESCHEDULE_MEETING, {"heldAt": "2020-01-01T19:00:00+08:00"}, "heldAt"),
        (RESCHEDULE_MEETING, {"heldAt": "2099-01-01T19:00:00+08:00"}, "heldAt"),
        (RESCHEDULE_MEETING, {"heldAt": "SAME"}, "heldAt"),
        (RESCHEDULE_MEETING, {"heldAt": "LATER", "location": "地" * 101}, "location"),
        (RESCHEDULE_MEETING, {"heldAt": "LATER", "reason": "因" * 201}, "reason"),
    ],
)
async def test_bad_meeting_changes_name_the_field_and_write_nothing(
    desk: Desk, mutation: str, variables: dict, field: str
) -> None:
    task_id = await a_task(desk)
    held = later(2)
    meeting_id = await a_meeting(desk, task_id, held, [])
    stands_for = {"SAME": held, "LATER": later(3)}
    if variables.get("heldAt") in stands_for:
        variables = {**variables, "heldAt": stands_for[variables["heldAt"]].isoformat()}
    before = await events(desk)
    body = await desk.as_(CHIEF, mutation, {"id": meeting_id, **variables})
    assert error(body) == ("BAD_USER_INPUT", field), body
    assert await events(desk) == before
    assert await fetchval(desk.url, "SELECT cancelled_at IS NULL AND rescheduled_at IS NULL FROM meeting")


async def test_a_cancellation_racing_the_minutes_leaves_one_of_them(desk: Desk) -> None:
    task_id = await a_task(desk)
    await desk.token(GRID)
    for _ in range(3):
        meeting_id = await a_meeting(desk, task_id, datetime.now(UTC) - timedelta(hours=1), [])
        cancelled, recorded = await asyncio.gather(
            desk.as_(GRID, CANCEL_MEETING, {"id": meeting_id, "reason": "取消"}),
            desk.as_(CHIEF, RECORD, {"id": meeting_id}),
        )
        winners = [b for b in (cancelled, recorded) if "errors" not in b]
        assert len(winners) == 1, (cancelled, recorded)
        loser = recorded if winners[0] is cancelled else cancelled
        assert error(loser) == ("CONFLICT", None)
        ident = decode(meeting_id)[1]
        state = await fetchval(
            desk.url,
            "SELECT (cancelled_at IS NOT NULL)::int + (cardinality(decisions) > 0)::int FROM meeting WHERE id = $1",
            ident,
        )
        assert state == 1


# --- volunteer calls --------------------------------------------------------------------------------


async def test_a_call_is_moved_then_called_off_and_the_volunteers_see_both(desk: Desk) -> None:
    task_id = await a_task(desk)
    call_id = await a_call(desk, task_id, needed=2)
    volunteers = [RESIDENT, TENANT, "13800000012"]
    for phone in volunteers:
        assert "errors" not in await desk.as_(phone, SIGN_UP, {"id": call_id})

    first = later(3, hour=9)
    starts, ends = later(5, hour=8), later(5, hour=11)
    moved = await desk.as_(
        CHIEF,
        RESCHEDULE_CALL,
        {"id": call_id, "startsAt": starts.isoformat(), "endsAt": ends.isoformat(), "reason": "周六有雨"},
    )
    assert "errors" not in moved, moved
    call = moved["data"]["rescheduleVolunteerCall"]
    assert datetime.fromisoformat(call["startsAt"]) == starts
    assert datetime.fromisoformat(call["endsAt"]) == ends
    assert datetime.fromisoformat(call["previousStartsAt"]) == first
    # sign-ups and the waitlist stay as they were
    assert (call["signedCount"], call["waitlistCount"]) == (2, 1)

    (seen,) = (await desk.as_(TENANT, CALLS, {"id": task_id}))["data"]["task"]["volunteerCalls"]
    assert seen["myStatus"] == "SIGNED" and seen["rescheduleReason"] == "周六有雨"
    assert datetime.fromisoformat(seen["previousStartsAt"]) == first

    called_off = await desk.as_(CHIEF, CANCEL_CALL, {"id": call_id, "reason": "物业已安排绿化公司清理"})
    assert "errors" not in called_off, called_off
    assert called_off["data"]["cancelVolunteerCall"]["signedCount"] == 2
    for phone, status in zip(volunteers, ["SIGNED", "SIGNED", "WAITLIST"], strict=True):
        (seen,) = (await desk.as_(phone, CALLS, {"id": task_id}))["data"]["task"]["volunteerCalls"]
        assert seen["myStatus"] == status
        assert seen["cancelledAt"] is not None and seen["cancelReason"] == "物业已安排绿化公司清理"

    # nobody signs up, withdraws or is checked in on a cancelled call, and it is not moved again
    before = (await events(desk), await fetchval(desk.url, "SELECT count(*) FROM volunteer_signup"))
    assert error(await desk.as_("13800000006", SIGN_UP, {"id": call_id})) == ("CONFLICT", None)
    assert error(await desk.as_(RESIDENT, WITHDRAW, {"id": call_id})) == ("CONFLICT", None)
    resident = encode("Person", await person_id(desk.url, RESIDENT))
    assert error(await desk.as_(CHIEF, CHECK_IN, {"c": call_id, "p": resident})) == ("CONFLICT", None)
    again = await desk.as_(
        CHIEF, RESCHEDULE_CALL, {"id": call_id, "startsAt": first.isoformat(), "endsAt": ends.isoformat()}
    )
    assert error(again) == ("CONFLICT", None)
    assert error(await desk.as_(CHIEF, CANCEL_CALL, {"id": call_id, "reason": "x"})) == ("CONFLICT", None)
    assert (await events(desk), await fetchval(desk.url, "SELECT count(*) FROM volunteer_signup")) == before

    timeline = (await desk.as_(CHIEF, TIMELINE, {"id": task_id}))["data"]["task"]["timeline"]["edges"]
    assert [e["node"]["kind"] for e in timeline[-2:]] == [
        "VOLUNTEER_CALL_RESCHEDULED",
        "VOLUNTEER_CALL_CANCELLED",
    ]
    assert timeline[-2]["node"]["text"].endswith(f"改为 {shown_span(starts, ends)}（周六有雨）")


async def test_a_served_call_is_neither_moved_nor_cancelled(desk: Desk) -> None:
    task_id = await a_task(desk)
    call_id = await a_call(desk, task_id)
    await desk.as_(RESIDENT, SIGN_UP, {"id": call_id})
    resident = encode("Person", await person_id(desk.url, RESIDENT))
    assert "errors" not in await desk.as_(CHIEF, CHECK_IN, {"c": call_id, "p": resident})
    before = await events(desk)
    cancel = await desk.as_(CHIEF, CANCEL_CALL, {"id": call_id, "reason": "搞错了"})
    assert error(cancel) == ("CONFLICT", None) and "1 位志愿者签到" in cancel["errors"][0]["message"]
    move = await desk.as_(
        CHIEF,
        RESCHEDULE_CALL,
        {"id": call_id, "startsAt": later(6, 9).isoformat(), "endsAt": later(6, 11).isoformat()},
    )
    assert error(move) == ("CONFLICT", None)
    assert await events(desk) == before


@pytest.mark.parametrize(
    ("starts", "ends", "field"),
    [
        ((4, 9), (4, 8), "endsAt"),
        ((-2, 9), (-2, 11), "endsAt"),
        ((400, 9), (400, 11), "startsAt"),
        ((3, 9), (3, 12), "startsAt"),  # what it already is
    ],
)
async def test_bad_call_moves_name_the_field_and_write_nothing(
    desk: Desk, starts: tuple[int, int], ends: tuple[int, int], field: str
) -> None:
    task_id = await a_task(desk)
    call_id = await a_call(desk, task_id, starts=later(3, 9))
    starts, ends = later(*starts), later(*ends)
    before = await events(desk)
    body = await desk.as_(
        CHIEF, RESCHEDULE_CALL, {"id": call_id, "startsAt": starts.isoformat(), "endsAt": ends.isoformat()}
    )
    assert error(body) == ("BAD_USER_INPUT", field), body
    empty = await desk.as_(CHIEF, CANCEL_CALL, {"id": call_id, "reason": ""})
    assert error(empty) == ("BAD_USER_INPUT", "reason")
    assert await events(desk) == before
    assert await fetchval(
        desk.url, "SELECT cancelled_at IS NULL AND rescheduled_at IS NULL FROM volunteer_call"
    )


async def test_a_cancellation_racing_a_check_in_leaves_one_of_them(desk: Desk) -> None:
    task_id = await a_task(desk)
    resident = encode("Person", await person_id(desk.url, RESIDENT))
    await desk.token(GRID)
    for _ in range(3):
        call_id = await a_call(desk, task_id)
        assert "errors" not in await desk.as_(RESIDENT, SIGN_UP, {"id": call_id})
        cancelled, checked = await asyncio.gather(
            desk.as_(GRID, CANCEL_CALL, {"id": call_id, "reason": "取消"}),
            desk.as_(CHIEF, CHECK_IN, {"c": call_id, "p": resident}),
        )
        winners = [b for b in (cancelled, checked) if "errors" not in b]
        assert len(winners) == 1, (cancelled, checked)
        loser = checked if winners[0] is cancelled else cancelled
        assert error(loser) == ("CONFLICT", None)
        ident = decode(call_id)[1]
        state = await fetchval(
            desk.url,
            "SELECT (c.cancelled_at IS NOT NULL)::int"
            " + (SELECT count(*) FROM volunteer_signup s WHERE s.call_id = c.id AND s.checked_in_at IS NOT NULL)"
            " FROM volunteer_call c WHERE c.id = $1",
            ident,
        )
        assert state == 1


# --- who may: every caller, both ways -------------------------------------------------------------


@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.asyncio(loop_scope="module")
async def test_who_may_move_and_cancel_meetings_and_calls(
    shared_api: Api, shared_demo_db_url: str, caller: str
) -> None:
    api, demo_db_url = shared_api, shared_demo_db_url
    desk = Desk(api, demo_db_url)
    task_id = await prepared_task(api, demo_db_url, "ACCEPTED")
    meeting_id = await a_meeting(desk, task_id, later(2), [])
    call_id = await a_call(desk, task_id)
    token = await token_for(demo_db_url, caller)
    attempts = [
        (RESCHEDULE_MEETING, {"id": meeting_id, "heldAt": later(3).isoformat()}),
        (CANCEL_MEETING, {"id": meeting_id, "reason": "改为线上沟通"}),
        (
            RESCHEDULE_CALL,
            {"id": call_id, "startsAt": later(4, 9).isoformat(), "endsAt": later(4, 11).isoformat()},
        ),
        (CANCEL_CALL, {"id": call_id, "reason": "已由物业处理"}),
    ]
    for mutation, variables in attempts:
        before = await events(desk)
        body = await api.gql(mutation, variables, token=token)
        if caller in TEAM:
            assert "errors" not in body, (caller, body)
            assert await events(desk) == before + 1
        else:
            assert error(body) == ("FORBIDDEN", None), (caller, body)
            assert await events(desk) == before
    changed = await fetchval(
        demo_db_url,
        "SELECT (SELECT count(*) FROM meeting WHERE id = $1 AND cancelled_at IS NOT NULL"
        " AND rescheduled_at IS NOT NULL) + (SELECT count(*) FROM volunteer_call WHERE id = $2"
        " AND cancelled_at IS NOT NULL AND rescheduled_at IS NOT NULL)",
        decode(meeting_id)[1],
        decode(call_id)[1],
    )
    assert changed == (2 if caller in TEAM else 0)


async def test_an_outsider_is_told_nothing_exists(desk: Desk) -> None:
    """A caller who cannot see the task gets the same answer for a real meeting and a made-up one."""
    task_id = await a_task(desk)
    meeting_id = await a_meeting(desk, task_id, later(2), [])
    real = await desk.as_(OUTSIDER, CANCEL_MEETING, {"id": meeting_id, "reason": "x"})
    made_up = await desk.as_(
        OUTSIDER, CANCEL_MEETING, {"id": encode("Meeting", decode(task_id)[1]), "reason": "x"}
    )
    assert real["errors"][0]["message"] == made_up["errors"][0]["message"]
    assert error(real) == error(made_up) == ("FORBIDDEN", None)


# --- the rules, without a database ------------------------------------------------------------------


def test_the_rules_for_moving() -> None:
    now = datetime(2026, 12, 3, 12, tzinfo=UTC)
    old = now + timedelta(days=1)
    assert meeting_time_problem(old, now + timedelta(days=2), now) is None
    assert meeting_time_problem(old, old, now) == "新的会议时间和原定时间相同，无需改期。"
    assert meeting_time_problem(old, now, now) == "新的会议时间必须晚于现在。"
    assert meeting_time_problem(old, datetime(2026, 12, 5, 19), now) is not None  # no time zone
    shift = (old, old + timedelta(hours=3))
    # a shift under way may be lengthened: its start has passed, its end has not
    assert call_times_problem(shift, (now - timedelta(hours=1), now + timedelta(hours=2)), now) is None
    assert call_times_problem(shift, shift, now) == ("startsAt", "新的时间和原定时间相同，无需改期。")
    assert call_times_problem(shift, (old, old), now) == ("endsAt", "结束时间必须晚于开始时间。")
    assert call_change_problem(cancelled=False, checked_in=0, change="取消") is None
    assert (
        call_change_problem(cancelled=True, checked_in=3, change="改期") == "这次接龙已经取消，不能再改期。"
    )
    assert shown_span(datetime(2026, 12, 5, 1, tzinfo=UTC), datetime(2026, 12, 5, 4, tzinfo=UTC)) == (
        "2026-12-05 09:00—12:00"
    )
    assert shown_span(datetime(2026, 12, 5, 14, tzinfo=UTC), datetime(2026, 12, 5, 17, tzinfo=UTC)) == (
        "2026-12-05 22:00—2026-12-06 01:00"
    )
