"""Access tokens: short signed JWTs naming a person. Nothing else is trusted from the token."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import jwt

from models.errors import UnauthenticatedError

ALGORITHM = "HS256"
ISSUER = "qilijia"


def mint(
    person_id: uuid.UUID,
    *,
    secret: str,
    ttl_seconds: int,
    now: datetime | None = None,
    session: uuid.UUID | None = None,
) -> tuple[str, datetime]:
    """A signed access token; `session` names the login (the refresh-token family) it belongs to,
    so that logging out ends that login's refresh token too."""
    issued = now or datetime.now(UTC)
    expires = issued + timedelta(seconds=ttl_seconds)
    claims: dict[str, object] = {
        "sub": str(person_id),
        "iss": ISSUER,
        # fractional: a session ended a moment before must not take a token issued a moment after
        "iat": issued.timestamp(),
        "exp": int(expires.timestamp()),
        "jti": uuid.uuid4().hex,
    }
    if session is not None:
        claims["sid"] = str(session)
    return jwt.encode(claims, secret, algorithm=ALGORITHM), expires


EXPIRED = "登录已过期，请重新登录。"


@dataclass(frozen=True)
class Claims:
    """What a verified token says: whom it names, its id and its lifetime (epoch seconds)."""

    person_id: uuid.UUID
    jti: str
    issued_at: float
    expires_at: int
    #: the login (refresh-token family) the token belongs to, if any
    session: uuid.UUID | None = None


def verify(token: str, *, secret: str) -> uuid.UUID:
    """The person the token names; `UnauthenticatedError` for an expired, altered or foreign one."""
    return claims_of(token, secret=secret).person_id


def claims_of(token: str, *, secret: str) -> Claims:
    try:
        claims = jwt.decode(
            token,
            secret,
            algorithms=[ALGORITHM],
            issuer=ISSUER,
            options={"require": ["exp", "sub", "iss", "iat", "jti"]},
        )
        sid = claims.get("sid")
        return Claims(
            uuid.UUID(claims["sub"]),
            str(claims["jti"]),
            float(claims["iat"]),
            int(claims["exp"]),
            uuid.UUID(sid) if sid else None,
        )
    except jwt.ExpiredSignatureError as exc:
        raise UnauthenticatedError(EXPIRED) from exc
    except (jwt.InvalidTokenError, ValueError, TypeError) as exc:
        raise UnauthenticatedError("登录凭证无效，请重新登录。") from exc


class VerifiedTokens:
    """Tokens whose signature this process has checked, with their claims: a client sends the same
    token with every request, and checking an HMAC signature costs more than the rest of a compiled
    read's Python. Expiry is checked on every use, as `jwt.decode` does; revocation is checked where
    the principal is read (`auth.backend`)."""

    def __init__(self, secret: str, maximum: int = 10_000) -> None:
        self.secret = secret
        self.maximum = maximum
        self._entries: dict[str, Claims] = {}

    def verify(self, token: str) -> Claims:
        found = self._entries.get(token)
        if found is None:
            found = claims_of(token, secret=self.secret)
            if len(self._entries) >= self.maximum:
                self._entries.clear()
            self._entries[token] = found
        if time.time() >= found.expires_at:
            self._entries.pop(token, None)
            raise UnauthenticatedError(EXPIRED)
        return found
