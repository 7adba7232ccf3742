"""Content check of reports and comments through WeChat msgSecCheck (v2), against the fake server.

The app talks to `app.dev_wechat.FakeWeChat` over real loopback HTTP; the database is a
fresh copy of the demo world per test. The author is 张德明 (13800000007, owner of 6-1-302 in
千山美林), who logs in through WeChat (openid-a) and binds his phone, as the mini-program does.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import pytest_asyncio

from app.database import create_engine, sessionmaker
from app.dev_wechat import MSG_SEC_CHECK, STABLE_TOKEN, FakeWeChat, run_fake_wechat
from auth.wechat import WeChatClient
from models.errors import BadUserInputError
from resolvers.content import HELD, make_content_check
from resolvers.ids import decode
from tests.conftest import Api, fetch, fetchval, make_settings, running_api, token_for
from tests.votes import building_id, compound_id

pytestmark = pytest.mark.asyncio

ZHANG_PHONE = "13800000007"
RISKY_MESSAGE = "内容含有不适宜公开的信息，请修改后再提交。"
TITLE = "6栋门口井盖松动"
DESCRIPTION = "6栋1单元门口的井盖踩上去会晃，晚上有老人经过，担心摔倒。"
RISKY_WORD = "代开发票"  # the fake calls any text containing it risky
REVIEW_WORD = "维权群"  # … and any text containing this one "review"

REPORT = """mutation($input: ReportTaskInput!) {
  reportTask(input: $input) { id status title description heldForReview } }"""
COMMENT = """mutation($id: ID!, $text: String!) { commentTask(id: $id, text: $text) { kind text } }"""
LOGIN = "mutation($code: String!) { wechatLogin(code: $code) { token } }"
BIND = "mutation($code: String!) { bindPhone(code: $code) { token me { person { name } } } }"


# ---------------------------------------------------------------- fixtures


@pytest.fixture
def fake() -> FakeWeChat:
    return FakeWeChat(
        sessions={"code-a1": ("openid-a", "unionid-a")},
        phones={"phone-zhang": ZHANG_PHONE},
        verdicts={RISKY_WORD: "risky", REVIEW_WORD: "review"},
    )


@pytest_asyncio.fixture
async def wechat_http() -> AsyncIterator[httpx.AsyncClient]:
    # trust_env=False: a proxy configured in the environment must not see loopback traffic.
    async with httpx.AsyncClient(timeout=5.0, trust_env=False) as client:
        yield client


class Harness:
    """The app configured against a running fake WeChat, which a test may stop half-way."""

    def __init__(self, fake: FakeWeChat, url: str) -> None:
        self.fake, self.url = fake, url
        self.api: Api
        self._fake_cm = run_fake_wechat(fake)
        self.base = ""
        self.fake_running = False

    async def start_fake(self) -> str:
        self.base = await self._fake_cm.__aenter__()
        self.fake_running = True
        return self.base

    async def stop_fake(self) -> None:
        if self.fake_running:
            self.fake_running = False
            await self._fake_cm.__aexit__(None, None, None)

    async def wechat_user(self) -> str:
        """张德明 logs in through WeChat and binds his phone; his token."""
        login = await self.api.data(LOGIN, {"code": "code-a1"})
        bound = await self.api.data(BIND, {"code": "phone-zhang"}, token=login["wechatLogin"]["token"])
        assert bound["bindPhone"]["me"]["person"]["name"] == "张德明"
        assert await fetchval(self.url, "SELECT wechat_openid FROM person WHERE phone = $1", ZHANG_PHONE) == (
            "openid-a"
        )
        self.fake.calls.clear()  # from here on only the content checks (and tokens) are recorded
        return bound["bindPhone"]["token"]

    async def report(self, token: str, **overrides: Any) -> dict[str, Any]:
        variables = {
            "input": {
                "compoundId": await compound_id(self.url),
                "buildingId": await building_id(self.url),
                "category": "FACILITIES_REPAIR",
                "title": TITLE,
                "description": DESCRIPTION,
                **overrides,
            }
        }
        return await self.api.gql(REPORT, variables, token=token)


@pytest_asyncio.fixture
async def wx(demo_db_url: str, fake: FakeWeChat, wechat_http: httpx.AsyncClient) -> AsyncIterator[Harness]:
    harness = Harness(fake, demo_db_url)
    base = await harness.start_fake()
    try:
        settings = make_settings(
            demo_db_url, WECHAT_APPID=fake.appid, WECHAT_SECRET=fake.secret, WECHAT_API_BASE=base
        )
        assert settings.wechat_configured
        async with running_api(demo_db_url, settings, wechat_http=wechat_http) as api:
            harness.api = api
            yield harness
    finally:
        await harness.stop_fake()


# ----------------------------------------------------------------- helpers


async def task_rows(url: str) -> list[tuple[Any, ...]]:
    rows = await fetch(
        url, "SELECT id, title, description, status, review_hold FROM task ORDER BY created_at"
    )
    return [tuple(r) for r in rows]


async def event_rows(url: str) -> list[tuple[Any, ...]]:
    rows = await fetch(url, "SELECT task_id, kind, actor_role, payload FROM task_event ORDER BY seq")
    return [(r["task_id"], r["kind"], r["actor_role"], _json(r["payload"])) for r in rows]


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


def check_call(token: str, content: str, openid: str = "openid-a") -> dict[str, Any]:
    """What the fake records for one msgSecCheck call."""
    return {"access_token": token, "content": content, "version": 2, "scene": 2, "openid": openid}


def only_error(body: dict[str, Any]) -> dict[str, Any]:
    assert body["data"] is None, body
    assert len(body["errors"]) == 1, body
    return body["errors"][0]


async def created(h: Harness, body: dict[str, Any], *, held: bool) -> uuid.UUID:
    """The task a successful report created: exactly one row and one REPORTED event."""
    assert "errors" not in body, body
    task = body["data"]["reportTask"]
    assert task["status"] == "SUBMITTED"
    assert task["heldForReview"] is held
    ident = decode(task["id"], "Task")[1]
    assert await task_rows(h.url) == [(ident, TITLE, DESCRIPTION, "SUBMITTED", HELD if held else None)]
    payload = {"status": "SUBMITTED", **({"held_for_review": True} if held else {})}
    assert await event_rows(h.url) == [(ident, "REPORTED", "REPORTER", payload)]
    return ident


# ------------------------------------------------------------ reportTask


async def test_text_that_passes_is_published(wx: Harness) -> None:
    token = await wx.wechat_user()

    body = await wx.report(token)

    await created(wx, body, held=False)
    assert body["data"]["reportTask"]["title"] == TITLE
    assert wx.fake.calls_to(MSG_SEC_CHECK) == [check_call("fake-access-token-1", f"{TITLE}\n{DESCRIPTION}")]


async def test_risky_text_is_refused_and_nothing_is_written(wx: Harness) -> None:
    token = await wx.wechat_user()
    description = f"{DESCRIPTION}需要{RISKY_WORD}的加微信。"

    body = await wx.report(token, description=description)

    error = only_error(body)
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": "text"}
    assert error["message"] == RISKY_MESSAGE
    assert await fetchval(wx.url, "SELECT count(*) FROM task") == 0
    assert await fetchval(wx.url, "SELECT count(*) FROM task_event") == 0
    assert wx.fake.calls_to(MSG_SEC_CHECK) == [check_call("fake-access-token-1", f"{TITLE}\n{description}")]


async def test_risky_title_is_refused_too(wx: Harness) -> None:
    token = await wx.wechat_user()

    body = await wx.report(token, title=f"{RISKY_WORD}找我")

    assert only_error(body)["extensions"] == {"code": "BAD_USER_INPUT", "field": "text"}
    assert await task_rows(wx.url) == []
    assert await event_rows(wx.url) == []


async def test_text_to_review_is_published_held_for_review(wx: Harness) -> None:
    token = await wx.wechat_user()
    description = f"{DESCRIPTION}大家可以进{REVIEW_WORD}讨论。"

    body = await wx.report(token, description=description)

    assert "errors" not in body, body
    assert body["data"]["reportTask"]["heldForReview"] is True
    ident = decode(body["data"]["reportTask"]["id"], "Task")[1]
    assert await task_rows(wx.url) == [(ident, TITLE, description, "SUBMITTED", "HELD")]
    assert await event_rows(wx.url) == [
        (ident, "REPORTED", "REPORTER", {"status": "SUBMITTED", "held_for_review": True})
    ]
    assert wx.fake.calls_to(MSG_SEC_CHECK) == [check_call("fake-access-token-1", f"{TITLE}\n{description}")]


@pytest.mark.parametrize("errcode", [-1, 45011, 61010])
async def test_wechat_errors_hold_the_report_instead_of_losing_it(
    wx: Harness, errcode: int, caplog: pytest.LogCaptureFixture
) -> None:
    token = await wx.wechat_user()
    wx.fake.content_errcode = errcode

    with caplog.at_level(logging.WARNING, logger="qilijia"):
        body = await wx.report(token)

    await created(wx, body, held=True)
    assert wx.fake.calls_to(MSG_SEC_CHECK) == [check_call("fake-access-token-1", f"{TITLE}\n{DESCRIPTION}")]
    held_lines = [r.getMessage() for r in caplog.records if r.name == "qilijia.content"]
    assert held_lines == [f"content held for review: WeChat msgSecCheck failed (errcode {errcode})"]
    # the resident's text is personal data: it is in no log line
    assert all(DESCRIPTION not in r.getMessage() and TITLE not in r.getMessage() for r in caplog.records)


async def test_wechat_unreachable_holds_the_report(wx: Harness) -> None:
    token = await wx.wechat_user()
    await wx.stop_fake()

    body = await wx.report(token)

    await created(wx, body, held=True)
    assert wx.fake.calls_to(MSG_SEC_CHECK) == []  # nothing reached the (stopped) server


async def test_a_rejected_access_token_is_refreshed_once(wx: Harness) -> None:
    token = await wx.wechat_user()
    wx.fake.expire_token_once = True

    body = await wx.report(token)

    await created(wx, body, held=False)
    content = f"{TITLE}\n{DESCRIPTION}"
    assert wx.fake.calls_to(MSG_SEC_CHECK) == [
        check_call("fake-access-token-1", content),
        check_call("fake-access-token-2", content),
    ]
    assert [c["force_refresh"] for c in wx.fake.calls_to(STABLE_TOKEN)] == [True]


async def test_a_person_without_wechat_identity_is_held_without_asking_wechat(wx: Harness) -> None:
    # 李淑珍 (co-owner of 6-1-302) was imported and never logged in through WeChat: no openid.
    token = await token_for(wx.url, "13800000012")
    wx.fake.calls.clear()

    body = await wx.report(token)

    await created(wx, body, held=True)
    assert wx.fake.calls == []


# ------------------------------------------------------------ commentTask


async def test_comments_are_checked(wx: Harness) -> None:
    token = await wx.wechat_user()
    task_id = (await wx.report(token))["data"]["reportTask"]["id"]
    ident = decode(task_id, "Task")[1]
    before = await event_rows(wx.url)
    assert len(before) == 1

    risky = await wx.api.gql(COMMENT, {"id": task_id, "text": f"{RISKY_WORD}，价格优惠"}, token=token)
    error = only_error(risky)
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": "text"}
    assert error["message"] == RISKY_MESSAGE
    assert await event_rows(wx.url) == before

    fine = await wx.api.data(COMMENT, {"id": task_id, "text": "今天又有人差点绊倒。"}, token=token)
    assert fine["commentTask"] == {"kind": "COMMENTED", "text": "今天又有人差点绊倒。"}
    review = await wx.api.data(COMMENT, {"id": task_id, "text": f"已发到{REVIEW_WORD}"}, token=token)
    assert review["commentTask"] == {"kind": "COMMENTED", "text": f"已发到{REVIEW_WORD}"}

    assert await event_rows(wx.url) == [
        *before,
        (ident, "COMMENTED", "REPORTER", {"text": "今天又有人差点绊倒。"}),
        (ident, "COMMENTED", "REPORTER", {"text": f"已发到{REVIEW_WORD}", "held_for_review": True}),
    ]
    assert [c["content"] for c in wx.fake.calls_to(MSG_SEC_CHECK)] == [
        f"{TITLE}\n{DESCRIPTION}",
        f"{RISKY_WORD}，价格优惠",
        "今天又有人差点绊倒。",
        f"已发到{REVIEW_WORD}",
    ]


# ---------------------------------------------------------- not configured


async def test_without_wechat_nothing_is_checked(
    demo_db_url: str, fake: FakeWeChat, wechat_http: httpx.AsyncClient
) -> None:
    async with run_fake_wechat(fake) as base:
        settings = make_settings(
            demo_db_url, WECHAT_APPID=None, WECHAT_SECRET=fake.secret, WECHAT_API_BASE=base
        )
        assert not settings.wechat_configured
        async with running_api(demo_db_url, settings, wechat_http=wechat_http) as api:
            assert api.app.state.services.content_check is None
            h = Harness(fake, demo_db_url)
            h.api = api
            token = await token_for(demo_db_url, ZHANG_PHONE)
            body = await h.report(token, description=f"{DESCRIPTION}{RISKY_WORD}")

    assert "errors" not in body, body
    assert body["data"]["reportTask"]["heldForReview"] is False
    assert await fetchval(demo_db_url, "SELECT review_hold FROM task") is None
    assert await fetchval(demo_db_url, "SELECT count(*) FROM task") == 1
    assert fake.calls == []


# ------------------------------------------------ the checker on its own


async def test_a_check_that_takes_too_long_holds_the_text(
    demo_db_url: str, fake: FakeWeChat, wechat_http: httpx.AsyncClient
) -> None:
    zhang = await fetchval(demo_db_url, "SELECT id FROM person WHERE phone = $1", ZHANG_PHONE)
    await fetch(demo_db_url, "UPDATE person SET wechat_openid = 'openid-a' WHERE id = $1", zhang)
    fake.content_delay = 1.0
    engine = create_engine(demo_db_url, make_settings(demo_db_url))
    try:
        async with run_fake_wechat(fake) as base:
            async with running_api(demo_db_url) as api:  # a principal exactly as the app builds it
                principal = await api.app.state.services.authenticate_token(
                    await token_for(demo_db_url, ZHANG_PHONE)
                )
            client = WeChatClient(base_url=base, appid=fake.appid, secret=fake.secret, http=wechat_http)
            check = make_content_check(client, sessions=sessionmaker(engine), timeout=0.2)
            assert check is not None
            assert await check(principal, "井盖松动") == HELD
            fake.content_delay = 0.0
            # a patient checker for the rest, so a busy machine cannot turn a pass into a hold
            check = make_content_check(client, sessions=sessionmaker(engine), timeout=10.0)
            assert check is not None
            assert await check(principal, "井盖松动") is None
            assert await check(principal, f"{REVIEW_WORD}见") == HELD
            with pytest.raises(BadUserInputError) as refused:
                await check(principal, RISKY_WORD, field="description")
    finally:
        await engine.dispose()
    assert (refused.value.message, refused.value.field) == (RISKY_MESSAGE, "description")
    assert [c["content"] for c in fake.calls_to(MSG_SEC_CHECK)] == [
        "井盖松动",
        "井盖松动",
        f"{REVIEW_WORD}见",
        RISKY_WORD,
    ]
    assert make_content_check(None, sessionmaker(engine)) is None


# ---------------------------------------------------------------- held text, then a moderator


async def test_a_held_report_and_comment_reach_everyone_once_approved(wx: Harness) -> None:
    """Through the real content check: the report and a comment are held, the neighbour sees
    neither, the grid worker approves both, and the neighbour reads the task with its whole
    timeline (the report's own event included)."""
    token = await wx.wechat_user()
    body = await wx.report(token, description=f"{DESCRIPTION}大家可以进{REVIEW_WORD}讨论。")
    task_id = body["data"]["reportTask"]["id"]
    assert body["data"]["reportTask"]["heldForReview"] is True
    comment = await wx.api.gql(COMMENT, {"id": task_id, "text": f"已发到{REVIEW_WORD}"}, token=token)
    assert "errors" not in comment, comment
    neighbour = await token_for(wx.url, "13800000008")  # the tenant of 6-1-302
    grid = await token_for(wx.url, "13800000003")
    read = "query($id: ID!) { task(id: $id) { heldForReview timeline { totalCount edges { node { id kind text } } } } }"
    hidden = await wx.api.gql(read, {"id": task_id}, token=neighbour)
    assert hidden["errors"][0]["extensions"]["code"] == "FORBIDDEN"

    approve = "mutation($id: ID!) { approveContent(id: $id) { decision } }"
    assert "errors" not in await wx.api.gql(approve, {"id": task_id}, token=grid)
    shown = await wx.api.gql(read, {"id": task_id}, token=neighbour)
    assert shown["data"]["task"]["heldForReview"] is False
    assert [e["node"]["kind"] for e in shown["data"]["task"]["timeline"]["edges"]] == ["REPORTED"]
    assert shown["data"]["task"]["timeline"]["totalCount"] == 1  # the comment still waits

    queue = (
        """query($c: ID!) { moderationQueue(compoundId: $c) { comments { edges { node { id kind } } } } }"""
    )
    waiting = await wx.api.data(queue, {"c": await compound_id(wx.url)}, token=grid)
    ((held,),) = [[e["node"] for e in waiting["moderationQueue"]["comments"]["edges"]]]
    assert held["kind"] == "COMMENTED"  # the report's own event is not a comment to decide on
    assert "errors" not in await wx.api.gql(approve, {"id": held["id"]}, token=grid)
    shown = await wx.api.gql(read, {"id": task_id}, token=neighbour)
    assert [e["node"]["kind"] for e in shown["data"]["task"]["timeline"]["edges"]] == [
        "REPORTED",
        "COMMENTED",
    ]
