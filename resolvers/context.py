"""The typed context of one GraphQL request."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from auth.principal import Principal
from auth.wechat import WeChatClient
from resolvers.loaders import Loaders


@dataclass(frozen=True)
class Services:
    """What resolvers need from the process around them, fixed at start-up."""

    sessions: async_sessionmaker[AsyncSession]
    secret: str
    token_ttl_seconds: int
    is_dev: bool
    wechat: WeChatClient | None = None


@dataclass
class Context:
    principal: Principal
    services: Services
    request: Any = None
    response: Any = None
    loaders: Loaders = field(init=False)

    def __post_init__(self) -> None:
        self.loaders = Loaders(self.services.sessions, self.principal)

    @property
    def sessions(self) -> async_sessionmaker[AsyncSession]:
        return self.services.sessions
