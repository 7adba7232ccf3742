"""Access tokens: short signed JWTs naming a person. Nothing else is trusted from the token."""

from __future__ import annotations

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


def verify(token: str, *, secret: str) -> uuid.UUID:
    """The person the token names; `UnauthenticatedError` for an expired, altered or foreign one."""
    try:
        claims = jwt.decode(
            token, secret, algorithms=[ALGORITHM], issuer=ISSUER, options={"require": ["exp", "sub", "iss"]}
        )
        return uuid.UUID(claims["sub"])
    except jwt.ExpiredSignatureError as exc:
        raise UnauthenticatedError("登录已过期，请重新登录。") from exc
    except (jwt.InvalidTokenError, ValueError) as exc:
        raise UnauthenticatedError("登录凭证无效，请重新登录。") from exc
