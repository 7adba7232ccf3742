"""Access tokens: short signed JWTs naming a person. Nothing else is trusted from the token."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta

import jwt

from models.errors import UnauthenticatedError

ALGORITHM = "HS256"
ISSUER = "qilijia"


def mint(
    person_id: uuid.UUID, *, secret: str, ttl_seconds: int, now: datetime | None = None
) -> tuple[str, datetime]:
    issued = now or datetime.now(UTC)
    expires = issued + timedelta(seconds=ttl_seconds)
    claims = {
        "sub": str(person_id),
        "iss": ISSUER,
        "iat": int(issued.timestamp()),
        "exp": int(expires.timestamp()),
        "jti": uuid.uuid4().hex,
    }
    return jwt.encode(claims, secret, algorithm=ALGORITHM), expires


EXPIRED = "登录已过期，请重新登录。"


def verify(token: str, *, secret: str) -> uuid.UUID:
    """The person the token names; `UnauthenticatedError` for an expired, altered or foreign one."""
    return _claims(token, secret)[0]


def _claims(token: str, secret: str) -> tuple[uuid.UUID, int]:
    try:
        claims = jwt.decode(
            token, secret, algorithms=[ALGORITHM], issuer=ISSUER, options={"require": ["exp", "sub", "iss"]}
        )
        return uuid.UUID(claims["sub"]), int(claims["exp"])
    except jwt.ExpiredSignatureError as exc:
        raise UnauthenticatedError(EXPIRED) from exc
    except (jwt.InvalidTokenError, ValueError, TypeError) as exc:
        raise UnauthenticatedError("登录凭证无效，请重新登录。") from exc


class VerifiedTokens:
    """Tokens whose signature this process has checked, with their person and expiry: a client
    sends the same token with every request, and checking an HMAC signature costs more than the
    rest of a compiled read's Python. Expiry is checked on every use, as `jwt.decode` does."""

    def __init__(self, secret: str, maximum: int = 10_000) -> None:
        self.secret = secret
        self.maximum = maximum
        self._entries: dict[str, tuple[uuid.UUID, int]] = {}

    def verify(self, token: str) -> uuid.UUID:
        found = self._entries.get(token)
        if found is None:
            found = _claims(token, self.secret)
            if len(self._entries) >= self.maximum:
                self._entries.clear()
            self._entries[token] = found
        person_id, expires = found
        if time.time() >= expires:
            self._entries.pop(token, None)
            raise UnauthenticatedError(EXPIRED)
        return person_id
