"""WeChat's message push (消息推送) to us: how a push is signed, and what its image-check verdict says.

WeChat signs every push to a mini-program's server URL with the token configured for it on the
mini-program's console: `signature` = SHA-1 of the token, `timestamp` and `nonce` sorted and
joined. In the plain-text mode (明文模式) that signature does not cover the body, so a push is taken
only when it is signed and fresh (`PUSH_MAX_AGE_SECONDS`): a captured one cannot be replayed later.
The encrypted mode (安全模式, AES) is not implemented.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from typing import Any

#: a push signed longer ago than this is refused (WeChat retries within seconds)
PUSH_MAX_AGE_SECONDS = 300

#: `mediaCheckAsync` v2 verdicts that let an image be shown; `review` and `risky` hold or refuse it
PASSING = frozenset({"pass"})


def push_signature(token: str, timestamp: str, nonce: str) -> str:
    """The `signature` WeChat sends with a push: sha1 of the sorted token, timestamp and nonce."""
    return hashlib.sha1("".join(sorted([token, timestamp, nonce])).encode()).hexdigest()


def push_signed(token: str, params: dict[str, str], now: float) -> bool:
    """Whether a push's query parameters carry our token's signature, signed within the window."""
    timestamp, nonce, signature = (
        params.get("timestamp", ""),
        params.get("nonce", ""),
        params.get("signature", ""),
    )
    if not (timestamp.isdigit() and nonce and signature):
        return False
    if abs(now - int(timestamp)) > PUSH_MAX_AGE_SECONDS:
        return False
    return hmac.compare_digest(push_signature(token, timestamp, nonce), signature.lower())


@dataclass(frozen=True)
class MediaVerdict:
    """The verdict of one image check (`Event: wxa_media_check`)."""

    trace_id: str
    passed: bool


def media_verdict(body: Any, appid: str | None) -> MediaVerdict | None:
    """The image-check verdict a pushed JSON body carries, or None when it is another event, for
    another mini-program, or malformed. Anything but a clear `pass` fails the image: `review`
    (WeChat unsure) is a failure too, as there is nobody here to review photos."""
    if not isinstance(body, dict) or body.get("Event") != "wxa_media_check":
        return None
    if appid is not None and body.get("appid") not in (None, appid):
        return None
    trace_id = body.get("trace_id")
    result = body.get("result")
    suggest = result.get("suggest") if isinstance(result, dict) else None
    if not isinstance(trace_id, str) or not trace_id or not isinstance(suggest, str):
        return None
    return MediaVerdict(trace_id=trace_id, passed=suggest in PASSING and body.get("errcode", 0) == 0)
