"""Sessions: access tokens with a refresh token, logging out here or everywhere.

The mini-program keeps a short-lived access token (`QILIJIA_TOKEN_TTL`, 2 h) and a refresh token
(`REFRESH_TTL`, 30 days). Each refresh replaces the refresh token with a new one of the same family;
a used one presented again means it was copied, and ends the whole family. Ending sessions moves the
access epoch (migration 0008) and notifies the person's open WebSockets, which close (4401).
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from auth import tokens
from auth.backend import CLAIMS
from auth.policy import require_person
from models.errors import UnauthenticatedError
from models.person import Person
from models.session import RefreshToken, RevokedToken
from resolvers.context import Context
from resolvers.events import notify

REFRESH_TTL = timedelta(days=30)
REFRESH_PREFIX = "qlr_"
EXPIRED_REFRESH = "登录已过期，请重新登录。"


def sessions_topic(person_id: uuid.UUID) -> str:
    """The `LISTEN/NOTIFY` topic on which a person's open WebSockets hear that sessions ended."""
    return f"sessions:{person_id}"


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def new_refresh_token(session: AsyncSession, person_id: uuid.UUID, family: uuid.UUID) -> str:
    token = REFRESH_PREFIX + secrets.token_urlsafe(32)
    session.add(
        RefreshToken(
            person_id=person_id,
            token_hash=_hash(token),
            family=family,
            expires_at=datetime.now(UTC) + REFRESH_TTL,
        )
    )
    await session.flush()
    return token


async def use_refresh_token(session: AsyncSession, token: str) -> tuple[uuid.UUID, uuid.UUID, str] | None:
    """(person, family, the next refresh token) for a valid refresh token, which is used up. A used
    or revoked one ends its family and gives None: the caller commits that, then refuses. Any other
    failure is `UNAUTHENTICATED` at once."""
    row = (
        await session.execute(
            sa.select(RefreshToken, Person.sessions_valid_after)
            .join(Person, Person.id == RefreshToken.person_id)
            .where(RefreshToken.token_hash == _hash(token.strip()))
            .with_for_update(of=RefreshToken)
        )
    ).first()
    if row is None:
        raise UnauthenticatedError(EXPIRED_REFRESH)
    found, valid_after = row
    now = datetime.now(UTC)
    if found.used_at is not None or found.revoked_at is not None:
        await session.execute(
            sa.update(RefreshToken)
            .where(RefreshToken.family == found.family, RefreshToken.revoked_at.is_(None))
            .values(revoked_at=now)
        )
        return None
    if found.expires_at <= now or (valid_after is not None and valid_after > found.created_at):
        raise UnauthenticatedError(EXPIRED_REFRESH)
    found.used_at = now
    return found.person_id, found.family, await new_refresh_token(session, found.person_id, found.family)


async def end_all(session: AsyncSession, person_id: uuid.UUID) -> None:
    """Every session of the person ends now: access tokens issued before now and refresh tokens."""
    now = datetime.now(UTC)
    await session.execute(sa.update(Person).where(Person.id == person_id).values(sessions_valid_after=now))
    await session.execute(
        sa.update(RefreshToken)
        .where(RefreshToken.person_id == person_id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    await notify(session, sessions_topic(person_id))


def _claims(ctx: Context) -> tokens.Claims:
    require_person(ctx.principal)
    claims = getattr(ctx.request, "scope", {}).get(CLAIMS)
    if claims is None:
        raise UnauthenticatedError()
    return claims


async def logout(ctx: Context) -> bool:
    """This token, and the refresh token of its login, end now."""
    claims = _claims(ctx)
    async with ctx.sessions() as session, session.begin():
        await session.execute(
            insert(RevokedToken)
            .values(
                jti=claims.jti,
                person_id=claims.person_id,
                expires_at=datetime.fromtimestamp(claims.expires_at, UTC),
            )
            .on_conflict_do_nothing()
        )
        if claims.session is not None:
            await session.execute(
                sa.update(RefreshToken)
                .where(RefreshToken.family == claims.session, RefreshToken.revoked_at.is_(None))
                .values(revoked_at=datetime.now(UTC))
            )
        await notify(session, sessions_topic(claims.person_id))
    return True


async def logout_everywhere(ctx: Context) -> bool:
    claims = _claims(ctx)
    async with ctx.sessions() as session, session.begin():
        await end_all(session, claims.person_id)
    return True
