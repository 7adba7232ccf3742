"""The typed context of one GraphQL request."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from auth.budget import Budget
from auth.principal import Principal
from auth.tokens import Claims
from auth.wechat import WeChatClient
from resolvers.events import Broker
from resolvers.loaders import Loaders


@dataclass(frozen=True)
class Services:
    """What resolvers need from the process around them, fixed at start-up."""

    sessions: async_sessionmaker[AsyncSession]
    secret: str
    token_ttl_seconds: int
    is_dev: bool
    wechat: WeChatClient | None = None
    broker: Broker | None = None
    #: checks user text (WeChat msgSecCheck): None if fine, "HELD" when it could not be checked;
    #: raises BadUserInputError for risky content
    content_check: Callable[[Principal, str], Awaitable[str | None]] | None = None
    #: authenticates the `connection_init` payload of a WebSocket (a bearer token)
    authenticate_token: Callable[[str], Awaitable[Principal]] | None = None
    #: reads a token's principal afresh (one statement, revocation checked), for a request that
    #: came with a cached one
    load_principal: Callable[[Claims], Awaitable[Principal]] | None = None
    #: the compiled read path (`schema.compiled.Reads`); None answers every query through strawberry
    reads: Any = None
    #: every caller's rate window (`auth.budget.Budget`); None spends nothing
    budget: Budget | None = None
    #: readings the audit trail records (`resolvers.audit.Reveals`); None records none
    reveals: Any = None
    #: WeChat subscription-message templates by kind of message (`models.message.Template`)
    templates: Mapping[Any, Any] = field(default_factory=dict)
    #: mints photos' signed URLs (`resolvers.photos.PhotoLinks`); None shows uploaded photos nowhere
    photo_links: Any = None
    #: sessions whose statements each commit on their own, no BEGIN or COMMIT sent: for a mutation
    #: whose one write is a statement that raises on every refusal (`resolvers.pipeline.run`'s
    #: `alone`); None runs those in a transaction like the rest
    autocommit: async_sessionmaker[AsyncSession] | None = None


@dataclass
class Context:
    principal: Principal
    services: Services
    request: Any = None
    response: Any = None
    connection_params: Any = None
    #: reads the caller afresh, set when `principal` came from the process's cache
    #: (`auth.backend.PrincipalCache`) rather than being read for this request. Only work that
    #: checks the access epoch in the statement it acts on may act for a cached principal
    #: (`resolvers.pipeline.run_on_driver`); all else asks `fresh()` first
    refresh: Callable[[], Awaitable[Principal]] | None = None
    loaders: Loaders = field(init=False)

    def __post_init__(self) -> None:
        self.loaders = Loaders(self.services.sessions, self.principal)

    async def fresh(self) -> Principal:
        """The caller as read for this request: read now (one statement, revocation checked) if
        it came from the cache."""
        if self.refresh is not None:
            self.act_as(await self.refresh())
        return self.principal

    def act_as(self, principal: Principal) -> None:
        """Switch to a principal read now: the one a WebSocket authenticated in `connection_init`,
        or the caller read again (`fresh`)."""
        self.principal = principal
        self.refresh = None
        self.loaders = Loaders(self.services.sessions, principal)

    @property
    def sessions(self) -> async_sessionmaker[AsyncSession]:
        return self.services.sessions
