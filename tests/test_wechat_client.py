"""WeChatClient against the fake WeChat server over real loopback HTTP (127.0.0.1 only)."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import re
import socket
from collections.abc import AsyncIterator

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
from auth.wechat import WeChatClient, WeChatSession
from models.errors import (
    BadUserInputError,
    ForbiddenError,
    QilijiaError,
    RateLimitedError,
    UpstreamError,
)

pytestmark = pytest.mark.asyncio

GENERIC_MESSAGE = "微信服务暂时不可用，请稍后再试。"
TIMEOUT_MESSAGE = "连接微信服务超时，请稍后再试。"
BUSY_MESSAGE = "微信服务繁忙，请稍后再试。"
INVALID_LOGIN_CODE_MESSAGE = "登录凭证无效，请重新进入小程序后再试。"
USED_LOGIN_CODE_MESSAGE = "登录凭证已被使用，请重新进入小程序后再试。"
INVALID_PHONE_CODE_MESSAGE = "手机号授权凭证无效，请重新授权后再试。"
RATE_LIMITED_MESSAGE = "请求太频繁，请稍后再试。"
RISKY_USER_MESSAGE = "微信判定当前账号存在安全风险，暂时无法登录，请稍后再试或联系客服。"

_CJK = re.compile(r"[\u4e00-\u9fff]")


# ---------------------------------------------------------------- fixtures


@pytest.fixture
def fake() -> FakeWeChat:
    return FakeWeChat(
        sessions={
            "login-code-1": ("openid-1", "unionid-1"),
            "login-code-2": ("openid-2", None),
        },
        phones={"phone-code-1": "13800138000", "phone-code-2": "13900139000"},
    )


@pytest_asyncio.fixture
async def base_url(fake: FakeWeChat) -> AsyncIterator[str]:
    async with run_fake_wechat(fake) as url:
        yield url


@pytest_asyncio.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    # trust_env=False: a proxy configured in the environment must not see loopback traffic.
    async with httpx.AsyncClient(timeout=5.0, trust_env=False) as client:
        yield client


@pytest.fixture
def client(fake: FakeWeChat, base_url: str, http: httpx.AsyncClient) -> WeChatClient:
    return WeChatClient(base_url=base_url, appid=fake.appid, secret=fake.secret, http=http)


def assert_resident_error(
    exc: BaseException,
    cls: type[QilijiaError],
    *,
    errcode: int | None,
    message: str,
    fake: FakeWeChat | None = None,
) -> None:
    """Exact class (not a subclass), exact Chinese message, errcode kept, no secret in the text."""
    assert type(exc) is cls
    assert isinstance(exc, QilijiaError)
    assert exc.message == message
    assert str(exc) == message
    assert _CJK.search(exc.message)
    assert exc.wechat_errcode == errcode  # type: ignore[attr-defined]
    if fake is not None:
        assert fake.secret not in str(exc)
        if fake.current_token is not None:
            assert fake.current_token not in str(exc)
    assert "session" not in str(exc).lower()
    assert "token" not in str(exc).lower()


def force_refresh_flags(fake: FakeWeChat) -> list[object]:
    return [body.get("force_refresh") for body in fake.calls_to(STABLE_TOKEN)]


# ---------------------------------------------------------- code_to_session


async def test_code_to_session_returns_openid_and_unionid(client: WeChatClient, fake: FakeWeChat) -> None:
    session = await client.code_to_session("login-code-1")

    assert session == WeChatSession(openid="openid-1", unionid="unionid-1")
    assert fake.calls == [
        (
            JSCODE2SESSION,
            {
                "appid": fake.appid,
                "secret": fake.secret,
                "js_code": "login-code-1",
                "grant_type": "authorization_code",
            },
        )
    ]


async def test_code_to_session_drops_session_key(client: WeChatClient) -> None:
    session = await client.code_to_session("login-code-1")

    assert [f.name for f in dataclasses.fields(WeChatSession)] == ["openid", "unionid"]
    assert not hasattr(session, "session_key")
    assert "fake-session-key" not in repr(session)
    assert "session_key" not in repr(session)


async def test_code_to_session_without_unionid(client: WeChatClient) -> None:
    assert await client.code_to_session("login-code-2") == WeChatSession(openid="openid-2", unionid=None)


async def test_unknown_code_is_40029_bad_user_input(client: WeChatClient, fake: FakeWeChat) -> None:
    with pytest.raises(BadUserInputError) as info:
        await client.code_to_session("never-issued")

    assert_resident_error(
        info.value, BadUserInputError, errcode=40029, message=INVALID_LOGIN_CODE_MESSAGE, fake=fake
    )


async def test_code_used_twice_is_40163_bad_user_input(client: WeChatClient, fake: FakeWeChat) -> None:
    assert await client.code_to_session("login-code-2") == WeChatSession(openid="openid-2", unionid=None)

    with pytest.raises(BadUserInputError) as info:
        await client.code_to_session("login-code-2")

    assert_resident_error(
        info.value, BadUserInputError, errcode=40163, message=USED_LOGIN_CODE_MESSAGE, fake=fake
    )
    assert [params["js_code"] for params in fake.calls_to(JSCODE2SESSION)] == ["login-code-2", "login-code-2"]


@pytest.mark.parametrize(
    ("errcode", "cls", "message"),
    [
        pytest.param(40029, BadUserInputError, INVALID_LOGIN_CODE_MESSAGE, id="40029-invalid-code"),
        pytest.param(40163, BadUserInputError, USED_LOGIN_CODE_MESSAGE, id="40163-code-used"),
        pytest.param(45011, RateLimitedError, RATE_LIMITED_MESSAGE, id="45011-rate-limited"),
        pytest.param(40226, ForbiddenError, RISKY_USER_MESSAGE, id="40226-high-risk-user"),
        pytest.param(-1, UpstreamError, BUSY_MESSAGE, id="-1-system-busy"),
        pytest.param(61999, UpstreamError, GENERIC_MESSAGE, id="unknown-errcode"),
    ],
)
async def test_login_errcodes_map_to_project_errors(
    client: WeChatClient,
    fake: FakeWeChat,
    errcode: int,
    cls: type[QilijiaError],
    message: str,
) -> None:
    fake.error_codes["login-code-1"] = errcode

    with pytest.raises(QilijiaError) as info:
        await client.code_to_session("login-code-1")

    assert_resident_error(info.value, cls, errcode=errcode, message=message, fake=fake)
    assert len(fake.calls_to(JSCODE2SESSION)) == 1


async def test_wrong_secret_is_upstream_error_without_the_secret(
    fake: FakeWeChat, base_url: str, http: httpx.AsyncClient
) -> None:
    wrong = WeChatClient(base_url=base_url, appid=fake.appid, secret="wrong-secret-value", http=http)

    with pytest.raises(UpstreamError) as info:
        await wrong.code_to_session("login-code-1")

    assert_resident_error(info.value, UpstreamError, errcode=40125, message=GENERIC_MESSAGE, fake=fake)
    assert "wrong-secret-value" not in str(info.value)
    assert "wrong-secret-value" not in repr(wrong)


@pytest.mark.parametrize(
    ("status", "text"),
    [
        pytest.param(502, '{"errcode": 0}', id="http-502"),
        pytest.param(200, "<html>gateway error</html>", id="not-json"),
        pytest.param(200, "[1, 2, 3]", id="json-not-an-object"),
    ],
)
async def test_malformed_answers_are_upstream_errors(
    client: WeChatClient, fake: FakeWeChat, status: int, text: str
) -> None:
    fake.raw_answers["login-code-1"] = (status, text)

    with pytest.raises(UpstreamError) as info:
        await client.code_to_session("login-code-1")

    assert_resident_error(info.value, UpstreamError, errcode=None, message=GENERIC_MESSAGE, fake=fake)


async def test_empty_code_is_rejected_without_calling_wechat(client: WeChatClient, fake: FakeWeChat) -> None:
    with pytest.raises(BadUserInputError) as info:
        await client.code_to_session("")

    assert_resident_error(info.value, BadUserInputError, errcode=None, message=INVALID_LOGIN_CODE_MESSAGE)
    assert fake.calls == []


async def test_unreachable_server_is_upstream_error() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]
    # Nothing listens on closed_port any more: the connection is refused.
    async with httpx.AsyncClient(timeout=5.0, trust_env=False) as http:
        client = WeChatClient(
            base_url=f"http://127.0.0.1:{closed_port}", appid="wx-appid", secret="s3cret-value", http=http
        )
        with pytest.raises(UpstreamError) as info:
            await client.code_to_session("login-code-1")

    assert_resident_error(info.value, UpstreamError, errcode=None, message=GENERIC_MESSAGE)
    assert "s3cret-value" not in str(info.value)
    assert isinstance(info.value.__cause__, httpx.ConnectError)


async def test_timeout_is_upstream_error() -> None:
    release = asyncio.Event()

    async def never_answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await release.wait()
        writer.close()

    server = await asyncio.start_server(never_answer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        async with httpx.AsyncClient(timeout=0.2, trust_env=False) as http:
            client = WeChatClient(
                base_url=f"http://127.0.0.1:{port}", appid="wx-appid", secret="s3cret-value", http=http
            )
            with pytest.raises(UpstreamError) as info:
                await client.code_to_session("login-code-1")
    finally:
        release.set()
        server.close()
        await server.wait_closed()

    assert_resident_error(info.value, UpstreamError, errcode=None, message=TIMEOUT_MESSAGE)
    assert isinstance(info.value.__cause__, httpx.ReadTimeout)


# ------------------------------------------------------------- phone_number


async def test_phone_number_success(client: WeChatClient, fake: FakeWeChat) -> None:
    assert await client.phone_number("phone-code-1") == "13800138000"

    assert fake.calls == [
        (
            STABLE_TOKEN,
            {
                "grant_type": "client_credential",
                "appid": fake.appid,
                "secret": fake.secret,
                "force_refresh": False,
            },
        ),
        (GETUSERPHONENUMBER, {"access_token": "fake-access-token-1", "code": "phone-code-1"}),
    ]


async def test_token_is_cached_across_phone_number_calls(client: WeChatClient, fake: FakeWeChat) -> None:
    assert await client.phone_number("phone-code-1") == "13800138000"
    assert await client.phone_number("phone-code-2") == "13900139000"

    assert force_refresh_flags(fake) == [False]
    assert [call["access_token"] for call in fake.calls_to(GETUSERPHONENUMBER)] == [
        "fake-access-token-1",
        "fake-access-token-1",
    ]
    assert await client.access_token() == "fake-access-token-1"
    assert len(fake.calls_to(STABLE_TOKEN)) == 1


async def test_token_close_to_expiry_is_not_reused(client: WeChatClient, fake: FakeWeChat) -> None:
    fake.token_expires_in = 200  # inside the client's safety margin: never worth caching

    assert await client.phone_number("phone-code-1") == "13800138000"
    assert await client.phone_number("phone-code-2") == "13900139000"

    assert force_refresh_flags(fake) == [False, False]


async def test_rejected_token_is_refreshed_once_then_retried(client: WeChatClient, fake: FakeWeChat) -> None:
    fake.expire_token_once = True

    assert await client.phone_number("phone-code-1") == "13800138000"

    assert force_refresh_flags(fake) == [False, True]
    assert fake.calls_to(GETUSERPHONENUMBER) == [
        {"access_token": "fake-access-token-1", "code": "phone-code-1"},
        {"access_token": "fake-access-token-2", "code": "phone-code-1"},
    ]
    assert fake.expire_token_once is False
    # The refreshed token is the cached one from now on.
    assert await client.phone_number("phone-code-2") == "13900139000"
    assert force_refresh_flags(fake) == [False, True]
    assert fake.calls_to(GETUSERPHONENUMBER)[-1]["access_token"] == "fake-access-token-2"


@pytest.mark.parametrize("errcode", [40001, 42001])
async def test_token_rejected_twice_is_upstream_error_after_one_refresh(
    client: WeChatClient, fake: FakeWeChat, errcode: int
) -> None:
    fake.error_codes["phone-code-1"] = errcode

    with pytest.raises(UpstreamError) as info:
        await client.phone_number("phone-code-1")

    assert_resident_error(info.value, UpstreamError, errcode=errcode, message=GENERIC_MESSAGE, fake=fake)
    assert force_refresh_flags(fake) == [False, True]
    assert [call["access_token"] for call in fake.calls_to(GETUSERPHONENUMBER)] == [
        "fake-access-token-1",
        "fake-access-token-2",
    ]


async def test_concurrent_phone_number_calls_fetch_the_token_once(
    client: WeChatClient, fake: FakeWeChat
) -> None:
    codes = [f"phone-code-c{i}" for i in range(10)]
    for i, code in enumerate(codes):
        fake.phones[code] = f"1370000{i:04d}"

    numbers = await asyncio.gather(*(client.phone_number(code) for code in codes))

    assert numbers == [f"1370000{i:04d}" for i in range(10)]
    assert force_refresh_flags(fake) == [False]
    assert {call["access_token"] for call in fake.calls_to(GETUSERPHONENUMBER)} == {"fake-access-token-1"}
    assert len(fake.calls_to(GETUSERPHONENUMBER)) == 10


async def test_concurrent_rejections_force_a_single_refresh(client: WeChatClient, fake: FakeWeChat) -> None:
    assert await client.phone_number("phone-code-1") == "13800138000"
    codes = [f"phone-code-r{i}" for i in range(5)]
    for i, code in enumerate(codes):
        fake.phones[code] = f"1360000{i:04d}"
    fake.expire_token_once = True

    numbers = await asyncio.gather(*(client.phone_number(code) for code in codes))

    assert numbers == [f"1360000{i:04d}" for i in range(5)]
    assert force_refresh_flags(fake) == [False, True]
    assert await client.access_token() == "fake-access-token-2"


async def test_phone_code_invalid_is_bad_user_input(client: WeChatClient, fake: FakeWeChat) -> None:
    with pytest.raises(BadUserInputError) as info:
        await client.phone_number("never-issued")

    assert_resident_error(
        info.value, BadUserInputError, errcode=40029, message=INVALID_PHONE_CODE_MESSAGE, fake=fake
    )
    assert force_refresh_flags(fake) == [False]  # 40029 is not a token problem: no refresh


async def test_token_fetch_failure_is_upstream_error(
    fake: FakeWeChat, base_url: str, http: httpx.AsyncClient
) -> None:
    wrong = WeChatClient(base_url=base_url, appid=fake.appid, secret="wrong-secret-value", http=http)

    with pytest.raises(UpstreamError) as info:
        await wrong.phone_number("phone-code-1")

    assert_resident_error(info.value, UpstreamError, errcode=40125, message=GENERIC_MESSAGE, fake=fake)
    assert fake.calls_to(GETUSERPHONENUMBER) == []


# ------------------------------------------------------------------ logging


async def test_failures_are_logged_without_secrets(
    client: WeChatClient, fake: FakeWeChat, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="qilijia.wechat")
    fake.error_codes["login-code-1"] = -1
    fake.error_codes["phone-code-2"] = 40001

    with pytest.raises(UpstreamError):
        await client.code_to_session("login-code-1")
    with pytest.raises(UpstreamError):
        await client.phone_number("phone-code-2")

    ours = [record for record in caplog.records if record.name == "qilijia.wechat"]
    text = "\n".join(record.getMessage() for record in ours)
    assert "errcode -1" in text
    assert "errcode 40001" in text
    for secret in (fake.secret, "fake-access-token-1", "fake-access-token-2", "fake-session-key"):
        assert secret not in text
    assert "login-code-1" not in text
    assert "phone-code-2" not in text
