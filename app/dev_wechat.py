"""A stand-in for WeChat's mini-program server, over real loopback HTTP: the tests' WeChat, and
an integrator's (`qilijia dev wechat`, development only).

It answers like the real API does (HTTP 200 with an ``errcode``/``errmsg`` body for almost every
failure), for the calls Qilijia makes: code2Session, the phone number, the content check, the
access token, subscription messages, and the asynchronous image check (`mediaCheckAsync`, whose
verdict WeChat pushes to the server later: `FakeWeChat.media_push` makes that push, signed). The tests set exactly which codes exist
(``sessions``, ``phones``); for an integrator (``forgiving``) every login code is accepted
(``login-NAME`` always gives the same openid) and a phone code ``phone-13800000007`` gives that
number.

Usage::

    fake = FakeWeChat(sessions={"code-1": ("openid-1", None)})
    async with run_fake_wechat(fake) as base_url:
        ...  # point WeChatClient at base_url, then inspect fake.calls
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import itertools
import json
import socket
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

__all__ = ["FakeWeChat", "run_fake_wechat"]

#: what the integrator's fake accepts (`qilijia dev wechat`)
LOGIN_PREFIX = "login-"
PHONE_PREFIX = "phone-"

JSCODE2SESSION = "/sns/jscode2session"
STABLE_TOKEN = "/cgi-bin/stable_token"
GETUSERPHONENUMBER = "/wxa/business/getuserphonenumber"
MSG_SEC_CHECK = "/wxa/msg_sec_check"
SUBSCRIBE_SEND = "/cgi-bin/message/subscribe/send"
MEDIA_CHECK_ASYNC = "/wxa/media_check_async"

ERRMSGS: dict[int, str] = {
    -1: "system error",
    40001: "invalid credential, access_token is invalid or not latest",
    40002: "invalid grant_type",
    40003: "invalid openid",
    40013: "invalid appid",
    40029: "invalid code",
    40125: "invalid appsecret",
    40163: "code been used",
    40226: "high risk user",
    41008: "missing code",
    42001: "access_token expired",
    45011: "api minute-quota reach limit  mustslower  retry next minute",
    43101: "user refuse to accept the msg",
    47001: "data format error",
    47003: "argument invalid! data.thing.value invalid",
    61010: "user access record expired",
}

_rids = itertools.count(1)


def _error(errcode: int) -> JSONResponse:
    """An error exactly as WeChat sends it: HTTP 200, errcode + errmsg with a request id."""
    errmsg = ERRMSGS.get(errcode, "unknown error")
    return JSONResponse({"errcode": errcode, "errmsg": f"{errmsg} rid: fake-{next(_rids):06d}"})


@dataclass
class FakeWeChat:
    """State and behaviour of the fake; tests mutate the public attributes directly."""

    appid: str = "wx0123456789abcdef"
    secret: str = "fake-app-secret-0123456789abcdef"
    sessions: dict[str, tuple[str, str | None]] = field(default_factory=dict)
    """js_code -> (openid, unionid). Each code can be exchanged once; the second use answers 40163."""
    phones: dict[str, str] = field(default_factory=dict)
    """phone code -> purePhoneNumber (11 digits, mainland China)."""
    error_codes: dict[str, int] = field(default_factory=dict)
    """js_code or phone code -> errcode to answer every time that code is used."""
    raw_answers: dict[str, tuple[int, str]] = field(default_factory=dict)
    """js_code or phone code -> (HTTP status, text body) to send instead of a WeChat answer."""
    expire_token_once: bool = False
    """When True, the next getuserphonenumber or msg_sec_check answers 40001 (whatever the token) and
    clears the flag."""
    verdicts: dict[str, str] = field(default_factory=dict)
    """msg_sec_check: content substring -> suggest ("pass", "review", "risky"); the first substring
    found in the content (in insertion order) decides, anything else passes."""
    content_errcode: int | None = None
    """msg_sec_check: when set, every content check answers this errcode (e.g. -1, system busy)."""
    content_delay: float = 0.0
    """msg_sec_check: seconds to wait before answering (to test the caller's timeout)."""
    token_expires_in: int = 7200
    forgiving: bool = False
    """For an integrator: any login code is accepted, again and again (``login-NAME`` gives the
    openid ``dev-NAME``, any other code one derived from it), and a phone code ``phone-DIGITS``
    gives those digits."""
    messages: list[dict[str, Any]] = field(default_factory=list)
    """Subscription messages sent (the JSON body of each)."""
    send_errcodes: list[int] = field(default_factory=list)
    """Subscription messages: the next sends answer these errcodes, one each, in order (-1 busy,
    45011 rate limited, 43101 refused …); then sends succeed."""
    send_delay: float = 0.0
    """Subscription messages: seconds to wait before answering (to test the sender's timeout)."""
    refused_openids: set[str] = field(default_factory=set)
    """Subscription messages to these users answer 43101 (no subscription left)."""
    media_checks: list[dict[str, Any]] = field(default_factory=list)
    """Image checks asked for (the JSON body of each, with the ``trace_id`` answered), in order."""
    media_errcode: int | None = None
    """mediaCheckAsync: when set, every image check answers this errcode."""
    on_call: Callable[[str, dict[str, Any]], None] | None = None
    """Told of every call, as it arrives (the command line prints them)."""
    on_media_check: Callable[[str], None] | None = None
    """Told of the ``trace_id`` of every image check it accepted (`passing_pusher` answers it)."""
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    """(path, query params merged with the JSON body) of every request, in arrival order."""
    current_token: str | None = None
    used_codes: set[str] = field(default_factory=set)
    _token_serial: int = field(default=0, init=False, repr=False)

    async def _recorded(self, request: Request, path: str) -> tuple[str, dict[str, Any] | None]:
        """A POST call's access token and JSON body (None when it is not a JSON object), recorded."""
        token = request.query_params.get("access_token", "")
        try:
            body = json.loads(await request.body())
        except ValueError:
            body = None
        if not isinstance(body, dict):
            self._record(path, {"access_token": token})
            return token, None
        self._record(path, {"access_token": token, **body})
        return token, body

    def _record(self, path: str, params: dict[str, Any]) -> None:
        self.calls.append((path, params))
        if self.on_call is not None:
            self.on_call(path, params)

    def _forgiven_session(self, code: str) -> tuple[str, str | None] | None:
        if not self.forgiving:
            return None
        if code.startswith(LOGIN_PREFIX) and code[len(LOGIN_PREFIX) :]:
            return f"dev-{code[len(LOGIN_PREFIX) :]}", None
        return "dev-" + hashlib.sha256(code.encode()).hexdigest()[:16], None

    def _forgiven_phone(self, code: str) -> str | None:
        digits = code[len(PHONE_PREFIX) :]
        if self.forgiving and code.startswith(PHONE_PREFIX) and digits.isdigit() and len(digits) == 11:
            return digits
        return None

    def calls_to(self, path: str) -> list[dict[str, Any]]:
        """The recorded params/body of every call to ``path``."""
        return [params for called, params in self.calls if called == path]

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route(JSCODE2SESSION, self._jscode2session, methods=["GET"]),
                Route(STABLE_TOKEN, self._stable_token, methods=["POST"]),
                Route(GETUSERPHONENUMBER, self._getuserphonenumber, methods=["POST"]),
                Route(MSG_SEC_CHECK, self._msg_sec_check, methods=["POST"]),
                Route(SUBSCRIBE_SEND, self._subscribe_send, methods=["POST"]),
                Route(MEDIA_CHECK_ASYNC, self._media_check_async, methods=["POST"]),
            ]
        )

    def _bad_credentials(self, appid: Any, secret: Any) -> Response | None:
        if appid != self.appid:
            return _error(40013)
        if secret != self.secret:
            return _error(40125)
        return None

    def _override(self, code: str) -> Response | None:
        if code in self.raw_answers:
            status, text = self.raw_answers[code]
            return PlainTextResponse(text, status_code=status)
        if code in self.error_codes:
            return _error(self.error_codes[code])
        return None

    async def _jscode2session(self, request: Request) -> Response:
        params = dict(request.query_params)
        self._record(JSCODE2SESSION, params)
        if (bad := self._bad_credentials(params.get("appid"), params.get("secret"))) is not None:
            return bad
        if params.get("grant_type") != "authorization_code":
            return _error(40002)
        code = params.get("js_code", "")
        if not code:
            return _error(41008)
        if (override := self._override(code)) is not None:
            return override
        forgiven = self._forgiven_session(code)
        if forgiven is None:
            if code in self.used_codes:
                return _error(40163)
            if code not in self.sessions:
                return _error(40029)
            self.used_codes.add(code)
        openid, unionid = forgiven or self.sessions[code]
        # The real success answer has no errcode at all, and unionid only when the app has one.
        answer: dict[str, Any] = {"session_key": f"fake-session-key-{openid}", "openid": openid}
        if unionid is not None:
            answer["unionid"] = unionid
        return JSONResponse(answer)

    async def _stable_token(self, request: Request) -> Response:
        try:
            body = json.loads(await request.body())
        except ValueError:
            self._record(STABLE_TOKEN, {})
            return _error(47001)
        if not isinstance(body, dict):
            self._record(STABLE_TOKEN, {})
            return _error(47001)
        self._record(STABLE_TOKEN, body)
        if body.get("grant_type") != "client_credential":
            return _error(40002)
        if (bad := self._bad_credentials(body.get("appid"), body.get("secret"))) is not None:
            return bad
        if body.get("force_refresh") is True or self.current_token is None:
            self._token_serial += 1
            self.current_token = f"fake-access-token-{self._token_serial}"
        return JSONResponse({"access_token": self.current_token, "expires_in": self.token_expires_in})

    async def _getuserphonenumber(self, request: Request) -> Response:
        token, body = await self._recorded(request, GETUSERPHONENUMBER)
        if body is None:
            return _error(47001)
        if self.expire_token_once:
            self.expire_token_once = False
            return _error(40001)
        if not token or token != self.current_token:
            return _error(40001)
        code = body.get("code")
        if not isinstance(code, str) or not code:
            return _error(47001)
        if (override := self._override(code)) is not None:
            return override
        pure = self.phones.get(code) or self._forgiven_phone(code)
        if pure is None:
            return _error(40029)
        return JSONResponse(
            {
                "errcode": 0,
                "errmsg": "ok",
                "phone_info": {
                    "phoneNumber": pure,
                    "purePhoneNumber": pure,
                    "countryCode": "86",
                    "watermark": {"timestamp": 1700000000, "appid": self.appid},
                },
            }
        )

    async def _msg_sec_check(self, request: Request) -> Response:
        token, body = await self._recorded(request, MSG_SEC_CHECK)
        if body is None:
            return _error(47001)
        if self.content_delay:
            await asyncio.sleep(self.content_delay)
        if self.expire_token_once:
            self.expire_token_once = False
            return _error(40001)
        if not token or token != self.current_token:
            return _error(40001)
        content, openid = body.get("content"), body.get("openid")
        if (
            body.get("version") != 2
            or body.get("scene") not in (1, 2, 3, 4)
            or not isinstance(content, str)
            or not content
        ):
            return _error(47001)
        if not isinstance(openid, str) or not openid:
            return _error(40003)
        if self.content_errcode is not None:
            return _error(self.content_errcode)
        suggest = next((v for sub, v in self.verdicts.items() if sub in content), "pass")
        label = 100 if suggest == "pass" else 20006  # 100 normal, 20006 illegal/criminal
        return JSONResponse(
            {
                "errcode": 0,
                "errmsg": "ok",
                "result": {"suggest": suggest, "label": label},
                "detail": [
                    {
                        "strategy": "content_model",
                        "errcode": 0,
                        "suggest": suggest,
                        "label": label,
                        "prob": 90,
                    }
                ],
                "trace_id": f"fake-trace-{next(_rids):06d}",
            }
        )

    async def _subscribe_send(self, request: Request) -> Response:
        token, body = await self._recorded(request, SUBSCRIBE_SEND)
        if body is None:
            return _error(47001)
        if not token or token != self.current_token:
            return _error(40001)
        if not all(isinstance(body.get(k), str) and body[k] for k in ("touser", "template_id")):
            return _error(47001)
        if not isinstance(body.get("data"), dict):
            return _error(47001)
        if self.send_delay:
            await asyncio.sleep(self.send_delay)
        if self.send_errcodes:
            return _error(self.send_errcodes.pop(0))
        if body["touser"] in self.refused_openids:
            return _error(43101)
        if not _fits(body["data"]):
            return _error(47003)
        self.messages.append(body)
        return JSONResponse({"errcode": 0, "errmsg": "ok", "msgid": next(_rids)})

    async def _media_check_async(self, request: Request) -> Response:
        token, body = await self._recorded(request, MEDIA_CHECK_ASYNC)
        if body is None:
            return _error(47001)
        if not token or token != self.current_token:
            return _error(40001)
        url, openid = body.get("media_url"), body.get("openid")
        if (
            body.get("version") != 2
            or body.get("media_type") not in (1, 2)
            or not isinstance(url, str)
            or not url
        ):
            return _error(47001)
        if not isinstance(openid, str) or not openid:
            return _error(40003)
        if self.media_errcode is not None:
            return _error(self.media_errcode)
        trace_id = f"fake-media-trace-{next(_rids):06d}"
        self.media_checks.append({**body, "trace_id": trace_id})
        if self.on_media_check is not None:
            self.on_media_check(trace_id)
        return JSONResponse({"errcode": 0, "errmsg": "ok", "trace_id": trace_id})

    def media_push(
        self, trace_id: str, suggest: str, *, push_token: str, timestamp: int | None = None
    ) -> tuple[dict[str, str], dict[str, Any]]:
        """The push WeChat sends (plain-text mode, JSON) with an image check's verdict: the query
        parameters, signed with the message-push token, and the body. ``suggest``: pass, review or
        risky."""
        stamp = str(int(time.time()) if timestamp is None else timestamp)
        nonce = f"{next(_rids):010d}"
        signature = hashlib.sha1("".join(sorted([push_token, stamp, nonce])).encode()).hexdigest()
        label = 100 if suggest == "pass" else 20002  # 100 normal, 20002 pornography
        body = {
            "ToUserName": "gh_fake0000000",
            "FromUserName": "fake-system-openid",
            "CreateTime": int(stamp),
            "MsgType": "event",
            "Event": "wxa_media_check",
            "appid": self.appid,
            "trace_id": trace_id,
            "version": 2,
            "detail": [{"strategy": "content_model", "errcode": 0, "suggest": suggest, "label": label}],
            "errcode": 0,
            "errmsg": "ok",
            "result": {"suggest": suggest, "label": label},
        }
        return {"signature": signature, "timestamp": stamp, "nonce": nonce}, body


#: what each kind of template field holds at most, as WeChat checks it
_LIMITS = {
    "thing": 20,
    "phrase": 5,
    "name": 10,
    "character_string": 32,
    "number": 32,
    "letter": 32,
    "time": 32,
}


def _fits(data: dict[str, Any]) -> bool:
    for key, item in data.items():
        value = item.get("value") if isinstance(item, dict) else None
        kind = key.rstrip("0123456789")
        if not isinstance(value, str) or not value or len(value) > _LIMITS.get(kind, 20):
            return False
    return True


class _TestServer(uvicorn.Server):
    """uvicorn without signal handling: a test process keeps its own Ctrl-C behaviour."""

    def capture_signals(self) -> contextlib.AbstractContextManager[None]:  # type: ignore[override]
        return contextlib.nullcontext()


@contextlib.contextmanager
def _loopback_socket(port: int = 0) -> Iterator[socket.socket]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", port))  # 0: the OS picks a free port, no race with other processes
        yield sock
    finally:
        sock.close()


@contextlib.asynccontextmanager
async def run_fake_wechat(
    fake: FakeWeChat, *, startup_timeout: float = 5.0, port: int = 0
) -> AsyncIterator[str]:
    """Serve ``fake`` on 127.0.0.1 (on `port`, or one the system picks) in the running event loop;
    yield its base URL, then shut it down."""
    with _loopback_socket(port) as sock:
        port = sock.getsockname()[1]
        config = uvicorn.Config(
            fake.app(),
            lifespan="off",
            log_config=None,  # do not reconfigure the test process's logging
            log_level="warning",
            access_log=False,
            timeout_graceful_shutdown=2,
        )
        server = _TestServer(config)
        task = asyncio.create_task(server.serve(sockets=[sock]), name=f"fake-wechat:{port}")
        try:
            async with asyncio.timeout(startup_timeout):
                while not server.started:
                    if task.done():
                        task.result()  # re-raise the startup failure
                        raise RuntimeError("fake WeChat server stopped before it started")
                    await asyncio.sleep(0.005)
            yield f"http://127.0.0.1:{port}"
        finally:
            server.should_exit = True
            try:
                await asyncio.wait_for(task, timeout=startup_timeout)
            except TimeoutError:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task


def passing_pusher(
    fake: FakeWeChat, push_to: str, push_token: str, client: httpx.AsyncClient, *, delay: float = 1.0
) -> Callable[[str], None]:
    """For an integrator: every image check passes a moment later, pushed to the server signed as
    WeChat pushes it (`FakeWeChat.on_media_check`), so that photos do not stay held in development."""
    pending: set[asyncio.Task[None]] = set()

    async def push(trace_id: str) -> None:
        await asyncio.sleep(delay)
        # as WeChat does, pushed again while the server answers 404 (it has not yet stored which
        # upload the check is for: the push can overtake the answer to mediaCheckAsync)
        for _ in range(10):
            params, body = fake.media_push(trace_id, "pass", push_token=push_token)
            try:
                answered = await client.post(push_to, params=params, json=body)
            except httpx.HTTPError as exc:
                if fake.on_call is not None:
                    fake.on_call("push failed", {"to": push_to, "error": type(exc).__name__})
                return
            if answered.status_code != 404:
                return
            await asyncio.sleep(max(delay, 0.1))

    def on_check(trace_id: str) -> None:
        task = asyncio.get_running_loop().create_task(push(trace_id))
        pending.add(task)
        task.add_done_callback(pending.discard)

    return on_check
