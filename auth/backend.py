"""The Starlette authentication backend: one request in, one typed principal out.

`Authorization: Bearer <token>` names a person, `X-API-Key` a third-party client; neither gives the
anonymous principal. Bad credentials are refused outright (401) rather than silently downgraded to
anonymous, so a client with an expired token learns it at once.
"""

from __future__ import annotations

import uuid

import sqlalchemy as sa
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
from models.apiclient import ApiClient
from models.enums import HomeRelation, Position, Role
from models.errors import UnauthenticatedError
from models.person import Home, Person, RoleAssignment, TeamPosition
from models.place import Household


async def load_person_principal(session: AsyncSession, person_id: uuid.UUID) -> PersonPrincipal | None:
    person = (await session.execute(sa.select(Person.id, Person.name).where(Person.id == person_id))).first()
    if person is None:
        return None
    roles = (
        await session.execute(
            sa.select(
                RoleAssignment.role,
                sa.func.coalesce(
                    RoleAssignment.compound_id, RoleAssignment.grid_id, RoleAssignment.community_id
                ),
            ).where(RoleAssignment.person_id == person_id)
        )
    ).all()
    positions = (
        await session.execute(
            sa.select(TeamPosition.position, TeamPosition.compound_id, TeamPosition.building_id).where(
                TeamPosition.person_id == person_id
            )
        )
    ).all()
    homes = (
        await session.execute(
            sa.select(Home.household_id, Household.building_id, Home.compound_id, Home.relation)
            .join(Household, Household.id == Home.household_id)
            .where(Home.person_id == person_id)
        )
    ).all()
    return PersonPrincipal(
        person_id=person.id,
        name=person.name,
        roles=tuple(RoleGrant(Role(r), pid) for r, pid in roles),
        positions=tuple(PositionGrant(Position(p), c, b) for p, c, b in positions),
        homes=tuple(HomeGrant(h, b, c, HomeRelation(rel)) for h, b, c, rel in homes),
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
        if row is not None and apikeys.matches(key, row.key_hash):
            cache.put(key, row.id, row.name)
            return ApiClientPrincipal(client_id=row.id, name=row.name)
    raise UnauthenticatedError("API 密钥无效或已被吊销。")


class QilijiaAuthBackend(AuthenticationBackend):
    def __init__(self, sessions: async_sessionmaker[AsyncSession], secret: str) -> None:
        self.sessions = sessions
        self.secret = secret
        self.key_cache = apikeys.VerifiedKeyCache()

    async def authenticate(self, conn: HTTPConnection) -> tuple[AuthCredentials, Principal]:
        header = conn.headers.get("authorization")
        key = conn.headers.get("x-api-key")
        try:
            if header:
                scheme, _, token = header.partition(" ")
                if scheme.lower() != "bearer" or not token.strip():
                    raise UnauthenticatedError("登录凭证格式不正确，请重新登录。")
                return AuthCredentials(["person"]), await self.person(token.strip())
            if key:
                async with self.sessions() as session:
                    client = await load_api_client(session, key.strip(), self.key_cache)
                return AuthCredentials(["api_client"]), client
        except UnauthenticatedError as exc:
            raise AuthenticationError(exc.message) from exc
        return AuthCredentials(), ANONYMOUS

    async def person(self, token: str) -> PersonPrincipal:
        person_id = tokens.verify(token, secret=self.secret)
        async with self.sessions() as session:
            principal = await load_person_principal(session, person_id)
        if principal is None:
            raise UnauthenticatedError("账号不存在或已被注销，请重新登录。")
        return principal
