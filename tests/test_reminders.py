"""Reminders and the events of votes, end to end on the demo world: when each reminder is due (and
not before), that it is written once per person and key across repeated and concurrent rounds,
that a moved meeting or shift and an extended vote remind again, who hears of a vote (its owners,
not its tenants; not the households that voted), a consented owner's reminder reaching the WeChat
fake once through the jobs, and the community's service deadline that tasks are held to."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest
import pytest_asyncio
from sqlalchemy.exc import IntegrityError

from app.database import create_engine, sessionmaker
from app.dev_wechat import FakeWeChat, run_fake_wechat
from app.jobs import Outside, run_once
from auth.wechat import WeChatClient
from models.evaluation import PeriodKind
from models.message import MessageKind
from models.place import service_days_problem
from models.reminder_rules import (
    day_before_due,
    evaluation_closing,
    evaluation_key,
    meeting_key,
    shift_key,
    stamp,
    task_overdue,
    task_overdue_key,
    tomorrow,
    vote_closing_due,
    vote_closing_key,
)
from models.schedule_rules import CHINA
from resolvers.ids import decode, encode
from resolvers.messages import Said, tell
from resolvers.reminders import remind
from resolvers.vote import close_due_votes
from tests.conftest import Api, fetch, fetchval, make_settings, person_id, running_api, token_for
from tests.votes import CAST, open_building6_vote

OWNERS_COMMITTEE, COMMITTEE, OTHER_COMMITTEE = "13800000006", "13800000004", "13800000014"
RESIDENT, CO_OWNER, MULTI_UNIT_OWNER = "13800000007", "13800000012", "13800000018"
STAFF, OTHER_STAFF, GRID = "13800000005", "13800000015", "13800000003"
TENANTS = ("19104197499", "19114940774")  # of 6-1-301 and 6-2-701: no vote, no vote's messages
CLOSING_TEMPLATE = "tmpl-vote-closing"
TEMPLATES = {
    "VOTE_CLOSING": {
        "id": CLOSING_TEMPLATE,
        "fields": {"thing1": "title", "time2": "at", "thing3": "place", "thing4": "note"},
        "page": "pages/vote/detail",
    }
}
CONSENT = """mutation($r: [SubscriptionResultInput!]!) { recordSubscriptionConsent(results: $r) {
  remaining } }"""
HOUR = timedelta(hours=1)


def china(y: int, m: int, d: int, hh: int = 0, mm: int = 0, ss: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, ss, tzinfo=CHINA)


# --- the rules ------------------------------------------------------------------------------------


def test_when_each_reminder_is_due() -> None:
    closes = china(2031, 5, 10, 18)
    opened = closes - timedelta(days=7)
    assert [vote_closing_due(opened, closes, closes - d) for d in (25 * HOUR, 24 * HOUR, HOUR)] == [
        False,
        True,
        True,
    ]
    assert not vote_closing_due(opened, closes, closes)  # closed: the result is the next message
    assert not vote_closing_due(closes - 24 * HOUR, closes, closes - HOUR)  # a one-day vote
    assert vote_closing_due(closes - 24 * HOUR - timedelta(seconds=1), closes, closes - HOUR)

    # tomorrow's meetings and shifts, from 18:00 China time the day before (10:00 UTC)
    assert tomorrow(china(2031, 5, 6, 17, 59, 59)) is None
    assert tomorrow(datetime(2031, 5, 6, 10, tzinfo=UTC)) == (china(2031, 5, 7), china(2031, 5, 8))
    evening = china(2031, 5, 6, 18)
    assert [day_before_due(at, evening) for at in (china(2031, 5, 7), china(2031, 5, 7, 23, 59))] == [
        True,
        True,
    ]
    assert not day_before_due(china(2031, 5, 8), evening)
    assert not day_before_due(china(2031, 5, 6, 21), evening)  # this evening's: not "tomorrow"
    assert day_before_due(china(2031, 5, 7, 9), china(2031, 5, 6, 23, 30))  # scheduled late: at once

    created = china(2031, 5, 1, 10)
    assert not task_overdue(created, 7, china(2031, 5, 8, 9, 59, 59))
    assert task_overdue(created, 7, china(2031, 5, 8, 10))

    # the last seven days of the period the community evaluates by
    assert evaluation_closing(date(2031, 12, 24), PeriodKind.QUARTER) is None
    assert evaluation_closing(date(2031, 12, 25), PeriodKind.QUARTER) == ("2031Q4", date(2031, 12, 31))
    assert evaluation_closing(date(2031, 12, 31), PeriodKind.YEAR) == ("2031", date(2031, 12, 31))
    assert evaluation_closing(date(2031, 3, 25), PeriodKind.QUARTER) == ("2031Q1", date(2031, 3, 31))
    assert evaluation_closing(date(2031, 3, 25), PeriodKind.YEAR) is None
    assert evaluation_closing(date(2032, 1, 1), PeriodKind.QUARTER) is None

    # a key names the time it reminds of, to the microsecond, in UTC
    ident = uuid.UUID(int=1)
    assert stamp(china(2031, 5, 7, 9, 30)) == "20310507T013000.000000Z"
    assert vote_closing_key(ident, closes) != vote_closing_key(ident, closes + timedelta(microseconds=1))
    assert meeting_key(ident, closes).startswith("MEETING_TOMORROW:") and evaluation_key("2031Q2").endswith(
        "2031Q2"
    )
    assert [service_days_problem(d) is None for d in (0, 1, 365, 366)] == [False, True, True, False]


# --- fixtures and helpers -------------------------------------------------------------------------


@pytest_asyncio.fixture
async def sessions(demo_db_url: str) -> AsyncIterator[Any]:
    engine = create_engine(demo_db_url, make_settings(demo_db_url), pool_size=4, max_overflow=0)
    yield sessionmaker(engine)
    await engine.dispose()


async def told(url: str, kind: str, ref: uuid.UUID | None = None) -> list[tuple[str, str | None]]:
    """(phone, once key) of every message of a kind (about `ref`), in order."""
    rows = await fetch(
        url,
        "SELECT p.phone, n.once_key FROM notification n JOIN person p ON p.id = n.person_id"
        " WHERE n.kind = $1 AND ($2::uuid IS NULL OR n.ref_id = $2) ORDER BY p.phone, n.once_key",
        kind,
        ref,
    )
    return [(r["phone"], r["once_key"]) for r in rows]


def phones(rows: list[tuple[str, str | None]]) -> list[str]:
    return [phone for phone, _ in rows]


async def owner_phones(url: str, vote: uuid.UUID, *, not_voted: bool = False) -> list[str]:
    rows = await fetch(
        url,
        "SELECT DISTINCT p.phone FROM vote_owner o JOIN person p ON p.id = o.person_id"
        " JOIN vote_electorate e ON e.vote_id = o.vote_id AND e.household_id = o.household_id"
        " WHERE o.vote_id = $1 AND (NOT $2 OR e.choice IS NULL) ORDER BY p.phone",
        vote,
        not_voted,
    )
    return [r["phone"] for r in rows]


async def opened(api: Api, url: str, **overrides: object) -> tuple[str, uuid.UUID, datetime]:
    body = await open_building6_vote(api, url, await token_for(url, OWNERS_COMMITTEE), **overrides)
    assert "errors" not in body, body
    vote_id = body["data"]["openVote"]["id"]
    ident = decode(vote_id)[1]
    return vote_id, ident, await fetchval(url, "SELECT closes_at FROM vote WHERE id = $1", ident)


# --- votes ----------------------------------------------------------------------------------------


async def test_a_votes_owners_hear_it_open_close_soon_and_end(
    api: Api, demo_db_url: str, sessions: Any
) -> None:
    url = demo_db_url
    vote_id, vote, closes = await opened(api, url)
    owners = await owner_phones(url, vote)
    # every owner of the frozen electorate once (one owning two households too), no tenant
    assert phones(await told(url, "VOTE_OPENED", vote)) == owners
    assert MULTI_UNIT_OWNER in owners and not set(TENANTS) & set(owners)
    assert (
        await fetchval(
            url, "SELECT count(*) FROM notification WHERE person_id = $1", await person_id(url, TENANTS[0])
        )
        == 0
    )
    body = await api.data(CAST, {"id": vote_id, "choice": "AGREE"}, token=await token_for(url, RESIDENT))
    assert body["castBallot"]["households"]

    # not before its last day; then the owners of households that have not voted, once
    await remind(sessions, {}, now=closes - 25 * HOUR)
    assert await told(url, "VOTE_CLOSING", vote) == []
    await remind(sessions, {}, now=closes - 23 * HOUR)
    first = await told(url, "VOTE_CLOSING", vote)
    waiting = await owner_phones(url, vote, not_voted=True)
    assert phones(first) == waiting and len(waiting) == len(owners) - 2
    assert RESIDENT not in waiting and CO_OWNER not in waiting  # their household voted
    assert {key for _, key in first} == {vote_closing_key(vote, closes)}
    await remind(sessions, {}, now=closes - 22 * HOUR)
    assert await told(url, "VOTE_CLOSING", vote) == first

    # extended: reminded again before the new close, once, though two processes run at once
    later = closes + timedelta(days=2)
    await api.data(
        "mutation($id: ID!, $at: DateTime!) { extendVote(id: $id, closesAt: $at) { closesAt } }",
        {"id": vote_id, "at": later.isoformat()},
        token=await token_for(url, OWNERS_COMMITTEE),
    )
    await asyncio.gather(*(remind(sessions, {}, now=later - 23 * HOUR) for _ in range(2)))
    again = await told(url, "VOTE_CLOSING", vote)
    assert len(again) == 2 * len(first)
    assert sorted(k for _, k in again if k != vote_closing_key(vote, closes)) == [
        vote_closing_key(vote, later)
    ] * len(first)

    # closed by hand: every owner hears the result in plain words
    await api.data(
        "mutation($id: ID!) { closeVote(id: $id) { result } }",
        {"id": vote_id},
        token=await token_for(url, OWNERS_COMMITTEE),
    )
    assert phones(await told(url, "VOTE_RESULT", vote)) == owners
    result = await fetch(url, "SELECT DISTINCT title, body FROM notification WHERE kind = 'VOTE_RESULT'")
    assert [(r["title"], "未通过" in r["body"]) for r in result] == [("业主表决未通过", True)]
    # the result as it is published: the shares against the law's thresholds, in plain words
    published = await api.data(
        "query($id: ID!) { node(id: $id) { ... on Vote { result resultExplanation } } }",
        {"id": vote_id},
        token=await token_for(url, RESIDENT),
    )
    said = published["node"]["resultExplanation"]
    assert said.startswith("参与表决的业主专有部分面积占 ") and said.endswith("表决不成立，未通过。")
    assert published["node"]["result"] == "INVALID"

    # a vote of a day or less has no closing reminder; closed by the job, its owners hear the result
    _, short, short_closes = await opened(api, url, closesAt=(datetime.now(UTC) + 20 * HOUR).isoformat())
    await remind(sessions, {}, now=short_closes - HOUR)
    assert await told(url, "VOTE_CLOSING", short) == []
    await fetch(url, "UPDATE vote SET closes_at = now() - interval '1 minute' WHERE id = $1", short)
    assert await close_due_votes(sessions, {}) == 1
    assert phones(await told(url, "VOTE_RESULT", short)) == owners

    # called off: the owners told it opened hear that, and why
    called_off_id, called_off, _ = await opened(api, url)
    await api.data(
        "mutation($id: ID!, $r: String) { cancelVote(id: $id, reason: $r) { status } }",
        {"id": called_off_id, "r": "表决事项表述有误，将重新发起"},
        token=await token_for(url, OWNERS_COMMITTEE),
    )
    assert phones(await told(url, "VOTE_RESULT", called_off)) == owners
    cancelled = await fetch(
        url,
        "SELECT DISTINCT title, body FROM notification WHERE ref_id = $1 AND kind = 'VOTE_RESULT'",
        called_off,
    )
    assert [r["title"] for r in cancelled] == ["业主表决已撤销"] and "将重新发起" in cancelled[0]["body"]


async def test_a_consented_owners_reminder_reaches_wechat_once(demo_db_url: str) -> None:
    url, fake = demo_db_url, FakeWeChat()
    async with (
        run_fake_wechat(fake) as base,
        httpx.AsyncClient(timeout=5.0, trust_env=False) as http,
    ):
        settings = make_settings(
            url,
            QILIJIA_WECHAT_TEMPLATES=TEMPLATES,
            WECHAT_APPID=fake.appid,
            WECHAT_SECRET=fake.secret,
            WECHAT_API_BASE=base,
        )
        wechat = WeChatClient(base_url=base, appid=fake.appid, secret=fake.secret, http=http)
        engine = create_engine(url, settings, pool_size=4, max_overflow=0)
        sessions = sessionmaker(engine)
        try:
            async with running_api(url, settings, wechat_http=http) as api:
                await fetchval(
                    url,
                    "UPDATE person SET wechat_openid = 'openid-owner' WHERE phone = $1 RETURNING id",
                    MULTI_UNIT_OWNER,
                )
                owner = await token_for(url, MULTI_UNIT_OWNER)
                await api.data(
                    CONSENT, {"r": [{"templateId": CLOSING_TEMPLATE, "choice": "ACCEPT"}]}, token=owner
                )
                _, vote, _ = await opened(api, url)
                # it opened five days ago and closes in twenty hours: the jobs remind, then send
                await fetch(
                    url,
                    "UPDATE vote SET created_at = now() - interval '5 days', closes_at = now() + interval '20 hours'"
                    " WHERE id = $1",
                    vote,
                )
                closes = await fetchval(url, "SELECT closes_at FROM vote WHERE id = $1", vote)
                done = await run_once(sessions, settings.templates(), Outside(wechat=wechat))
                assert done["remind"] >= len(await owner_phones(url, vote)) and done["send_messages"] == 1
                again = await run_once(sessions, settings.templates(), Outside(wechat=wechat))
                assert (again["remind"], again["send_messages"]) == (0, 0)
                (sent,) = fake.messages
                assert (sent["touser"], sent["template_id"], sent["page"]) == (
                    "openid-owner",
                    CLOSING_TEMPLATE,
                    "pages/vote/detail",
                )
                assert sent["data"] == {
                    "thing1": {"value": "6栋加装电梯"},
                    "time2": {"value": f"{closes.astimezone(CHINA):%Y-%m-%d %H:%M}"},
                    "thing3": {"value": "千山美林"},
                    "thing4": {"value": "您家尚未投票"},
                }
                inbox = await api.data(
                    "{ me { notifications(first: 5) { edges { node { kind title body delivery subjectId } } } } }",
                    token=owner,
                )
                kinds = [
                    (e["node"]["kind"], e["node"]["delivery"]) for e in inbox["me"]["notifications"]["edges"]
                ]
                assert kinds == [("VOTE_CLOSING", "SENT"), ("VOTE_OPENED", "IN_APP")]
                assert inbox["me"]["notifications"]["edges"][0]["node"]["subjectId"] == encode("Vote", vote)
                assert "还没有投票" in inbox["me"]["notifications"]["edges"][0]["node"]["body"]
                # the one consent went to this message; the other owners' stay in the app
                assert await fetchval(url, "SELECT remaining FROM message_consent") == 0
                assert (
                    await fetchval(
                        url,
                        "SELECT count(*) FROM notification WHERE kind = 'VOTE_CLOSING' AND delivery <> 'IN_APP'",
                    )
                    == 1
                )
                # the unique index is the last guard: a second message of a key rolls its whole
                # transaction back, the consent it took included
                await api.data(
                    CONSENT, {"r": [{"templateId": CLOSING_TEMPLATE, "choice": "ACCEPT"}]}, token=owner
                )
                key = await fetchval(
                    url, "SELECT once_key FROM notification WHERE kind = 'VOTE_CLOSING' LIMIT 1"
                )
                again_said = Said(
                    await person_id(url, MULTI_UNIT_OWNER), "表决即将截止", "…", {}, once_key=key
                )
                with pytest.raises(IntegrityError):
                    async with sessions() as session, session.begin():
                        await tell(
                            session,
                            settings.templates(),
                            kind=MessageKind.VOTE_CLOSING,
                            ref_type="Vote",
                            ref_id=vote,
                            said=[again_said],
                        )
                assert await fetchval(url, "SELECT remaining FROM message_consent") == 1
        finally:
            await engine.dispose()


# --- meetings, shifts, tasks, evaluations -----------------------------------------------------------


async def a_task(
    url: str,
    *,
    status: str = "IN_PROGRESS",
    created: datetime | None = None,
    compound: str = "qianshan-meilin",
) -> uuid.UUID:
    return await fetchval(
        url,
        "INSERT INTO task (compound_id, kind, category, title, description, visibility, reopen_count, status, reporter_id,"
        " created_at)"
        " VALUES ((SELECT id FROM compound WHERE key = $1), 'ISSUE', 'OTHER', '3栋路灯不亮', '晚上很黑', 'PUBLIC', 0,"
        " $2, (SELECT id FROM person WHERE phone = $3), coalesce($4, now())) RETURNING id",
        compound,
        status,
        RESIDENT,
        created,
    )


async def a_meeting(
    url: str, task: uuid.UUID, at: datetime, people: list[str], *, cancelled: bool = False
) -> uuid.UUID:
    meeting = await fetchval(
        url,
        "INSERT INTO meeting (task_id, compound_id, topic, held_at, location, created_by, cancelled_at)"
        " SELECT id, compound_id, '路灯维修协调会', $2, '物业办公室', reporter_id,"
        " CASE WHEN $3 THEN now() END FROM task WHERE id = $1 RETURNING id",
        task,
        at,
        cancelled,
    )
    for phone in people:
        await fetchval(
            url,
            "INSERT INTO meeting_attendee (meeting_id, person_id, compound_id) SELECT $1, p.id, m.compound_id"
            " FROM meeting m, person p WHERE m.id = $1 AND p.phone = $2 RETURNING person_id",
            meeting,
            phone,
        )
    return meeting


async def a_shift(url: str, task: uuid.UUID, at: datetime, signups: dict[str, str]) -> uuid.UUID:
    call = await fetchval(
        url,
        "INSERT INTO volunteer_call (task_id, compound_id, title, needed, starts_at, ends_at, created_by, signed_count)"
        " SELECT id, compound_id, '清理楼道杂物', 2, $2, $2::timestamptz + interval '2 hours', reporter_id, 1 FROM task WHERE id = $1"
        " RETURNING id",
        task,
        at,
    )
    for phone, status in signups.items():
        await fetchval(
            url,
            "INSERT INTO volunteer_signup (call_id, person_id, compound_id, status) SELECT $1, p.id, c.compound_id, $3"
            " FROM volunteer_call c, person p WHERE c.id = $1 AND p.phone = $2 RETURNING person_id",
            call,
            phone,
            status,
        )
    return call


async def test_tomorrows_meetings_and_shifts_are_reminded_the_evening_before(
    demo_db_url: str, sessions: Any
) -> None:
    url = demo_db_url
    task = await a_task(url)
    held, starts = china(2031, 5, 7, 9, 30), china(2031, 5, 7, 8)
    meeting = await a_meeting(url, task, held, [STAFF, GRID])
    called_off = await a_meeting(url, task, china(2031, 5, 7, 10), [STAFF], cancelled=True)
    later = await a_meeting(url, task, china(2031, 5, 8, 9), [STAFF])
    shift = await a_shift(url, task, starts, {RESIDENT: "SIGNED", CO_OWNER: "WAITLIST", GRID: "WITHDRAWN"})

    await remind(sessions, {}, now=china(2031, 5, 6, 17, 59))
    assert await told(url, "MEETING_TOMORROW") == [] and await told(url, "SHIFT_TOMORROW") == []
    await remind(sessions, {}, now=china(2031, 5, 6, 18))
    assert await told(url, "MEETING_TOMORROW", meeting) == [
        (GRID, meeting_key(meeting, held)),
        (STAFF, meeting_key(meeting, held)),
    ]
    assert await told(url, "SHIFT_TOMORROW", shift) == [(RESIDENT, shift_key(shift, starts))]
    assert (
        await told(url, "MEETING_TOMORROW", called_off) == []
        and await told(url, "MEETING_TOMORROW", later) == []
    )
    body = await fetchval(url, "SELECT body FROM notification WHERE kind = 'MEETING_TOMORROW' LIMIT 1")
    assert "明天 09:30" in body and "物业办公室" in body
    assert "明天开始：2031-05-07 08:00—10:00" in await fetchval(
        url, "SELECT body FROM notification WHERE kind = 'SHIFT_TOMORROW'"
    )

    # once, however often the job runs
    await remind(sessions, {}, now=china(2031, 5, 6, 21))
    assert len(await told(url, "MEETING_TOMORROW")) == 2 and len(await told(url, "SHIFT_TOMORROW")) == 1

    # moved (still tomorrow): reminded again, once, though two processes run at once
    moved_to, shift_to = china(2031, 5, 7, 15), china(2031, 5, 7, 14)
    await fetch(url, "UPDATE meeting SET held_at = $2 WHERE id = $1", meeting, moved_to)
    await fetch(
        url,
        "UPDATE volunteer_call SET starts_at = $2, ends_at = $2::timestamptz + interval '1 hour' WHERE id = $1",
        shift,
        shift_to,
    )
    written = await asyncio.gather(*(remind(sessions, {}, now=china(2031, 5, 6, 22)) for _ in range(2)))
    assert sum(written) == 3
    assert [k for _, k in await told(url, "MEETING_TOMORROW", meeting)].count(
        meeting_key(meeting, moved_to)
    ) == 2
    assert await told(url, "SHIFT_TOMORROW", shift) == sorted(
        [(RESIDENT, shift_key(shift, starts)), (RESIDENT, shift_key(shift, shift_to))]
    )
    # on the day itself it is no longer "tomorrow"; the next day's is, from that evening
    await remind(sessions, {}, now=china(2031, 5, 7, 7))
    assert len(await told(url, "MEETING_TOMORROW")) == 4
    await remind(sessions, {}, now=china(2031, 5, 7, 18))
    assert await told(url, "MEETING_TOMORROW", later) == [(STAFF, meeting_key(later, china(2031, 5, 8, 9)))]


SERVICE_DAYS = "mutation($c: ID!, $d: Int!) { setServiceDays(communityId: $c, days: $d) { serviceDays } }"


async def test_the_service_deadline_and_the_evaluation_period(
    api: Api, demo_db_url: str, sessions: Any
) -> None:
    url = demo_db_url
    jiulong, tonghui = [
        encode("Community", await fetchval(url, "SELECT id FROM community WHERE key = $1", key))
        for key in ("jiulong", "tonghui")
    ]
    committee = await token_for(url, COMMITTEE)
    assert (await api.data(SERVICE_DAYS, {"c": jiulong, "d": 3}, token=committee))["setServiceDays"] == {
        "serviceDays": 3
    }
    refused = await api.error(SERVICE_DAYS, {"c": jiulong, "d": 5}, token=await token_for(url, RESIDENT))
    assert (refused["extensions"]["code"], refused["message"]) == (
        "FORBIDDEN",
        "只有本社区“两委”成员可以设定事项的办理时限。",
    )
    elsewhere = await api.error(
        SERVICE_DAYS, {"c": jiulong, "d": 5}, token=await token_for(url, OTHER_COMMITTEE)
    )
    assert elsewhere["extensions"]["code"] == "FORBIDDEN"
    for days in (0, 366):
        bad = await api.error(SERVICE_DAYS, {"c": jiulong, "d": days}, token=committee)
        assert (bad["extensions"]["code"], bad["extensions"].get("field"), bad["message"]) == (
            "BAD_USER_INPUT",
            "days",
            "办理时限须为 1 到 365 天之间的整数。",
        )
    shown = await api.data(
        "query($id: ID!) { node(id: $id) { ... on Community { serviceDays } } }",
        {"id": jiulong},
        token=committee,
    )
    assert shown["node"] == {"serviceDays": 3}
    assert (
        await fetchval(
            url, "SELECT count(*) FROM audit_record WHERE payload::jsonb->>'action' = 'SET_SERVICE_DAYS'"
        )
        == 1
    )

    # a task still worked on past its community's deadline: its working people, once
    reported = china(2031, 6, 1, 10)
    late = await a_task(url, status="ACCEPTED", created=reported)
    done = await a_task(url, status="RESOLVED", created=reported)
    slower = await a_task(url, status="IN_PROGRESS", created=reported, compound="dongfang-xintiandi")
    for task, phone, role in (
        (late, STAFF, "ASSIGNEE"),
        (late, RESIDENT, "PARTY"),
        (done, STAFF, "ASSIGNEE"),
        (slower, OTHER_STAFF, "LEAD"),
    ):
        await fetchval(
            url,
            "INSERT INTO task_member (task_id, person_id, role, compound_id) SELECT t.id, p.id, $3, t.compound_id"
            " FROM task t, person p WHERE t.id = $1 AND p.phone = $2 RETURNING role",
            task,
            phone,
            role,
        )
    await remind(sessions, {}, now=reported + timedelta(days=3, seconds=-1))
    assert await told(url, "TASK_OVERDUE") == []
    await remind(sessions, {}, now=reported + timedelta(days=3))
    await remind(sessions, {}, now=reported + timedelta(days=4))
    assert await told(url, "TASK_OVERDUE") == [(STAFF, task_overdue_key(late))]
    assert "3 天办理时限" in await fetchval(url, "SELECT body FROM notification WHERE kind = 'TASK_OVERDUE'")
    await remind(sessions, {}, now=reported + timedelta(days=7))  # tonghui keeps the default 7 days
    assert await told(url, "TASK_OVERDUE", slower) == [(OTHER_STAFF, task_overdue_key(slower))]

    # the last week of an evaluation period: the community's registered Party members, once
    members = {
        key: await fetchval(
            url,
            "SELECT count(*) FROM party_registration r JOIN compound k ON k.id = r.compound_id"
            " JOIN community c ON c.id = k.community_id WHERE r.status = 'APPROVED' AND c.key = $1",
            key,
        )
        for key in ("jiulong", "tonghui")
    }
    await api.data(
        "mutation($c: ID!) { setEvaluationPeriod(communityId: $c, period: YEAR) }",
        {"c": tonghui},
        token=await token_for(url, OTHER_COMMITTEE),
    )
    await remind(sessions, {}, now=china(2031, 6, 23, 23, 59))
    assert await told(url, "EVALUATION_CLOSING") == []
    await asyncio.gather(*(remind(sessions, {}, now=china(2031, 6, 24, 9)) for _ in range(2)))
    quarter = await told(url, "EVALUATION_CLOSING")
    assert len(quarter) == members["jiulong"] and {k for _, k in quarter} == {evaluation_key("2031Q2")}
    assert "2031Q2 期间的党员评价将于 2031-06-30 截止" in await fetchval(
        url, "SELECT body FROM notification WHERE kind = 'EVALUATION_CLOSING' LIMIT 1"
    )
    await remind(sessions, {}, now=china(2031, 12, 25, 9))
    keys = [k for _, k in await told(url, "EVALUATION_CLOSING")]
    assert (keys.count(evaluation_key("2031Q4")), keys.count(evaluation_key("2031"))) == (
        members["jiulong"],
        members["tonghui"],
    )
