"""The Starlette authentication backend: one request in, one typed principal out.

`Authorization: Bearer <token>` names a person, `X-API-Key` a third-party client; neither gives the
anonymous principal. Bad credentials are refused outright (401) rather than silently downgraded to
anonymous, so a client with an expired token learns it at once.
"""

from __future__ import annotations

import asyncio
import functools
import uuid
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.authentication import AuthCredentials, AuthenticationBackend, AuthenticationError
from starlette.requests import HTTPConnection

from auth import apikeys, tokens
from auth.principal import (
    ANONYMOUS,
    ApiClientPrincipal,
    HomeGrant,
    PersonPrincipal,
    PositionGrant,
    Principal,
    RoleGrant,
)
from models.access import current_epoch
from models.apiclient import ApiClient
from models.enums import HomeRelation, Position, Role
from models.errors import UnauthenticatedError
from models.person import Home, Person, RoleAssignment, TeamPosition
from models.place import Household
from models.session import RevokedToken
from models.terms import in_force


def _rows(model: Any, columns: list[Any], where: Any, order: list[Any], join: Any = None) -> Any:
    """One kind of grant as a JSON array of arrays, in a sub-select (NULL when there is none)."""
    source = model if join is None else join
    rows = sa.func.json_agg(aggregate_order_by(sa.func.json_build_array(*columns), *order))
    return sa.select(rows).select_from(source).where(where).scalar_subquery()


@functools.cache
def _principal_statement() -> Any:
    """The caller with every role, position and home: one statement, built once."""
    me = Person.__table__.c.id
    statement = sa.select(
        Person.id,
        Person.name,
        _rows(
            RoleAssignment,
            [
                RoleAssignment.role,
                sa.func.coalesce(
                    RoleAssignment.compound_id, RoleAssignment.grid_id, RoleAssignment.community_id
                ),
            ],
            sa.and_(RoleAssignment.person_id == me, in_force(RoleAssignment.__table__)),
            [RoleAssignment.created_at, RoleAssignment.id],
        ).label("roles"),
        _rows(
            TeamPosition,
            [TeamPosition.position, TeamPosition.compound_id, TeamPosition.building_id],
            sa.and_(TeamPosition.person_id == me, in_force(TeamPosition.__table__)),
            [TeamPosition.created_at, TeamPosition.id],
        ).label("positions"),
        _rows(
            Home,
            [Home.household_id, Household.building_id, Home.compound_id, Home.relation],
            sa.and_(Home.person_id == me, in_force(Home.__table__)),
            [Home.created_at, Home.id],
            join=sa.join(Home, Household, Household.id == Home.household_id),
        ).label("homes"),
        current_epoch().label("epoch"),
        # whether the token asked with has been revoked: logged out, or every session ended after it
        sa.or_(
            sa.exists().where(RevokedToken.jti == sa.bindparam("jti", type_=sa.Text)),
            Person.sessions_valid_after > sa.func.to_timestamp(sa.bindparam("issued", type_=sa.Float)),
        ).label("revoked"),
    ).where(me == sa.bindparam("person", type_=sa.Uuid))
    return statement


#: the message for a token whose session has ended
REVOKED = "您已退出登录，请重新登录。"


async def load_person_principal(
    session: AsyncSession, person_id: uuid.UUID, claims: tokens.Claims | None = None
) -> PersonPrincipal | None:
    """The caller with every role, position and home, read in one statement; with the claims of
    the token asked with, `UnauthenticatedError` when that token's session has ended."""
    found = (await session.execute(_principal_statement(), _principal_values(person_id, claims))).first()
    return None if found is None else _principal(found._mapping, claims)


@functools.cache
def _principal_sql() -> tuple[str, tuple[str, ...], dict[str, Any]]:
    """The principal's statement as the driver takes it: its text, the order of its values, and
    the values that are part of the statement (the time zone of the day)."""
    compiled = _principal_statement().compile(
        dialect=postgresql.asyncpg.dialect(),  # type: ignore[attr-defined]
        compile_kwargs={"render_postcompile": True},
    )
    return compiled.string, tuple(compiled.positiontup or ()), dict(compiled.params)


async def fetch_person_principal(
    pool: Any, person_id: uuid.UUID, claims: tokens.Claims | None = None
) -> PersonPrincipal | None:
    """`load_person_principal` on an asyncpg pool: the statement alone, one round trip, where a
    session would add a BEGIN and a ROLLBACK around it (every mutation reads its caller afresh)."""
    sql, order, constants = _principal_sql()
    values = constants | _principal_values(person_id, claims)
    found = await pool.fetchrow(sql, *(values[name] for name in order))
    if found is None:
        return None
    grants = {
        k: orjson.loads(found[k]) if found[k] is not None else None for k in ("roles", "positions", "homes")
    }
    return _principal({**dict(found.items()), **grants}, claims)


def _principal_values(person_id: uuid.UUID, claims: tokens.Claims | None) -> dict[str, Any]:
    return {
        "person": person_id,
        "jti": claims.jti if claims else "",
        "issued": claims.issued_at if claims else 0.0,
    }


def _principal(found: Mapping[str, Any], claims: tokens.Claims | None) -> PersonPrincipal:
    if claims is not None and found["revoked"]:
        raise UnauthenticatedError(REVOKED)

    def ident(value: str | None) -> uuid.UUID | None:
        return uuid.UUID(value) if value is not None else None

    return PersonPrincipal(
        person_id=found["id"],
        name=found["name"],
        roles=tuple(RoleGrant(Role(r), ident(pid)) for r, pid in found["roles"] or ()),
        positions=tuple(
            PositionGrant(Position(p), uuid.UUID(c), ident(b)) for p, c, b in found["positions"] or ()
        ),
        homes=tuple(
            HomeGrant(uuid.UUID(h), uuid.UUID(b), uuid.UUID(c), HomeRelation(rel))
            for h, b, c, rel in found["homes"] or ()
        ),
        epoch=found["epoch"],
    )


async def load_api_client(
    session: AsyncSession, key: str, cache: apikeys.VerifiedKeyCache
) -> ApiClientPrincipal:
    cached = cache.get(key)
    if cached is not None:
        return ApiClientPrincipal(client_id=cached[0], name=cached[1])
    prefix = apikeys.prefix_of(key)
    if prefix is not None:
        row = (
            await session.execute(
                sa.select(ApiClient.id, ApiClient.name, ApiClient.key_hash).where(
                    ApiClient.key_prefix == prefix, ApiClient.revoked_at.is_(None)
                )
            )
        ).first()
        # argon2 is slow by design: off the event loop, so that a wrong key does not stall others
        if row is not None and await asyncio.to_thread(apikeys.matches, key, row.key_hash):
            cache.put(key, row.id, row.name)
            return ApiClientPrincipal(client_id=row.id, name=row.name)
    raise UnauthenticatedError("API 密钥无效或已被吊销。")


class PrincipalCache:
    """The principals this process has read, by the token they were read for (its `jti`), most
    recently used last: each token is checked for revocation once before its principal is cached.

    An entry may be stale (someone's roles changed, a session ended since: both move the access
    epoch): it is only ever used where a statement checks the entry's epoch against the current
    one before anything is answered or written: the compiled read path, which refuses to answer
    for a stale principal (`schema.compiler.STALE`), and an owner's own ballot, whose load reads the
    epoch (`resolvers.pipeline.run_on_driver`); a stale principal is then read again, revocation
    included. Everything else reads the principal afresh."""

    def __init__(self, maximum: int = 10_000) -> None:
        self.maximum = maximum
        self._entries: OrderedDict[str, PersonPrincipal] = OrderedDict()

    def get(self, jti: str) -> PersonPrincipal | None:
        found = self._entries.get(jti)
        if found is not None:
            self._entries.move_to_end(jti)
        return found

    def put(self, jti: str, principal: PersonPrincipal) -> None:
        self._entries[jti] = principal
        self._entries.move_to_end(jti)
        while len(self._entries) > self.maximum:
            self._entries.popitem(last=False)

    def drop(self, jti: str) -> None:
        self._entries.pop(jti, None)


#: The credential scope that marks a principal taken from the cache, not read for this request.
CACHED = "cached"
#: Where a request keeps the claims of the token it came with (the ASGI scope).
CLAIMS = "qilijia.claims"


class QilijiaAuthBackend(AuthenticationBackend):
    def __init__(self, sessions: async_sessionmaker[AsyncSession], secret: str) -> None:
        self.sessions = sessions
        self.secret = secret
        self.key_cache = apikeys.VerifiedKeyCache()
        self.principals = PrincipalCache()
        self.tokens = tokens.VerifiedTokens(secret)
        #: the compiled read path's asyncpg pool, where there is one: callers are read there
        self.pool: Any = None

    async def authenticate(self, conn: HTTPConnection) -> tuple[AuthCredentials, Principal]:
        header = conn.headers.get("authorization")
        key = conn.headers.get("x-api-key")
        try:
            if header:
                scheme, _, token = header.partition(" ")
                if scheme.lower() != "bearer" or not token.strip():
                    raise UnauthenticatedError("登录凭证格式不正确，请重新登录。")
                claims = self.tokens.verify(token.strip())
                conn.scope[CLAIMS] = claims
                cached = self.principals.get(claims.jti)
                if cached is not None:
                    return AuthCredentials(["person", CACHED]), cached
                return AuthCredentials(["person"]), await self.load(claims)
            if key:
                async with self.sessions() as session:
                    client = await load_api_client(session, key.strip(), self.key_cache)
                return AuthCredentials(["api_client"]), client
        except UnauthenticatedError as exc:
            raise AuthenticationError(exc.message) from exc
        return AuthCredentials(), ANONYMOUS

    async def person(self, token: str) -> PersonPrincipal:
        """The principal a bearer token names, read now."""
        return await self.load(self.tokens.verify(token))

    async def load(self, claims: tokens.Claims) -> PersonPrincipal:
        """The principal of the token with these claims, read now (one statement) and checked for
        revocation, kept for the compiled read path."""
        try:
            if self.pool is not None:
                principal = await fetch_person_principal(self.pool, claims.person_id, claims)
            else:
                async with self.sessions() as session:
                    principal = await load_person_principal(session, claims.person_id, claims)
        except UnauthenticatedError:
            self.principals.drop(claims.jti)
            raise
        if principal is None:
            self.principals.drop(claims.jti)
            raise UnauthenticatedError("账号不存在或已被注销，请重新登录。")
        self.principals.put(claims.jti, principal)
        return principal
