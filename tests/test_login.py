"""Logging in over HTTP GraphQL: wechatLogin, bindPhone and devLogin against the fake WeChat server.

The app talks to `app.dev_wechat.FakeWeChat` over real loopback HTTP; the database is a
fresh copy of the demo world per test. 13800000007 (张德明) and 13800000012 (李淑珍) are imported
co-owners of 6-1-302 in 千山美林 without a WeChat openid.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import pytest_asyncio

from app.dev_wechat import (
    GETUSERPHONENUMBER,
    JSCODE2SESSION,
    STABLE_TOKEN,
    FakeWeChat,
    run_fake_wechat,
)
from resolvers.ids import encode
from resolvers.login import WECHAT_PLACEHOLDER_NAME
from schema.errors import INTERNAL_MESSAGE
from tests.conftest import SECRET, Api, fetch, fetchval, make_settings, running_api, token_for, unpriced

pytestmark = pytest.mark.asyncio

ZHANG_PHONE = "13800000007"  # 张德明, owner of 6-1-302, imported, no openid
LI_PHONE = "13800000012"  # 李淑珍, co-owner of 6-1-302, imported, no openid
NOBODYS_PHONE = "13999990000"  # not in the demo world

INVALID_LOGIN_CODE_MESSAGE = "登录凭证无效，请重新进入小程序后再试。"
USED_LOGIN_CODE_MESSAGE = "登录凭证已被使用，请重新进入小程序后再试。"
RATE_LIMITED_MESSAGE = "请求太频繁，请稍后再试。"
RISKY_USER_MESSAGE = "微信判定当前账号存在安全风险，暂时无法登录，请稍后再试或联系客服。"
BUSY_MESSAGE = "微信服务繁忙，请稍后再试。"
NOT_CONFIGURED_MESSAGE = "本服务尚未配置微信登录，请联系管理员。"
PHONE_TAKEN_MESSAGE = "该手机号已绑定其他微信账号，如有疑问请联系社区。"
UNAUTHENTICATED_MESSAGE = "请先登录。"
DEV_ONLY_MESSAGE = "开发登录只在开发环境（QILIJIA_ENV=dev）中可用，请使用微信登录。"
UNKNOWN_PHONE_MESSAGE = "没有使用该手机号的人员，请先导入人员名单。"
ACCOUNT_GONE_MESSAGE = "账号不存在或已被注销，请重新登录。"

_CJK = re.compile(r"[\u4e00-\u9fff]")

ME_FIELDS = "person { id name phone } households { household { number } }"
WECHAT_LOGIN = f"""
mutation Login($code: String!) {{
  wechatLogin(code: $code) {{ token expiresAt me {{ {ME_FIELDS} }} }}
}}
"""
BIND_PHONE = f"""
mutation Bind($code: String!) {{
  bindPhone(code: $code) {{ token expiresAt me {{ {ME_FIELDS} }} }}
}}
"""
DEV_LOGIN = f"""
mutation Dev($phone: String!) {{
  devLogin(phone: $phone) {{ token expiresAt me {{ {ME_FIELDS} }} }}
}}
"""
ME = f"{{ me {{ {ME_FIELDS} }} }}"

PERSON_ROWS = "SELECT id, name, phone, wechat_openid, wechat_unionid FROM person ORDER BY id"


# ---------------------------------------------------------------- fixtures


@pytest.fixture
def fake() -> FakeWeChat:
    return FakeWeChat(
        sessions={
            "code-a1": ("openid-a", "unionid-a"),
            "code-a2": ("openid-a", None),  # a later login for openid-a that carries no unionid
            "code-a3": ("openid-a", "unionid-a"),
            "code-b1": ("openid-b", "unionid-b"),
            "code-c1": ("openid-c", None),
        },
        phones={
            "phone-zhang-1": ZHANG_PHONE,
            "phone-zhang-2": ZHANG_PHONE,
            "phone-li": LI_PHONE,
            "phone-nobody": NOBODYS_PHONE,
        },
    )


@pytest_asyncio.fixture
async def wechat_base(fake: FakeWeChat) -> AsyncIterator[str]:
    async with run_fake_wechat(fake) as url:
        yield url


@pytest_asyncio.fixture
async def wechat_http() -> AsyncIterator[httpx.AsyncClient]:
    # trust_env=False: a proxy configured in the environment must not see loopback traffic.
    async with httpx.AsyncClient(timeout=5.0, trust_env=False) as client:
        yield client


@pytest_asyncio.fixture
async def wx_api(
    demo_db_url: str, fake: FakeWeChat, wechat_base: str, wechat_http: httpx.AsyncClient
) -> AsyncIterator[Api]:
    """The API with WeChat configured against the fake."""
    settings = make_settings(
        demo_db_url,
        WECHAT_APPID=fake.appid,
        WECHAT_SECRET=fake.secret,
        WECHAT_API_BASE=wechat_base,
    )
    assert settings.wechat_configured
    async with running_api(demo_db_url, settings, wechat_http=wechat_http) as client:
        yield client


# ----------------------------------------------------------------- helpers


async def person_rows(url: str) -> list[tuple[Any, ...]]:
    return [tuple(row) for row in await fetch(url, PERSON_ROWS)]


async def person_count(url: str) -> int:
    return await fetchval(url, "SELECT count(*) FROM person")


async def rows_with_openid(url: str, openid: str) -> list[tuple[Any, ...]]:
    rows = await fetch(
        url, "SELECT id, name, phone, wechat_unionid FROM person WHERE wechat_openid = $1", openid
    )
    return [tuple(row) for row in rows]


async def id_of_phone(url: str, phone: str) -> uuid.UUID:
    pid = await fetchval(url, "SELECT id FROM person WHERE phone = $1", phone)
    assert pid is not None
    return pid


def gid(person_id: uuid.UUID) -> str:
    return encode("Person", person_id)


def me_of(person_id: uuid.UUID, name: str, phone: str | None, households: list[str]) -> dict[str, Any]:
    return {
        "person": {"id": gid(person_id), "name": name, "phone": phone},
        "households": [{"household": {"number": n}} for n in households],
    }


async def login(api: Api, code: str) -> dict[str, Any]:
    return (await api.data(WECHAT_LOGIN, {"code": code}))["wechatLogin"]


async def bind(api: Api, code: str, token: str) -> dict[str, Any]:
    return (await api.data(BIND_PHONE, {"code": code}, token=token))["bindPhone"]


async def me(api: Api, token: str) -> dict[str, Any]:
    return (await api.data(ME, token=token))["me"]


def assert_error(body: dict[str, Any], extensions: dict[str, Any], message: str) -> None:
    """Exactly one error, with exactly these extensions and this Chinese message, and no data."""
    assert body["data"] is None, body
    assert len(body["errors"]) == 1, body
    error = body["errors"][0]
    assert error["extensions"] == extensions
    assert error["message"] == message
    assert _CJK.search(error["message"])


def force_refresh_flags(fake: FakeWeChat) -> list[object]:
    return [body.get("force_refresh") for body in fake.calls_to(STABLE_TOKEN)]


# ------------------------------------------------------------- wechatLogin


async def test_first_login_creates_a_placeholder_person(
    wx_api: Api, demo_db_url: str, fake: FakeWeChat
) -> None:
    before = await person_count(demo_db_url)

    response = await wx_api.post(WECHAT_LOGIN, {"code": "code-a1"})

    assert response.status_code == 200
    assert "session_key" not in response.text
    assert "fake-session-key" not in response.text
    body = response.json()
    assert "errors" not in body, body
    payload = body["data"]["wechatLogin"]
    assert await person_count(demo_db_url) == before + 1
    [(pid, name, phone, unionid)] = await rows_with_openid(demo_db_url, "openid-a")
    assert (name, phone, unionid) == (WECHAT_PLACEHOLDER_NAME, None, "unionid-a")
    assert name == "微信用户"
    assert payload["me"] == me_of(pid, "微信用户", None, [])
    assert isinstance(payload["token"], str) and payload["token"]

    me_response = await wx_api.post(ME, token=payload["token"])
    assert me_response.status_code == 200
    assert "session_key" not in me_response.text
    assert unpriced(me_response.json()) == {"data": {"me": me_of(pid, "微信用户", None, [])}}
    assert [params["js_code"] for params in fake.calls_to(JSCODE2SESSION)] == ["code-a1"]
    # WeChat's session_key is kept nowhere in the person table either.
    for row in await person_rows(demo_db_url):
        assert all("fake-session-key" not in str(value) for value in row)


async def test_second_login_for_the_same_openid_returns_the_same_person(
    wx_api: Api, demo_db_url: str
) -> None:
    before = await person_count(demo_db_url)
    first = await login(wx_api, "code-a1")
    after_first = await person_rows(demo_db_url)

    second = await login(wx_api, "code-a2")  # same openid, this time without a unionid

    [(pid, _, _, unionid)] = await rows_with_openid(demo_db_url, "openid-a")
    assert await person_count(demo_db_url) == before + 1
    assert await person_rows(demo_db_url) == after_first  # unionid kept though WeChat omitted it
    assert unionid == "unionid-a"
    assert first["me"] == second["me"] == me_of(pid, "微信用户", None, [])
    assert await me(wx_api, second["token"]) == me_of(pid, "微信用户", None, [])


async def test_a_code_used_twice_is_bad_user_input(wx_api: Api, demo_db_url: str) -> None:
    await login(wx_api, "code-a1")
    rows = await person_rows(demo_db_url)

    body = await wx_api.gql(WECHAT_LOGIN, {"code": "code-a1"})

    assert_error(body, {"code": "BAD_USER_INPUT"}, USED_LOGIN_CODE_MESSAGE)
    assert await person_rows(demo_db_url) == rows


@pytest.mark.parametrize(
    ("errcode", "code", "message"),
    [
        pytest.param(40029, "BAD_USER_INPUT", INVALID_LOGIN_CODE_MESSAGE, id="40029-invalid-code"),
        pytest.param(40163, "BAD_USER_INPUT", USED_LOGIN_CODE_MESSAGE, id="40163-code-used"),
        pytest.param(45011, "RATE_LIMITED", RATE_LIMITED_MESSAGE, id="45011-rate-limited"),
        pytest.param(40226, "FORBIDDEN", RISKY_USER_MESSAGE, id="40226-high-risk-user"),
        pytest.param(-1, "INTERNAL", BUSY_MESSAGE, id="-1-system-busy"),
    ],
)
async def test_wechat_errors_map_to_graphql_errors(
    wx_api: Api, demo_db_url: str, fake: FakeWeChat, errcode: int, code: str, message: str
) -> None:
    fake.error_codes["code-c1"] = errcode
    rows = await person_rows(demo_db_url)

    body = await wx_api.gql(WECHAT_LOGIN, {"code": "code-c1"})

    assert_error(body, {"code": code}, message)
    assert await person_rows(demo_db_url) == rows
    assert await rows_with_openid(demo_db_url, "openid-c") == []
    assert [params["js_code"] for params in fake.calls_to(JSCODE2SESSION)] == ["code-c1"]


async def test_system_busy_is_not_the_generic_internal_mask(wx_api: Api, fake: FakeWeChat) -> None:
    fake.error_codes["code-c1"] = -1

    error = await wx_api.error(WECHAT_LOGIN, {"code": "code-c1"})

    assert error["extensions"] == {"code": "INTERNAL"}
    assert error["message"] == BUSY_MESSAGE
    assert error["message"] != INTERNAL_MESSAGE
    assert "微信" in error["message"]


async def test_unknown_code_creates_nothing(wx_api: Api, demo_db_url: str) -> None:
    rows = await person_rows(demo_db_url)

    body = await wx_api.gql(WECHAT_LOGIN, {"code": "never-issued"})

    assert_error(body, {"code": "BAD_USER_INPUT"}, INVALID_LOGIN_CODE_MESSAGE)
    assert await person_rows(demo_db_url) == rows


async def test_wechat_not_configured(
    demo_db_url: str, fake: FakeWeChat, wechat_base: str, wechat_http: httpx.AsyncClient
) -> None:
    # Everything but the appid: the app must not build a WeChat client, nor call the fake.
    settings = make_settings(
        demo_db_url, WECHAT_APPID=None, WECHAT_SECRET=fake.secret, WECHAT_API_BASE=wechat_base
    )
    assert not settings.wechat_configured
    rows = await person_rows(demo_db_url)

    async with running_api(demo_db_url, settings, wechat_http=wechat_http) as api:
        login_body = await api.gql(WECHAT_LOGIN, {"code": "code-a1"})
        bind_body = await api.gql(
            BIND_PHONE, {"code": "phone-zhang-1"}, token=await token_for(demo_db_url, LI_PHONE)
        )

    assert_error(login_body, {"code": "INTERNAL"}, NOT_CONFIGURED_MESSAGE)
    assert_error(bind_body, {"code": "INTERNAL"}, NOT_CONFIGURED_MESSAGE)
    assert await person_rows(demo_db_url) == rows
    assert fake.calls == []


async def test_concurrent_first_logins_create_one_person(
    wx_api: Api, demo_db_url: str, fake: FakeWeChat
) -> None:
    codes = [f"code-d{i}" for i in range(10)]
    for code in codes:
        fake.sessions[code] = ("openid-d", "unionid-d")
    before = await person_count(demo_db_url)

    bodies = await asyncio.gather(*(wx_api.gql(WECHAT_LOGIN, {"code": code}) for code in codes))

    assert all("errors" not in body for body in bodies), bodies
    [(pid, name, phone, unionid)] = await rows_with_openid(demo_db_url, "openid-d")
    assert (name, phone, unionid) == ("微信用户", None, "unionid-d")
    assert await person_count(demo_db_url) == before + 1
    assert [body["data"]["wechatLogin"]["me"] for body in bodies] == [me_of(pid, "微信用户", None, [])] * 10
    assert sorted(params["js_code"] for params in fake.calls_to(JSCODE2SESSION)) == sorted(codes)


# --------------------------------------------------------------- bindPhone


async def test_bind_phone_moves_the_openid_to_the_imported_person(wx_api: Api, demo_db_url: str) -> None:
    before = await person_count(demo_db_url)
    placeholder_token = (await login(wx_api, "code-a1"))["token"]
    [(placeholder_id, _, _, _)] = await rows_with_openid(demo_db_url, "openid-a")
    zhang = await id_of_phone(demo_db_url, ZHANG_PHONE)
    assert await person_count(demo_db_url) == before + 1
    # consents to subscription messages given from the placeholder (WeChat counts them by account)
    await fetchval(
        demo_db_url,
        "INSERT INTO message_consent (person_id, template_id, remaining) VALUES ($1, 'tmpl', 2) RETURNING 1",
        placeholder_id,
    )

    bound = await bind(wx_api, "phone-zhang-1", placeholder_token)
    consents = await fetch(demo_db_url, "SELECT person_id, template_id, remaining FROM message_consent")
    assert [tuple(r) for r in consents] == [(zhang, "tmpl", 2)]  # they moved with the account

    expected = me_of(zhang, "张德明", ZHANG_PHONE, ["6-1-302"])
    assert bound["me"] == expected
    assert await me(wx_api, bound["token"]) == expected
    # The WeChat identity now belongs to 张德明; the placeholder is gone.
    assert await rows_with_openid(demo_db_url, "openid-a") == [(zhang, "张德明", ZHANG_PHONE, "unionid-a")]
    assert await fetchval(demo_db_url, "SELECT count(*) FROM person WHERE id = $1", placeholder_id) == 0
    assert await person_count(demo_db_url) == before
    # The placeholder's token no longer names anyone.
    stale = await wx_api.post(ME, token=placeholder_token)
    assert stale.status_code == 200  # an application/json client: the error is in the body
    assert stale.json() == {
        "data": None,
        "errors": [{"message": ACCOUNT_GONE_MESSAGE, "extensions": {"code": "UNAUTHENTICATED"}}],
    }

    # A later WeChat login lands on 张德明 directly, creating nobody.
    again = await login(wx_api, "code-a3")
    assert again["me"] == expected
    assert await me(wx_api, again["token"]) == expected
    assert await person_count(demo_db_url) == before


async def test_bind_phone_nobody_has_sets_it_on_the_placeholder(wx_api: Api, demo_db_url: str) -> None:
    token = (await login(wx_api, "code-b1"))["token"]
    [(pid, _, _, _)] = await rows_with_openid(demo_db_url, "openid-b")
    count = await person_count(demo_db_url)

    bound = await bind(wx_api, "phone-nobody", token)

    expected = me_of(pid, "微信用户", NOBODYS_PHONE, [])
    assert bound["me"] == expected
    assert await me(wx_api, bound["token"]) == expected
    assert await me(wx_api, token) == expected  # the same person: the old token still works
    assert await rows_with_openid(demo_db_url, "openid-b") == [(pid, "微信用户", NOBODYS_PHONE, "unionid-b")]
    assert await person_count(demo_db_url) == count


async def test_bind_phone_already_bound_to_another_openid_is_conflict(
    wx_api: Api, demo_db_url: str, fake: FakeWeChat
) -> None:
    zhang = await id_of_phone(demo_db_url, ZHANG_PHONE)
    li = await id_of_phone(demo_db_url, LI_PHONE)
    await bind(wx_api, "phone-zhang-1", (await login(wx_api, "code-a1"))["token"])
    b_token = (await login(wx_api, "code-b1"))["token"]
    [(b_id, _, _, _)] = await rows_with_openid(demo_db_url, "openid-b")
    rows = await person_rows(demo_db_url)

    body = await wx_api.gql(BIND_PHONE, {"code": "phone-zhang-2"}, token=b_token)

    assert_error(body, {"code": "CONFLICT"}, PHONE_TAKEN_MESSAGE)
    assert await person_rows(demo_db_url) == rows
    assert await rows_with_openid(demo_db_url, "openid-a") == [(zhang, "张德明", ZHANG_PHONE, "unionid-a")]
    assert await me(wx_api, b_token) == me_of(b_id, "微信用户", None, [])
    assert [call["code"] for call in fake.calls_to(GETUSERPHONENUMBER)] == ["phone-zhang-1", "phone-zhang-2"]

    # The refused caller can still bind a phone nobody holds a WeChat identity for: the co-owner's.
    bound = await bind(wx_api, "phone-li", b_token)
    assert bound["me"] == me_of(li, "李淑珍", LI_PHONE, ["6-1-302"])
    assert await rows_with_openid(demo_db_url, "openid-b") == [(li, "李淑珍", LI_PHONE, "unionid-b")]


async def test_bind_phone_without_token_is_unauthenticated(
    wx_api: Api, demo_db_url: str, fake: FakeWeChat
) -> None:
    rows = await person_rows(demo_db_url)

    body = await wx_api.gql(BIND_PHONE, {"code": "phone-zhang-1"})

    assert_error(body, {"code": "UNAUTHENTICATED"}, UNAUTHENTICATED_MESSAGE)
    assert await person_rows(demo_db_url) == rows
    assert fake.calls == []  # refused before WeChat was asked anything


async def test_bind_phone_refreshes_a_rejected_access_token(
    wx_api: Api, demo_db_url: str, fake: FakeWeChat
) -> None:
    token = (await login(wx_api, "code-a1"))["token"]
    zhang = await id_of_phone(demo_db_url, ZHANG_PHONE)
    fake.expire_token_once = True

    bound = await bind(wx_api, "phone-zhang-1", token)

    assert bound["me"] == me_of(zhang, "张德明", ZHANG_PHONE, ["6-1-302"])
    assert force_refresh_flags(fake) == [False, True]
    assert fake.calls_to(GETUSERPHONENUMBER) == [
        {"access_token": "fake-access-token-1", "code": "phone-zhang-1"},
        {"access_token": "fake-access-token-2", "code": "phone-zhang-1"},
    ]
    assert fake.expire_token_once is False


# ---------------------------------------------------------------- devLogin


async def test_dev_login_in_dev(wx_api: Api, demo_db_url: str) -> None:
    zhang = await id_of_phone(demo_db_url, ZHANG_PHONE)
    rows = await person_rows(demo_db_url)

    payload = (await wx_api.data(DEV_LOGIN, {"phone": ZHANG_PHONE}))["devLogin"]

    expected = me_of(zhang, "张德明", ZHANG_PHONE, ["6-1-302"])
    assert payload["me"] == expected
    assert await me(wx_api, payload["token"]) == expected
    assert await person_rows(demo_db_url) == rows


async def test_dev_login_unknown_phone_is_bad_user_input(wx_api: Api, demo_db_url: str) -> None:
    rows = await person_rows(demo_db_url)

    body = await wx_api.gql(DEV_LOGIN, {"phone": NOBODYS_PHONE})

    assert_error(body, {"code": "BAD_USER_INPUT", "field": "phone"}, UNKNOWN_PHONE_MESSAGE)
    assert await person_rows(demo_db_url) == rows


async def test_dev_login_is_forbidden_in_prod(demo_db_url: str) -> None:
    assert len(SECRET) >= 48
    settings = make_settings(demo_db_url, QILIJIA_ENV="prod", QILIJIA_SECRET_KEY=SECRET)
    assert not settings.is_dev

    async with running_api(demo_db_url, settings) as api:
        body = await api.gql(DEV_LOGIN, {"phone": ZHANG_PHONE})

    assert_error(body, {"code": "FORBIDDEN"}, DEV_ONLY_MESSAGE)


# ------------------------------------------------------------ WeChat's quota


@pytest.mark.parametrize("junk", ["", " ", "x" * 129, "代码", "code a1", "a/b", "1' OR '1'='1"])
async def test_a_malformed_code_never_reaches_wechat(wx_api: Api, fake: FakeWeChat, junk: str) -> None:
    body = await wx_api.gql(WECHAT_LOGIN, {"code": junk})

    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert "微信" in body["errors"][0]["message"]
    assert fake.calls_to(JSCODE2SESSION) == []


async def test_a_client_guessing_codes_is_stopped_before_wechat_is_asked(
    wx_api: Api, fake: FakeWeChat
) -> None:
    from auth.budget import WECHAT_FAILURES_PER_ADDRESS
    from auth.wechat import WECHAT_CALLS

    asked = WECHAT_CALLS.labels(JSCODE2SESSION)._value.get()
    refused = WECHAT_FAILURES_PER_ADDRESS.amount
    for i in range(refused):
        body = await wx_api.gql(WECHAT_LOGIN, {"code": f"guess{i}"})
        assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert len(fake.calls_to(JSCODE2SESSION)) == refused

    response = await wx_api.post(WECHAT_LOGIN, {"code": "code-a1"})  # even a good code, from here

    assert response.json()["errors"][0]["extensions"]["code"] == "RATE_LIMITED"
    assert response.status_code == 429
    assert 1 <= int(response.headers["Retry-After"]) <= 600
    assert len(fake.calls_to(JSCODE2SESSION)) == refused  # WeChat was not asked again
    assert WECHAT_CALLS.labels(JSCODE2SESSION)._value.get() == asked + refused  # and the metric says so
