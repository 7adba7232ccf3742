"""Client for the WeChat mini-program server API (login, phone number, content check, access token).

Why this module exists and is shaped the way it is:

* WeChat answers almost every failure with HTTP 200 and an ``errcode`` in the JSON body, so a plain
  ``raise_for_status()`` would treat a rejected login as a success. Every answer is therefore checked
  here, once, and turned into the project's own errors (``models.errors``) with a sentence a resident
  can read; the GraphQL layer can then show it without knowing anything about WeChat.
* ``jscode2session`` also returns the ``session_key``. We never keep or return it: we do not decrypt
  any ``encryptedData`` (phone numbers come from ``getuserphonenumber`` instead), and a key we do not
  hold cannot leak through a log line, a cache or a debugger.
* ``access_token`` is a scarce, shared credential: ``stable_token`` is rate limited (and a forced
  refresh invalidates the previous token for everyone using it), so it is cached per client instance
  and fetched under a lock. When WeChat nevertheless says the token is invalid or expired (40001 /
  42001) we refresh exactly once and retry exactly once; looping would burn the daily quota.
* Secrets (the app secret, the access token, the session key) and the one-time codes never appear in
  exception messages or in our log lines. Note that the real API wants the secret and the token in the
  query string, so whoever configures logging must keep the ``httpx`` logger above INFO, or it will
  write the full request URL.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Any, Literal

import httpx
from prometheus_client import Counter

from models.errors import (
    BadUserInputError,
    ForbiddenError,
    QilijiaError,
    RateLimitedError,
    UpstreamError,
)

__all__ = ["WeChatClient", "WeChatSession"]

logger = logging.getLogger("qilijia.wechat")
#: requests sent to WeChat, by API path (its quota is the whole app's)
WECHAT_CALLS = Counter("qilijia_wechat_calls_total", "Requests sent to WeChat, by API path", ["path"])

# access_token rejected: 40001 = invalid / not the latest, 42001 = expired.
_TOKEN_REJECTED = frozenset({40001, 42001})
# Stop using a cached token this long before WeChat says it expires, so that a request sent just
# before expiry does not arrive just after it.
_TOKEN_EXPIRY_MARGIN_SECONDS = 300.0
# errmsg is upstream text; keep log lines bounded.
_MAX_ERRMSG_LOG_CHARS = 200

_Purpose = Literal["login", "phone", "token", "content", "message", "media"]

_GENERIC_MESSAGE = "微信服务暂时不可用，请稍后再试。"
_BUSY_MESSAGE = "微信服务繁忙，请稍后再试。"
_TIMEOUT_MESSAGE = "连接微信服务超时，请稍后再试。"
_RATE_LIMITED_MESSAGE = "请求太频繁，请稍后再试。"
_RISKY_USER_MESSAGE = "微信判定当前账号存在安全风险，暂时无法登录，请稍后再试或联系客服。"
_INVALID_CODE_MESSAGES: dict[_Purpose, str] = {
    "login": "登录凭证无效，请重新进入小程序后再试。",
    "phone": "手机号授权凭证无效，请重新授权后再试。",
    "token": _GENERIC_MESSAGE,
    "content": _GENERIC_MESSAGE,
    "message": _GENERIC_MESSAGE,
    "media": _GENERIC_MESSAGE,
}
_USED_CODE_MESSAGES: dict[_Purpose, str] = {
    "login": "登录凭证已被使用，请重新进入小程序后再试。",
    "phone": "手机号授权凭证已被使用，请重新授权后再试。",
    "token": _GENERIC_MESSAGE,
    "content": _GENERIC_MESSAGE,
    "message": _GENERIC_MESSAGE,
    "media": _GENERIC_MESSAGE,
}
# msgSecCheck v2 verdicts (result.suggest).
_SUGGESTIONS = frozenset({"pass", "review", "risky"})


@dataclass(frozen=True)
class WeChatSession:
    """What we keep from ``jscode2session``. ``session_key`` is deliberately not kept."""

    openid: str
    unionid: str | None


class WeChatClient:
    """Async client for one mini-program (one appid). Share one instance per process.

    The instance owns the access_token cache; the ``httpx.AsyncClient`` is owned by the caller, who
    also chooses its timeouts and closes it.
    """

    def __init__(self, *, base_url: str, appid: str, secret: str, http: httpx.AsyncClient) -> None:
        self._base_url = base_url.rstrip("/")
        self._appid = appid
        self._secret = secret
        self._http = http
        self._token: str | None = None
        self._token_fresh_until = 0.0  # time.monotonic() value
        self._token_lock = asyncio.Lock()

    def __repr__(self) -> str:  # never show the secret or the token
        return f"WeChatClient(base_url={self._base_url!r}, appid={self._appid!r})"

    # ------------------------------------------------------------------ login

    async def code_to_session(self, code: str) -> WeChatSession:
        """Exchange a ``wx.login`` code for the user's openid (and unionid, if the app has one)."""
        if not code:
            raise _with_errcode(BadUserInputError(_INVALID_CODE_MESSAGES["login"]), None)
        body = await self._call(
            "GET",
            "/sns/jscode2session",
            purpose="login",
            params={
                "appid": self._appid,
                "secret": self._secret,
                "js_code": code,
                "grant_type": "authorization_code",
            },
        )
        self._raise_for_errcode(body, "/sns/jscode2session", "login")
        openid = body.get("openid")
        unionid = body.get("unionid")
        if (
            not isinstance(openid, str)
            or not openid
            or (unionid is not None and not isinstance(unionid, str))
        ):
            logger.error("WeChat /sns/jscode2session answered without a usable openid/unionid")
            raise _with_errcode(UpstreamError(_GENERIC_MESSAGE), None)
        return WeChatSession(openid=openid, unionid=unionid or None)

    # ----------------------------------------------------------- phone number

    async def phone_number(self, code: str) -> str:
        """Exchange a ``getPhoneNumber`` button code for the user's phone number (no country code)."""
        if not code:
            raise _with_errcode(BadUserInputError(_INVALID_CODE_MESSAGES["phone"]), None)
        path = "/wxa/business/getuserphonenumber"
        body = await self._post_with_token(path, "phone", {"code": code})
        phone_info = body.get("phone_info")
        phone = phone_info.get("purePhoneNumber") if isinstance(phone_info, dict) else None
        if not isinstance(phone, str) or not phone:
            logger.error("WeChat %s answered without phone_info.purePhoneNumber", path)
            raise _with_errcode(UpstreamError(_GENERIC_MESSAGE), None)
        return phone

    # ---------------------------------------------------------- content check

    async def msg_sec_check(self, openid: str, content: str) -> str:
        """Ask ``msgSecCheck`` (v2) about user text; return its verdict: pass, review or risky.

        ``scene`` 2 is "comment" (评论), the closest of WeChat's scenes to reports and comments.
        The content is personal data: it is sent to WeChat and never logged here.
        """
        path = "/wxa/msg_sec_check"
        payload = {"content": content, "version": 2, "scene": 2, "openid": openid}
        body = await self._post_with_token(path, "content", payload)
        result = body.get("result")
        suggest = result.get("suggest") if isinstance(result, dict) else None
        if suggest not in _SUGGESTIONS:
            logger.error("WeChat %s answered without a known result.suggest", path)
            raise _with_errcode(UpstreamError(_GENERIC_MESSAGE), None)
        return str(suggest)

    # ------------------------------------------------------------ image check

    async def media_check_async(self, openid: str, media_url: str) -> str:
        """Ask ``mediaCheckAsync`` (v2) to check an image WeChat fetches from ``media_url``; return
        the ``trace_id`` its asynchronous verdict (pushed to our callback) will name. ``scene`` 2 is
        "comment", as for text; ``media_type`` 2 is an image. The URL is signed and short-lived:
        never logged here."""
        path = "/wxa/media_check_async"
        payload = {"media_url": media_url, "media_type": 2, "version": 2, "scene": 2, "openid": openid}
        body = await self._post_with_token(path, "media", payload)
        trace_id = body.get("trace_id")
        if not isinstance(trace_id, str) or not trace_id:
            logger.error("WeChat %s answered without a trace_id", path)
            raise _with_errcode(UpstreamError(_GENERIC_MESSAGE), None)
        return trace_id

    # ---------------------------------------------------- subscription messages

    async def send_subscription_message(
        self, openid: str, template_id: str, data: dict[str, Any], *, page: str | None = None
    ) -> None:
        """Send one subscription message (订阅消息). Raises with WeChat's errcode attached
        (``wechat_errcode``), so that the sender can tell a refusal for good (43101: the user has
        no subscription left) from a failure worth retrying. The data are personal: never logged."""
        path = "/cgi-bin/message/subscribe/send"
        payload: dict[str, Any] = {
            "touser": openid,
            "template_id": template_id,
            "data": data,
            "lang": "zh_CN",
        }
        if page:
            payload["page"] = page
        await self._post_with_token(path, "message", payload)

    async def _post_with_token(self, path: str, purpose: _Purpose, payload: dict[str, Any]) -> dict[str, Any]:
        """POST with the access_token; when WeChat says it is invalid or expired, refresh it once
        and try once more (nothing was done with a rejected token). Any other errcode, and a second
        rejection, raise as `_raise_for_errcode` maps them."""
        token = await self.access_token()
        body = await self._call("POST", path, purpose=purpose, params={"access_token": token}, json=payload)
        if _errcode(body) in _TOKEN_REJECTED:
            logger.warning(
                "WeChat %s rejected the access_token (errcode %s); refreshing it once", path, _errcode(body)
            )
            token = await self._refresh_rejected_token(token)
            body = await self._call(
                "POST", path, purpose=purpose, params={"access_token": token}, json=payload
            )
        self._raise_for_errcode(body, path, purpose)
        return body

    # ----------------------------------------------------------- access token

    async def access_token(self, *, force_refresh: bool = False) -> str:
        """Return the cached access_token, fetching it from ``stable_token`` when needed.

        Concurrent callers share one fetch. ``force_refresh=True`` asks WeChat for a new token, which
        invalidates the old one; use it only when WeChat has rejected the current token.
        """
        if not force_refresh and (cached := self._cached_token()) is not None:
            return cached
        async with self._token_lock:
            if not force_refresh and (cached := self._cached_token()) is not None:
                return cached  # another caller fetched it while we waited
            return await self._fetch_token(force_refresh=force_refresh)

    async def _refresh_rejected_token(self, rejected: str) -> str:
        """Force a new token, unless a concurrent caller already replaced the rejected one."""
        async with self._token_lock:
            cached = self._cached_token()
            if cached is not None and cached != rejected:
                return cached
            return await self._fetch_token(force_refresh=True)

    def _cached_token(self) -> str | None:
        if self._token is not None and time.monotonic() < self._token_fresh_until:
            return self._token
        return None

    async def _fetch_token(self, *, force_refresh: bool) -> str:
        """Fetch a token from WeChat and cache it. Call only while holding ``_token_lock``."""
        path = "/cgi-bin/stable_token"
        body = await self._call(
            "POST",
            path,
            purpose="token",
            json={
                "grant_type": "client_credential",
                "appid": self._appid,
                "secret": self._secret,
                "force_refresh": force_refresh,
            },
        )
        self._raise_for_errcode(body, path, "token")
        token = body.get("access_token")
        expires_in = body.get("expires_in")
        if (
            not isinstance(token, str)
            or not token
            or isinstance(expires_in, bool)
            or not isinstance(expires_in, int)
            or expires_in <= 0
        ):
            logger.error("WeChat %s answered without a usable access_token/expires_in", path)
            raise _with_errcode(UpstreamError(_GENERIC_MESSAGE), None)
        self._token = token
        self._token_fresh_until = time.monotonic() + max(expires_in - _TOKEN_EXPIRY_MARGIN_SECONDS, 0.0)
        logger.info(
            "Fetched a WeChat access_token (force_refresh=%s, expires_in=%s)", force_refresh, expires_in
        )
        return token

    # -------------------------------------------------------------- transport

    async def _call(
        self,
        method: Literal["GET", "POST"],
        path: str,
        *,
        purpose: _Purpose,
        params: dict[str, str] | None = None,
        json: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Send one request and return the decoded JSON object; errcode is NOT checked here.

        Log lines name only the path: the URL carries the secret or the access token.
        """
        WECHAT_CALLS.labels(path).inc()
        try:
            response = await self._http.request(method, self._base_url + path, params=params, json=json)
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            # never reached WeChat: nothing it could have acted on
            logger.warning("WeChat %s could not be reached (%s)", path, type(exc).__name__)
            raise _unreached(_with_errcode(UpstreamError(_GENERIC_MESSAGE), None)) from exc
        except httpx.TimeoutException as exc:
            logger.warning("WeChat %s timed out (%s)", path, type(exc).__name__)
            raise _with_errcode(UpstreamError(_TIMEOUT_MESSAGE), None) from exc
        except httpx.HTTPError as exc:
            logger.warning("WeChat %s request failed (%s)", path, type(exc).__name__)
            raise _with_errcode(UpstreamError(_GENERIC_MESSAGE), None) from exc
        if response.status_code != 200:
            logger.warning("WeChat %s answered HTTP %s", path, response.status_code)
            raise _with_errcode(UpstreamError(_GENERIC_MESSAGE), None)
        try:
            body = response.json()
        except ValueError:
            logger.warning(
                "WeChat %s answered a body that is not JSON (content-type %r)",
                path,
                response.headers.get("content-type"),
            )
            raise _with_errcode(UpstreamError(_GENERIC_MESSAGE), None) from None
        if not isinstance(body, dict):
            logger.warning("WeChat %s answered JSON that is not an object", path)
            raise _with_errcode(UpstreamError(_GENERIC_MESSAGE), None)
        return body

    @staticmethod
    def _raise_for_errcode(body: dict[str, Any], path: str, purpose: _Purpose) -> None:
        errcode = _errcode(body)
        if errcode == 0:
            return
        errmsg = str(body.get("errmsg", ""))[:_MAX_ERRMSG_LOG_CHARS]
        error = _error_for(errcode, purpose)
        log = logger.error if isinstance(error, UpstreamError) else logger.warning
        log("WeChat %s answered errcode %s (%s)", path, errcode, errmsg)
        raise error


def _errcode(body: dict[str, Any]) -> int | None:
    """0 for success (absent or 0), the code otherwise; None if WeChat sent something unreadable."""
    raw = body.get("errcode", 0)
    if raw is None:
        return 0
    if isinstance(raw, bool):
        return None
    if isinstance(raw, int):
        return raw
    if isinstance(raw, str):
        try:
            return int(raw)
        except ValueError:
            return None
    return None


def _error_for(errcode: int | None, purpose: _Purpose) -> QilijiaError:
    error: QilijiaError
    if errcode == 40029:  # invalid code
        error = BadUserInputError(_INVALID_CODE_MESSAGES[purpose])
    elif errcode == 40163:  # code been used
        error = BadUserInputError(_USED_CODE_MESSAGES[purpose])
    elif errcode == 45011:  # API minute-quota reached
        error = RateLimitedError(_RATE_LIMITED_MESSAGE)
    elif errcode == 40226:  # high-risk user, login blocked by WeChat
        error = ForbiddenError(_RISKY_USER_MESSAGE)
    elif errcode == -1:  # system busy
        error = UpstreamError(_BUSY_MESSAGE)
    else:
        error = UpstreamError(_GENERIC_MESSAGE)
    return _with_errcode(error, errcode)


def _unreached(error: QilijiaError) -> QilijiaError:
    """Mark an error raised before the request reached WeChat (``wechat_reached`` False): a send
    that failed so is safe to repeat, unlike one whose answer was lost."""
    error.wechat_reached = False  # type: ignore[attr-defined]
    return error


def _with_errcode(error: QilijiaError, errcode: int | None) -> QilijiaError:
    """Attach WeChat's errcode (None when WeChat gave none) for logging and tests."""
    error.wechat_errcode = errcode  # type: ignore[attr-defined]
    return error
