"""Messages to people, end to end: a resident consents in the mini-program, reports a problem, the
grid worker accepts and resolves it; the reporter's inbox shows both, and the WeChat fake on loopback
receives exactly the one message consented to, once, with the template's fields fitted to WeChat's
limits. Failures: a refused change sends nothing; WeChat busy, rate-limited or timing out is
retried, a refusal for good is not; two senders send each message once; a sender stopped in the
middle of a send never sends that message again."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
import pytest_asyncio
from pydantic import ValidationError

from app.database import create_engine, sessionmaker
from app.dev_wechat import SUBSCRIBE_SEND, FakeWeChat, run_fake_wechat
from app.settings import Settings
from auth.wechat import WeChatClient
from models.message import (
    MessageKind,
    Template,
    backoff,
    fit,
    template_data,
    template_problem,
)
from resolvers.ids import encode
from resolvers.messages import send_due
from tests.conftest import Api, fetch, fetchval, make_settings, running_api, token_for

RESIDENT, GRID, COMMITTEE = "13800000007", "13800000003", "13800000004"
TEMPLATE = "tmpl-report-status"
TEMPLATES = {
    "REPORT_STATUS": {
        "id": TEMPLATE,
        "fields": {"thing1": "title", "phrase2": "status", "time3": "at", "thing4": "note"},
        "page": "pages/task/detail",
    }
}
CONSENT = """mutation($r: [SubscriptionResultInput!]!) { recordSubscriptionConsent(results: $r) {
  templateId remaining } }"""
INBOX = """{ me { unreadNotifications notifications(first: 20) { edges { node { id kind title body subjectId
  readAt delivery } } } } }"""
REPORT = "mutation($i: ReportTaskInput!) { reportTask(input: $i) { id } }"
LONG_TITLE = "六栋二单元门口的窨井盖松动，老人小孩经过很危险"


@pytest.fixture
def fake() -> FakeWeChat:
    return FakeWeChat()


@pytest_asyncio.fixture
async def wechat_base(fake: FakeWeChat) -> AsyncIterator[str]:
    async with run_fake_wechat(fake) as base:
        yield base


@pytest_asyncio.fixture
async def wechat(fake: FakeWeChat, wechat_base: str) -> AsyncIterator[WeChatClient]:
    """A sender's client: a timeout of one second."""
    async with httpx.AsyncClient(timeout=1.0, trust_env=False) as http:
        yield WeChatClient(base_url=wechat_base, appid=fake.appid, secret=fake.secret, http=http)


@pytest_asyncio.fixture
async def api(demo_db_url: str, fake: FakeWeChat, wechat_base: str) -> AsyncIterator[Api]:
    """The API with WeChat (the fake) and the report template configured."""
    settings = make_settings(
        demo_db_url,
        QILIJIA_WECHAT_TEMPLATES=TEMPLATES,
        WECHAT_APPID=fake.appid,
        WECHAT_SECRET=fake.secret,
        WECHAT_API_BASE=wechat_base,
    )
    async with httpx.AsyncClient(timeout=5.0, trust_env=False) as http:
        async with running_api(demo_db_url, settings, wechat_http=http) as client:
            yield client


@pytest_asyncio.fixture
async def sessions(demo_db_url: str) -> AsyncIterator[Any]:
    engine = create_engine(demo_db_url, make_settings(demo_db_url), pool_size=4, max_overflow=0)
    yield sessionmaker(engine)
    await engine.dispose()


async def data(api: Api, url: str, phone: str, query: str, **variables: Any) -> dict[str, Any]:
    return await api.data(query, variables, token=await token_for(url, phone))


async def reported(api: Api, url: str, title: str = LONG_TITLE) -> str:
    compound = encode(
        "Compound", await fetchval(url, "SELECT id FROM compound WHERE key = 'qianshan-meilin'")
    )
    made = await data(
        api,
        url,
        RESIDENT,
        REPORT,
        i={
            "compoundId": compound,
            "kind": "ISSUE",
            "category": "OTHER",
            "title": title,
            "description": "请尽快修",
        },
    )
    return made["reportTask"]["id"]


async def with_wechat(url: str, phone: str, openid: str) -> None:
    await fetchval(url, "UPDATE person SET wechat_openid = $2 WHERE phone = $1 RETURNING id", phone, openid)


async def deliveries(url: str) -> list[str]:
    return [r["delivery"] for r in await fetch(url, "SELECT delivery FROM notification ORDER BY created_at")]


async def test_the_reporter_hears_of_their_report_once_per_consent(
    api: Api, demo_db_url: str, fake: FakeWeChat, wechat: WeChatClient, sessions: Any
) -> None:
    url = demo_db_url
    await with_wechat(url, RESIDENT, "openid-resident")
    answer = await data(api, url, RESIDENT, CONSENT, r=[{"templateId": TEMPLATE, "choice": "ACCEPT"}])
    assert answer["recordSubscriptionConsent"] == [{"templateId": TEMPLATE, "remaining": 1}]
    unknown = await api.gql(
        CONSENT, {"r": [{"templateId": "nope", "choice": "ACCEPT"}]}, token=await token_for(url, RESIDENT)
    )
    assert unknown["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"

    task = await reported(api, url)
    await data(api, url, GRID, "mutation($id: ID!) { acceptTask(id: $id) { status } }", id=task)
    await data(api, url, GRID, "mutation($id: ID!) { startTask(id: $id) { status } }", id=task)
    await data(
        api,
        url,
        GRID,
        'mutation($id: ID!) { resolveTask(id: $id, resolution: "已更换新的井盖并加固，请放心通行") { status } }',
        id=task,
    )
    # one consent, one message through WeChat: the second is in the inbox only
    assert await deliveries(url) == ["PENDING", "IN_APP"]
    assert await send_due(sessions, wechat) == 1
    assert await send_due(sessions, wechat) == 0
    (sent,) = fake.messages
    assert (sent["touser"], sent["template_id"], sent["page"]) == (
        "openid-resident",
        TEMPLATE,
        "pages/task/detail",
    )
    assert sent["data"]["thing1"]["value"] == LONG_TITLE[:19] + "…"
    assert sent["data"]["phrase2"]["value"] == "已受理"
    assert all(len(v["value"]) <= 20 for v in sent["data"].values())
    assert await deliveries(url) == ["SENT", "IN_APP"]

    inbox = (await data(api, url, RESIDENT, INBOX))["me"]
    assert inbox["unreadNotifications"] == 2
    resolved, accepted = (e["node"] for e in inbox["notifications"]["edges"])
    assert (resolved["title"], resolved["delivery"], resolved["subjectId"]) == (
        "您反映的事项已办结",
        "IN_APP",
        task,
    )
    assert "已更换新的井盖" in resolved["body"] and accepted["delivery"] == "SENT"
    marked = await data(
        api, url, RESIDENT, "mutation($ids: [ID!]) { markNotificationsRead(ids: $ids) }", ids=[accepted["id"]]
    )
    assert marked["markNotificationsRead"] == 1
    assert (await data(api, url, RESIDENT, INBOX))["me"]["unreadNotifications"] == 1
    assert (await data(api, url, RESIDENT, "mutation { markNotificationsRead }"))[
        "markNotificationsRead"
    ] == 1
    # someone else's inbox holds none of it, and marking cannot reach another's messages
    other = (await data(api, url, GRID, INBOX))["me"]
    assert other["notifications"]["edges"] == [] and other["unreadNotifications"] == 0
    reaching = await data(
        api, url, GRID, "mutation($ids: [ID!]) { markNotificationsRead(ids: $ids) }", ids=[resolved["id"]]
    )
    assert reaching["markNotificationsRead"] == 0

    # a change refused writes no message
    before = await fetchval(url, "SELECT count(*) FROM notification")
    refused = await api.gql(
        "mutation($id: ID!) { acceptTask(id: $id) { status } }",
        {"id": task},
        token=await token_for(url, GRID),
    )
    assert refused["errors"][0]["extensions"]["code"] == "CONFLICT"
    assert await fetchval(url, "SELECT count(*) FROM notification") == before

    # a reject takes back what was left; the next report's messages stay in the app
    await data(api, url, RESIDENT, CONSENT, r=[{"templateId": TEMPLATE, "choice": "ACCEPT"}])
    left = await data(api, url, RESIDENT, CONSENT, r=[{"templateId": TEMPLATE, "choice": "REJECT"}])
    assert left["recordSubscriptionConsent"] == [{"templateId": TEMPLATE, "remaining": 0}]
    second = await reported(api, url, "路灯不亮")
    await data(
        api,
        url,
        GRID,
        "mutation($id: ID!, $r: String!) { rejectTask(id: $id, reason: $r) { status } }",
        id=second,
        r="不属于小区范围",
    )
    assert (await deliveries(url))[-1] == "IN_APP"


async def pending(url: str, count: int, openid: str = "openid-resident") -> None:
    """Messages already written and due, as a committed change leaves them."""
    await with_wechat(url, RESIDENT, openid)
    person = await fetchval(url, "SELECT id FROM person WHERE phone = $1", RESIDENT)
    for n in range(count):
        await fetchval(
            url,
            "INSERT INTO notification (person_id, kind, title, body, ref_type, ref_id, delivery, template_id,"
            " data, next_attempt_at) VALUES ($1, 'REPORT_STATUS', '您反映的事项已受理', '…', 'Task',"
            " gen_random_uuid(), 'PENDING', $2, $3::jsonb, now()) RETURNING id",
            person,
            TEMPLATE,
            json.dumps({"thing1": {"value": f"第{n}件"}, "phrase2": {"value": "已受理"}}),
        )


async def test_what_failed_is_retried_what_may_have_arrived_is_not(
    demo_db_url: str, fake: FakeWeChat, wechat: WeChatClient, sessions: Any
) -> None:
    url = demo_db_url
    await pending(url, 2)
    due = "UPDATE notification SET next_attempt_at = now() WHERE delivery = 'PENDING' RETURNING id"
    state = "SELECT delivery, attempts, next_attempt_at > now() AS later, error FROM notification ORDER BY id"
    # WeChat busy, then its minute's quota spent: the round stops, nothing spends an attempt
    for errcode in (-1, 45011):
        calls = len(fake.calls_to(SUBSCRIBE_SEND))
        fake.send_errcodes = [errcode]
        assert await send_due(sessions, wechat) == 0
        assert len(fake.calls_to(SUBSCRIBE_SEND)) == calls + 1
        rows = await fetch(url, state)
        assert [r["delivery"] for r in rows] == ["PENDING", "PENDING"] and all(
            r["attempts"] == 0 for r in rows
        )
        assert any(r["later"] and str(errcode) in r["error"] for r in rows)
        await fetch(url, due)
    # WeChat not reached at all: safe to repeat, after a pause
    async with httpx.AsyncClient(timeout=1.0, trust_env=False) as http:
        unreachable = WeChatClient(
            base_url="http://127.0.0.1:9", appid=fake.appid, secret=fake.secret, http=http
        )
        assert await send_due(sessions, unreachable) == 0
    rows = await fetch(url, state)
    assert all(r["delivery"] == "PENDING" and r["attempts"] == 1 and r["later"] for r in rows)
    await fetch(url, due)
    # an error WeChat answered for this message: tried again after a longer pause
    fake.send_errcodes = [44002]
    assert await send_due(sessions, wechat) == 1  # the other one went through
    assert sorted(r["delivery"] for r in await fetch(url, state)) == ["PENDING", "SENT"]
    await fetch(url, due)
    assert await send_due(sessions, wechat) == 1
    assert len(fake.messages) == 2

    # sent, but the answer never came (a timeout): it may have arrived, so it is never sent again
    await pending(url, 1)
    fake.send_delay = 1.5  # past the client's timeout of one second
    assert await send_due(sessions, wechat) == 0
    await asyncio.sleep(0.8)  # the fake records it when it wakes up: WeChat had it after all
    fake.send_delay = 0.0
    (lost,) = [r for r in await fetch(url, state) if r["delivery"] not in ("SENT",)]
    assert lost["delivery"] == "UNCONFIRMED" and "可能已送达" in lost["error"]
    calls = len(fake.calls_to(SUBSCRIBE_SEND))
    await fetch(url, "UPDATE notification SET next_attempt_at = now() RETURNING id")
    assert await send_due(sessions, wechat) == 0
    assert len(fake.calls_to(SUBSCRIBE_SEND)) == calls and len(fake.messages) == 3

    # a user who no longer accepts: failed for good, never tried again
    fake.refused_openids = {"openid-refuser"}
    await fetch(url, "DELETE FROM notification WHERE delivery <> 'PENDING' RETURNING id")
    await pending(url, 1, openid="openid-refuser")
    assert await send_due(sessions, wechat) == 0
    row = (await fetch(url, "SELECT delivery, error FROM notification"))[0]
    assert row["delivery"] == "FAILED" and row["error"].startswith("43101")
    calls = len(fake.calls_to(SUBSCRIBE_SEND))
    await fetch(url, "UPDATE notification SET next_attempt_at = now() RETURNING id")
    assert await send_due(sessions, wechat) == 0
    assert len(fake.calls_to(SUBSCRIBE_SEND)) == calls


async def test_two_senders_send_each_message_once(
    demo_db_url: str, fake: FakeWeChat, wechat: WeChatClient, sessions: Any
) -> None:
    await pending(demo_db_url, 12)
    sent = await asyncio.gather(send_due(sessions, wechat), send_due(sessions, wechat))
    assert sum(sent) == 12
    titles = sorted(m["data"]["thing1"]["value"] for m in fake.messages)
    assert titles == sorted(f"第{n}件" for n in range(12))
    assert await deliveries(demo_db_url) == ["SENT"] * 12


async def test_a_message_a_stopped_sender_held_is_never_sent_again(
    demo_db_url: str, fake: FakeWeChat, wechat: WeChatClient, sessions: Any
) -> None:
    url = demo_db_url
    await pending(url, 2)
    # a sender claimed one and was killed before it could record the answer
    await fetchval(
        url,
        "UPDATE notification SET delivery = 'SENDING', attempts = 1, next_attempt_at = now() - interval '1 minute'"
        " WHERE id = (SELECT id FROM notification ORDER BY id LIMIT 1) RETURNING id",
    )
    assert await send_due(sessions, wechat) == 1  # the other one; the held one waits out its lease
    assert sorted(await deliveries(url)) == ["SENDING", "SENT"]
    await fetchval(
        url,
        "UPDATE notification SET next_attempt_at = now() - interval '11 minutes' WHERE delivery = 'SENDING' RETURNING id",
    )
    assert await send_due(sessions, wechat) == 0
    assert sorted(await deliveries(url)) == ["SENT", "UNCONFIRMED"]
    assert len(fake.messages) == 1


async def test_an_approved_registration_is_in_the_members_inbox(api: Api, demo_db_url: str) -> None:
    from tests.test_party import APPROVE, applied, member

    url = demo_db_url
    token = await member(url, "13999980001", ("qianshan-meilin", "4-1-101"))
    made = await applied(api, url, token, "4-1-101")
    await api.data(APPROVE, {"id": made["id"]}, token=await token_for(url, COMMITTEE))
    inbox = (await api.data(INBOX, token=token))["me"]
    (message,) = (e["node"] for e in inbox["notifications"]["edges"])
    assert (message["kind"], message["title"], message["delivery"]) == (
        "REGISTRATION_APPROVED",
        "党员报到已通过",
        "IN_APP",  # no template configured for this kind
    )
    assert message["subjectId"] == made["id"]


def test_values_are_fitted_to_wechat_limits() -> None:
    assert fit("thing1", "一" * 25) == "一" * 19 + "…"
    assert fit("phrase2", "不予受理并说明") == "不予受理并"
    assert fit("thing3", "两行\n文字") == "两行 文字"
    assert fit("thing4", "   ") == "-"
    assert fit("character_string5", "x" * 40) == "x" * 32
    data = template_data({"thing1": "title", "time2": "at"}, {"title": "井盖", "at": "2026-12-07 10:00"})
    assert data == {"thing1": {"value": "井盖"}, "time2": {"value": "2026-12-07 10:00"}}
    assert [backoff(n) for n in (1, 2, 3)] == [
        timedelta(seconds=30),
        timedelta(seconds=60),
        timedelta(seconds=120),
    ]


def test_a_template_that_cannot_be_filled_is_refused_at_start(monkeypatch: pytest.MonkeyPatch) -> None:
    assert template_problem(MessageKind.REPORT_STATUS, Template("t", {"thing1": "title"})) is None
    assert "thingx" in (template_problem(MessageKind.REPORT_STATUS, Template("t", {"thingx": "title"})) or "")
    assert "nothing" in (
        template_problem(MessageKind.REPORT_STATUS, Template("t", {"thing1": "nothing"})) or ""
    )
    # as an operator writes it: JSON in the environment
    monkeypatch.setenv("QILIJIA_WECHAT_TEMPLATES", json.dumps(TEMPLATES))
    assert Settings(_env_file=None).templates()[MessageKind.REPORT_STATUS].id == TEMPLATE
    monkeypatch.setenv(
        "QILIJIA_WECHAT_TEMPLATES",
        json.dumps({"REPORT_STATUS": {"id": "t", "fields": {"thing1": "nothing"}}}),
    )
    with pytest.raises(ValidationError, match="QILIJIA_WECHAT_TEMPLATES"):
        Settings(_env_file=None)


async def test_the_people_given_a_task_hear_of_it_once(api: Api, demo_db_url: str) -> None:
    url = demo_db_url
    task = await reported(api, url, "楼道灯坏了")
    await data(api, url, GRID, "mutation($id: ID!) { acceptTask(id: $id) { status } }", id=task)
    staff, convener = [
        encode("Person", await fetchval(url, "SELECT id FROM person WHERE phone = $1", phone))
        for phone in ("13800000005", "13800000002")
    ]
    grid = encode("Person", await fetchval(url, "SELECT id FROM person WHERE phone = $1", GRID))
    assign = """mutation($id: ID!, $p: ID, $m: [ID!]) { assignTask(id: $id, assigneeId: $p, memberIds: $m) {
      status } }"""
    # the property staff member leads, the building convener and the grid worker (who assigns) help
    await data(api, url, GRID, assign, id=task, p=staff, m=[convener, grid])
    # assigned again the same way: nobody newly given it, nobody told twice
    await data(api, url, GRID, assign, id=task, p=staff, m=[convener, grid])
    told = await fetch(
        url,
        "SELECT p.phone, n.title, n.body FROM notification n JOIN person p ON p.id = n.person_id"
        " WHERE n.kind = 'TASK_ASSIGNED' ORDER BY p.phone",
    )
    assert [r["phone"] for r in told] == ["13800000002", "13800000005"]
    assert "您是专班成员" in told[0]["body"] and "您是牵头人" in told[1]["body"]
    inbox = (await data(api, url, "13800000005", INBOX))["me"]
    assert inbox["notifications"]["edges"][0]["node"]["kind"] == "TASK_ASSIGNED"
