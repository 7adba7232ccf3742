"""The Starlette application: GraphQL over HTTP and WebSocket, health, readiness and metrics.

The engine, the session factory and the WeChat client live in the lifespan state; every request
builds its principal (authentication middleware) and a fresh GraphQL context with its own loaders.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hmac
import logging
import os
import ssl
import time
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from typing import Any

import httpx
import orjson
import sqlalchemy as sa
from cross_web import HTTPException as GraphQLHTTPException
from graphql import DocumentNode, GraphQLError
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from starlette.applications import Starlette
from starlette.authentication import AuthCredentials, AuthenticationError
from starlette.middleware import Middleware
from starlette.middleware.authentication import AuthenticationMiddleware
from starlette.middleware.gzip import GZipMiddleware
from starlette.requests import HTTPConnection, Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from starlette.websockets import WebSocket, WebSocketState
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.types.unset import UNSET, UnsetType

from app import downloads, heap, uploads
from app import logging as app_logging
from app.database import asyncpg_connect_kwargs, create_engine, create_read_pool, service_url, sessionmaker
from app.jobs import Outside, periodic
from app.settings import LOOPBACK, Settings, get_settings
from app.storage import storage_from
from auth import tokens
from auth.apikeys import APIKEYS_TOPIC
from auth.backend import CACHED, CLAIMS, QilijiaAuthBackend
from auth.budget import Budget, Charge
from auth.principal import ANONYMOUS, PersonPrincipal, Principal
from auth.wechat import WeChatClient
from models.errors import (
    RETRY_AFTER_SECONDS,
    QilijiaError,
    QueryTooComplexError,
    RateLimitedError,
    UnauthenticatedError,
    UnavailableError,
    database_unreachable,
)
from resolvers.audit import Reveals
from resolvers.content import make_content_check
from resolvers.context import Context, Services
from resolvers.events import Broker
from resolvers.photos import PhotoLinks
from resolvers.sessions import sessions_topic
from schema import LEAN_WRITES, PLANS, schema
from schema.compiled import Reads, answer_known
from schema.compiler import STALE
from schema.cost import pay, priced
from schema.documents import DOCUMENTS
from schema.errors import INTERNAL_MESSAGE
from schema.extensions import observe, unstorable_in
from schema.lean import ANSWERED as LEAN_ANSWERED
from schema.lean import LeanPlan
from schema.lean import data as lean_data

log = logging.getLogger("qilijia.http")

HTTP_REQUESTS = Counter(
    "qilijia_http_requests_total", "HTTP requests by route and status", ["path", "status"]
)
HTTP_LATENCY = Histogram("qilijia_http_request_seconds", "HTTP request latency by route", ["path"])
# gauges of every worker added up (`serve --workers N`: prometheus multiprocess mode)
DB_CONNECTIONS = Gauge(
    "qilijia_db_connections",
    "Database connections by pool and state",
    ["pool", "state"],
    multiprocess_mode="livesum",
)
WEBSOCKETS = Gauge("qilijia_websockets_open", "WebSocket connections open", multiprocess_mode="livesum")


def observe_pools(app: Any) -> None:
    """The pools' connections now: the engine's (mutations, strawberry) and the compiled reads'."""
    engine = getattr(app.state, "engine", None)
    if engine is not None:
        pool = engine.sync_engine.pool
        DB_CONNECTIONS.labels("engine", "in_use").set(pool.checkedout())
        DB_CONNECTIONS.labels("engine", "idle").set(pool.checkedin())
    reads = getattr(getattr(app.state, "services", None), "reads", None)
    if reads is not None and hasattr(reads.pool, "get_size"):
        size, idle = reads.pool.get_size(), reads.pool.get_idle_size()
        DB_CONNECTIONS.labels("reads", "in_use").set(size - idle)
        DB_CONNECTIONS.labels("reads", "idle").set(idle)


KNOWN_PATHS = {"/graphql", "/healthz", "/readyz", "/metrics", "/uploads", "/wechat/push"}
DEADLINE_MESSAGE = "请求处理超时，请稍后再试。"
#: subscriptions (and operations in flight) one WebSocket may hold: a screen needs a few
MAX_SUBSCRIPTIONS_PER_CONNECTION = 10


def error_body(code: str, message: str) -> dict[str, Any]:
    return {"data": None, "errors": [{"message": message, "extensions": {"code": code}}]}


class Edge:
    """What every request passes once, outermost: its id (taken from `X-Request-ID` or made), its
    access line and HTTP metrics; the body limit, refused (413) before a body over it is read (the
    paths in `own_limit`, the photo upload, hold a limit of their own and say it in their own
    words); and a GraphQL-shaped JSON answer for whatever escapes the app before its response
    started: 503 `UNAVAILABLE` with `Retry-After` when the database cannot be reached (the caller's
    principal is loaded before GraphQL runs), 400 for a body too deeply nested to parse, 500
    `INTERNAL` for anything else.

    One layer with one wrapper around `send`, not one each: every layer costs every request a
    coroutine and a closure, and the smallest screens are mostly such fixed costs."""

    def __init__(self, app: ASGIApp, max_bytes: int, own_limit: frozenset[str] = frozenset()) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.own_limit = own_limit
        self.pools_seen = 0.0
        #: the metrics' series by (path, status), looked up once: `labels` costs more than a count
        self.metrics: dict[tuple[str, int], tuple[Any, Any]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        given = headers.get(b"x-request-id", b"").decode("latin-1")
        rid = given if 0 < len(given) <= 64 and given.replace("-", "").isalnum() else os.urandom(16).hex()
        tagged = (b"x-request-id", rid.encode())
        token = app_logging.request_id.set(rid)
        started = time.perf_counter()
        status = 0

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), tagged]
            await send(message)

        try:
            if kind == "websocket":
                WEBSOCKETS.inc()
                try:
                    await self.app(scope, receive, send_with_id)
                finally:
                    WEBSOCKETS.dec()
                return
            try:
                await self.app(scope, self._limited(scope, headers, receive), send_with_id)
            except _TooLarge:
                if status:
                    raise
                body = error_body("BAD_USER_INPUT", f"请求内容过大（上限 {self.max_bytes // 1000} KB）。")
                await JSONResponse(body, status_code=413)(scope, receive, send_with_id)
            except Exception as exc:
                if status:
                    raise
                await _failure(exc)(scope, receive, send_with_id)
        finally:
            if kind == "http":
                self._observe(scope, status, time.perf_counter() - started)
            app_logging.request_id.reset(token)

    def _limited(self, scope: Scope, headers: dict[bytes, bytes], receive: Receive) -> Receive:
        """`receive`, refusing a body over the limit: at once by its declared length, and as its
        chunks arrive (a declared length may understate it)."""
        if scope["path"] in self.own_limit:
            return receive
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            raise _TooLarge
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise _TooLarge
            return message

        return limited

    def _observe(self, scope: Scope, status: int, elapsed: float) -> None:
        if time.monotonic() - self.pools_seen > 1.0:  # at most once a second
            self.pools_seen = time.monotonic()
            with contextlib.suppress(Exception):
                observe_pools(scope["app"])
        path = scope["path"] if scope["path"] in KNOWN_PATHS else "other"
        counted = (path, status)
        if counted not in self.metrics:
            self.metrics[counted] = (HTTP_REQUESTS.labels(path, str(status)), HTTP_LATENCY.labels(path))
        requests, latency = self.metrics[counted]
        requests.inc()
        latency.observe(elapsed)
        log.info(
            "request",
            extra={
                "method": scope["method"],
                "path": scope["path"],
                "status": status,
                "duration_ms": round(elapsed * 1000, 1),
            },
        )


class _TooLarge(Exception):
    pass


def _failure(exc: Exception) -> Response:
    """The answer to an exception that escaped the app before its response started."""
    if isinstance(exc, RecursionError):  # a JSON body nested deeper than any parser follows
        return JSONResponse(error_body("BAD_USER_INPUT", "请求内容嵌套过深，请检查后重试。"), status_code=400)
    if database_unreachable(exc):
        log.warning("database unreachable: %s", exc)
        return JSONResponse(
            error_body(UnavailableError.code, UnavailableError.default_message),
            status_code=503,
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        )
    log.exception("unhandled error")
    return JSONResponse(error_body("INTERNAL", INTERNAL_MESSAGE), status_code=500)


#: paths whose requests carry their own permission (a signed photo URL, WeChat's signed push, the
#: scraper's metrics token), so that no token of a person is read from them, stale or not
NO_SESSION_PATHS = ("/files/", "/wechat/push", "/metrics")


class LazyBackend(QilijiaAuthBackend):
    """The auth backend, wired to the session factory once the lifespan has made it."""

    def __init__(self, secret: str) -> None:
        super().__init__(sessions=None, secret=secret)  # type: ignore[arg-type]

    async def authenticate(self, conn: HTTPConnection) -> tuple[AuthCredentials, Principal]:
        if conn.scope["path"].startswith(NO_SESSION_PATHS):
            return AuthCredentials(), ANONYMOUS
        return await super().authenticate(conn)


GRAPHQL_RESPONSE = "application/graphql-response+json"


def wants_graphql_response(accept: str) -> bool:
    """Whether the client prefers `application/graphql-response+json` to `application/json`
    (GraphQL over HTTP): then a refused request has a 4xx status; otherwise 200, the error in the
    body, as clients of `application/json` expect."""
    weights: dict[str, float] = {}
    for part in accept.split(","):
        media, *params = (p.strip() for p in part.split(";"))
        quality = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        weights[media.lower()] = max(weights.get(media.lower(), 0.0), quality)
    ours = weights.get(GRAPHQL_RESPONSE, 0.0)
    return ours > 0 and ours >= weights.get("application/json", 0.0)


def unauthenticated(conn: HTTPConnection, message: str) -> Response:
    """A request whose credentials are refused (expired, revoked, malformed): 401 for a client of
    `application/graphql-response+json`, 200 with the error for one of `application/json`; the
    code is `UNAUTHENTICATED` either way, so that a client knows to log in again."""
    if wants_graphql_response(conn.headers.get("accept", "")):
        return JSONResponse(
            error_body("UNAUTHENTICATED", message), status_code=401, media_type=GRAPHQL_RESPONSE
        )
    return JSONResponse(error_body("UNAUTHENTICATED", message))


def on_auth_error(conn: HTTPConnection, exc: AuthenticationError) -> Response:
    if conn.scope["path"] == "/uploads":  # `wx.uploadFile` reads the status, not a GraphQL body
        body = {"errors": [{"message": str(exc), "extensions": {"code": "UNAUTHENTICATED"}}]}
        return JSONResponse(body, status_code=401)
    return unauthenticated(conn, str(exc))


def rate_limited(refused: RateLimitedError) -> Response:
    body = error_body(refused.code, refused.message)
    return JSONResponse(body, status_code=429, headers={"Retry-After": str(refused.retry_after)})


def graphql_http_error(exc: GraphQLHTTPException) -> Response:
    """Strawberry's HTTP-level refusals (a mutation over GET, a body that is not JSON, GraphiQL off)
    come as English plain text; clients get them as a GraphQL error like every other."""
    if exc.status_code == 404:
        code, message = "NOT_FOUND", "没有找到该内容。"
    elif "not allowed when using GET" in exc.reason:
        code, message = "BAD_USER_INPUT", "GET 请求只能用于查询，修改操作请使用 POST。"
    else:
        code, message = "BAD_USER_INPUT", "请求格式有误，请检查后重试。"
    body = error_body(code, message)
    body["errors"][0]["extensions"]["detail"] = exc.reason
    return JSONResponse(body, status_code=exc.status_code)


#: an answer smaller than this is sent as it is: compressing it would save less than it costs
GZIP_MINIMUM = 1024


def compressed(response: Response, accepted: str) -> Response:
    """A GraphQL answer gzip-compressed for a client that accepts it: screens are 8–50 KB of JSON
    that compress 5–10×, and level 3 costs about 0.1 ms for 50 KB. Small answers and streamed
    ones go as they are. Here rather than in a middleware around every route: a layer costs every
    request, and only the GraphQL answers are worth compressing (`/metrics` keeps Starlette's)."""
    body = getattr(response, "body", None)
    if not isinstance(body, bytes) or len(body) < GZIP_MINIMUM:
        return response
    headers = response.headers
    headers.add_vary_header("Accept-Encoding")
    if "gzip" not in accepted or "content-encoding" in headers:
        return response
    packer = zlib.compressobj(3, zlib.DEFLATED, 31)  # wbits 31: the gzip format
    response.body = packer.compress(body) + packer.flush()
    headers["content-encoding"] = "gzip"
    headers["content-length"] = str(len(response.body))
    return response


class QilijiaGraphQL(GraphQL[Context, None]):
    def encode_json(self, data: object) -> str:
        """orjson: fast, and it writes the compiled read path's JSON (an `orjson.Fragment`) as it came
        from PostgreSQL. Text, not bytes: WebSocket messages must be text frames."""
        return orjson.dumps(data).decode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        request = Request(scope=scope, receive=receive)
        try:
            async with asyncio.timeout(request.app.state.deadline):
                response = await self.answer(request)
        except TimeoutError:
            # the request's task was cancelled at the deadline, and with it the SQL it was waiting
            # for (asyncpg cancels a query whose await is cancelled); a transaction rolls back
            log.warning("request deadline passed", extra={"deadline_s": request.app.state.deadline})
            response = JSONResponse(
                error_body(UnavailableError.code, DEADLINE_MESSAGE),
                status_code=503,
                headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
            )
        await compressed(response, request.headers.get("accept-encoding", ""))(scope, receive, send)

    async def answer(self, request: Request) -> Response:
        if not DOCUMENTS.loaded:  # the database was down at start-up
            await load_documents(request.app.state.services.sessions)
        sent = body = await self.body(request)
        if sent is not None:
            try:
                body = DOCUMENTS.resolve(sent)  # the text of a persisted query, for a hash
            except QilijiaError as refused:
                return JSONResponse(error_body(refused.code, refused.message))
            if body is not sent:
                request = _with_body(request, body)  # strawberry reads the text too
        response = await self.known(request, body) if body is not None else None
        if response is not None:
            return response
        try:
            # a lean mutation may act for a cached caller: what it acts on checks the epoch
            response = await self.lean(request, body) if body is not None else None
            if response is not None:
                return response
            await self.read_principal(request)
            return await self.run(request)
        except UnauthenticatedError as exc:
            return unauthenticated(request, exc.message)
        except GraphQLHTTPException as exc:
            return graphql_http_error(exc)

    async def body(self, request: Request) -> dict[str, Any] | None:
        """A POSTed JSON object; None for anything else, which strawberry reads and answers itself."""
        if request.method != "POST" or not request.headers.get("content-type", "").startswith(
            "application/json"
        ):
            return None
        try:
            body = orjson.loads(await request.body())
        except orjson.JSONDecodeError:
            return None
        return body if isinstance(body, dict) else None

    async def known(self, request: Request, body: dict[str, Any]) -> Response | None:
        """The answer to a query already planned for this caller's shape, straight from its compiled
        statement; None hands the request to strawberry (any doubt does: a body that is not a plain
        JSON query, variables that do not coerce, an answer that would carry an error, a failure)."""
        reads = request.app.state.services.reads
        if reads is None:
            return None
        started = time.perf_counter()
        query, operation = body.get("query"), body.get("operationName")
        if not isinstance(query, str) or not isinstance(operation, str | None):
            return None
        principal = request.scope.get("user") or ANONYMOUS

        async def paid(document: DocumentNode, variables: dict[str, Any]) -> Charge | None:
            return await self.paid(request, principal, query, document, operation, variables)

        try:
            answered = await answer_known(
                PLANS, reads, query, operation, body.get("variables"), principal, paid
            )
        except RateLimitedError as refused:
            return rate_limited(refused)
        except Exception:  # strawberry asks again, and reports what fails as every error is reported
            log.debug("compiled read failed", exc_info=True)
            return None
        if answered is None or answered[0] == STALE:
            return None
        text, charge = answered
        observe(operation, started, failed=False)
        return Response(
            b'{"data":'
            + text.encode()
            + b',"extensions":{"cost":'
            + orjson.dumps(charge.as_extension())
            + b"}}",
            media_type="application/json",
        )

    async def lean(self, request: Request, body: dict[str, Any]) -> Response | None:
        """A known mutation with a lean form (`schema.lean`), answered without GraphQL execution;
        None hands it to strawberry. A refusal is handed over too: it has written nothing, and
        strawberry runs the mutation again and answers with the error."""
        started = time.perf_counter()
        query, operation, variables = body.get("query"), body.get("operationName"), body.get("variables")
        principal = request.scope.get("user")
        if (
            not isinstance(query, str)
            or not isinstance(operation, str | None)
            or not isinstance(principal, PersonPrincipal)  # a third party's documents are checked
            or not isinstance(variables, dict | None)
            or unstorable_in(variables or {}, "") is not None  # strawberry says where
        ):
            return None
        known = PLANS.known.get((query, operation))
        plan = None if known is None else LEAN_WRITES.plan(query, operation, known)
        if known is None or plan is None:
            return None
        try:
            coerced = LEAN_WRITES.coerce(plan, variables)
            arguments = None if coerced is None else LEAN_WRITES.arguments(plan, coerced)
        except Exception:  # strawberry reports what does not coerce
            log.debug("lean mutation's arguments", exc_info=True)
            return None
        if coerced is None or arguments is None:
            return None
        try:
            charge = await self.paid(request, principal, query, known.document, operation, coerced.coerced)
        except RateLimitedError as refused:
            return rate_limited(refused)
        if charge is None:
            return None
        try:
            data = lean_data(plan, await plan.perform(await self.get_context(request), **arguments))
        except QilijiaError:
            return None  # a refusal, rolled back: strawberry runs it and answers with the error
        except Exception as failed:  # perhaps after its write was committed: never run again
            return self.lean_failed(plan, failed, operation, started, charge)
        observe(operation, started, failed=False)
        LEAN_ANSWERED.inc()
        body = {"data": data, "extensions": {"cost": charge.as_extension()}}
        return Response(orjson.dumps(body), media_type="application/json")

    def lean_failed(
        self, plan: LeanPlan, failed: Exception, operation: str | None, started: float, charge: Charge
    ) -> Response:
        """A lean mutation's unexpected failure, answered as strawberry answers one of its resolver:
        the field's error at its path (masked, logged, counted), and `data` null."""
        error = GraphQLError(str(failed), nodes=[plan.node], path=[plan.key], original_error=failed)
        schema.process_errors([error])
        observe(operation, started, failed=True)
        body = {"data": None, "errors": [error.formatted], "extensions": {"cost": charge.as_extension()}}
        headers = (
            {"Retry-After": str(RETRY_AFTER_SECONDS)}
            if error.extensions["code"] == UnavailableError.code
            else None
        )
        return Response(orjson.dumps(body), media_type="application/json", headers=headers)

    async def paid(
        self,
        request: Request,
        principal: Principal,
        query: str,
        document: DocumentNode,
        operation: str | None,
        variables: dict[str, Any],
    ) -> Charge | None:
        """The request's cost spent before any SQL runs (`RateLimitedError` past the caller's
        window); None when it is over the caller's limit, which strawberry refuses with the error."""
        services = request.app.state.services
        estimated = priced(schema._schema, query, document, operation, variables)
        try:
            return await pay(
                services.budget,
                principal,
                request,
                estimated,
                reveals=services.reveals,
                operation=operation,
                variables=variables,
            )
        except QueryTooComplexError:
            return None

    async def read_principal(self, request: Request | WebSocket) -> None:
        """A principal from the cache is good only for what checks its epoch where it acts (the
        compiled reads, a lean ballot: `Context.refresh`); what strawberry answers (a mutation above
        all) acts for the principal read now."""
        auth = request.scope.get("auth")
        if auth is None or CACHED not in auth.scopes:
            return
        load = request.app.state.services.load_principal
        request.scope["user"] = await load(request.scope[CLAIMS])
        request.scope["auth"] = AuthCredentials([s for s in auth.scopes if s != CACHED])

    async def get_context(self, request: Request | WebSocket, response: Any = None) -> Context:
        if isinstance(request, WebSocket):
            try:
                await self.read_principal(request)
            except UnauthenticatedError:
                request.scope["user"] = ANONYMOUS
        principal = request.scope.get("user") or ANONYMOUS
        return Context(
            principal=principal,
            services=request.app.state.services,
            request=request,
            response=response,
            # a WebSocket's caller was read above, or is nobody until `connection_init` says who
            refresh=None if isinstance(request, WebSocket) else self._refresh(request),
        )

    def _refresh(self, request: Request | WebSocket) -> Callable[[], Awaitable[Principal]] | None:
        """How a context reads its caller afresh (`Context.refresh`), when it came from the cache."""
        auth = request.scope.get("auth")
        if auth is None or CACHED not in auth.scopes:
            return None

        async def refresh() -> Principal:
            await self.read_principal(request)
            return request.scope["user"]

        return refresh

    async def on_ws_connect(self, context: Context) -> UnsetType | dict[str, object] | None:
        """A WebSocket authenticates in `connection_init` ({"Authorization": "Bearer …"}); a bad
        token closes the connection (4403) instead of silently subscribing as nobody."""
        params = context.connection_params if isinstance(context.connection_params, dict) else {}
        header = params.get("Authorization") or params.get("authorization") or params.get("token")
        websocket = context.request
        claims = websocket.scope.get(CLAIMS)
        if header:
            authenticate = context.services.authenticate_token
            assert authenticate is not None
            token = str(header).removeprefix("Bearer ").strip()
            try:
                context.act_as(await authenticate(token))
                claims = tokens.claims_of(token, secret=context.services.secret)
            except UnauthenticatedError as exc:
                raise ConnectionRejectionError({"message": exc.message}) from None
        if claims is not None:
            task = asyncio.get_running_loop().create_task(watch_session(websocket, claims, context.services))
            WATCHERS.add(task)
            task.add_done_callback(WATCHERS.discard)
        return UNSET


async def forget_revoked_keys(broker: Broker, backend: QilijiaAuthBackend) -> None:
    """A revoked API key stops working at once in this process: a revocation anywhere
    (`qilijia apikey revoke`) empties the cache of verified keys, and so does a reconnect of the
    listener, which may have missed one."""
    delay = 1.0
    while True:
        try:
            async with broker.subscribe(APIKEYS_TOPIC) as heard:
                delay = 1.0
                while True:
                    await heard.get()
                    backend.key_cache.clear()
        except asyncio.CancelledError:
            raise
        except Exception:  # the database is away: keys stay cached at most their minute meanwhile
            log.debug("API-key revocation listener unavailable", exc_info=True)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 30.0)


async def warn_if_privileged(engine: Any) -> None:
    """The service should not be able to drop, alter or truncate what it serves."""
    try:
        async with engine.connect() as conn:
            row = (
                await conn.execute(
                    sa.text(
                        "SELECT current_user AS who, (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) AS su, "
                        "EXISTS (SELECT 1 FROM pg_tables WHERE schemaname = 'public' AND tableowner = current_user) AS owns"
                    )
                )
            ).one()
    except Exception as exc:
        if not database_unreachable(exc):
            raise
        return
    if row.su or row.owns:
        log.warning(
            "the service connects as %s, %s: it could drop or truncate the tables it serves; "
            "set QILIJIA_DB_SERVICE_ROLE (default qilijia_app, made by `qilijia migrate`)",
            row.who,
            "a superuser" if row.su else "the owner of the tables",
        )


async def load_documents(sessions: Any) -> None:
    """The registered documents, into this process's registry and plans (validated when they were
    registered; each compiles on its first request from each kind of caller, not its second)."""
    try:
        async with sessions() as session:
            rows = (await session.execute(sa.text("SELECT sha256, body FROM trusted_document"))).all()
    except Exception as exc:
        if not database_unreachable(exc):
            raise
        log.warning("registered documents not loaded, the database is unreachable: %s", exc)
        return
    DOCUMENTS.load([(row.sha256, row.body) for row in rows])
    PLANS.trusted = set(DOCUMENTS.trusted.values())


#: the session watchers of this process's open WebSockets (kept referenced while they run)
WATCHERS: set[asyncio.Task[None]] = set()
#: how often a watcher looks whether its WebSocket is still open
WATCH_SECONDS = 15.0


async def watch_session(websocket: WebSocket, claims: tokens.Claims, services: Services) -> None:
    """Close a WebSocket (4401) when its token expires or its session ends: the person's sessions
    topic wakes it (any process may have ended them), and it reads the principal again to see."""
    broker, load = services.broker, services.load_principal
    assert broker is not None and load is not None
    try:
        async with broker.subscribe(sessions_topic(claims.person_id)) as heard:
            while websocket.application_state == WebSocketState.CONNECTED:
                remaining = claims.expires_at - time.time()
                if remaining <= 0:
                    await websocket.close(code=4401, reason="token expired")
                    return
                try:
                    await asyncio.wait_for(heard.get(), timeout=min(remaining, WATCH_SECONDS))
                except TimeoutError:
                    continue
                try:
                    await load(claims)
                except UnauthenticatedError:
                    await websocket.close(code=4401, reason="session ended")
                    return
    except Exception:  # a socket closing under the watcher, a broker going away: nothing to watch
        log.debug("session watcher stopped", exc_info=True)


def metrics_allowed(request: Request, settings: Settings) -> bool:
    """`/metrics` in `dev` for anyone; in `prod` for the scraper with the metrics token, or, with
    none configured, for a scraper on loopback only: operation names and rates are not public."""
    if settings.is_dev:
        return True
    if settings.metrics_token is not None:
        expected = f"Bearer {settings.metrics_token.get_secret_value()}"
        return hmac.compare_digest(request.headers.get("authorization", "").encode(), expected.encode())
    client = request.client
    return client is not None and client.host in LOOPBACK


def _with_body(request: Request, body: dict[str, Any]) -> Request:
    """The same request carrying another JSON body (a persisted query's text filled in)."""
    content = orjson.dumps(body)
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if sent:
            return await request.receive()  # a disconnect, should the client go away
        sent = True
        return {"type": "http.request", "body": content, "more_body": False}

    return Request(scope=request.scope, receive=receive)


@functools.cache
def tls_context() -> ssl.SSLContext:
    """The TLS settings of calls to WeChat, made once per process: reading the system's
    certificate authorities costs about 20 ms, which an app started per worker (or per test) would
    otherwise pay each time."""
    return httpx.create_ssl_context()


def create_app(
    settings: Settings | None = None,
    *,
    database_url: str | None = None,
    wechat_http: httpx.AsyncClient | None = None,
) -> Starlette:
    """The ASGI app. `database_url` defaults to the settings' (or the embedded server's)."""
    settings = settings or get_settings()
    serving = bool(os.environ.get(app_logging.JSON_LOGS))  # a worker of `qilijia serve`
    if serving:
        app_logging.configure()
    secret = settings.signing_key()
    backend = LazyBackend(secret)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        from app.database import resolve_database_url

        url = service_url(database_url or resolve_database_url(settings), settings)
        engine = create_engine(url, settings)
        sessions = sessionmaker(engine)
        backend.sessions = sessions
        http = wechat_http or httpx.AsyncClient(timeout=httpx.Timeout(5.0), verify=tls_context())
        wechat = None
        if settings.wechat_configured:
            wechat = WeChatClient(
                base_url=settings.wechat_api_base,
                appid=settings.wechat_appid or "",
                secret=settings.wechat_secret.get_secret_value() if settings.wechat_secret else "",
                http=http,
            )
        broker = Broker(asyncpg_connect_kwargs(url))
        reads = Reads(await create_read_pool(url, settings)) if settings.compiled_reads else None
        backend.pool = reads.pool if reads is not None else None
        await load_documents(sessions)
        await warn_if_privileged(engine)
        app.state.engine = engine
        app.state.settings = settings
        app.state.storage = storage_from(settings)
        app.state.file_url_key = settings.file_url_key()
        app.state.auth = backend
        app.state.graphql = graphql
        app.state.deadline = settings.request_deadline_seconds
        app.state.services = Services(
            sessions=sessions,
            secret=secret,
            token_ttl_seconds=settings.token_ttl_seconds,
            is_dev=settings.is_dev,
            wechat=wechat,
            broker=broker,
            content_check=make_content_check(wechat, sessions),
            authenticate_token=backend.person,
            load_principal=backend.load,
            reads=reads,
            budget=Budget.for_url(settings.redis_url, settings.rate_limit_scale, settings.redis_prefix),
            reveals=Reveals(sessions),
            # without WeChat, every message stays in the app (no consent is spent on it)
            templates=settings.templates() if wechat is not None else {},
            photo_links=PhotoLinks(
                settings.file_url_key(), settings.file_url_ttl_seconds, settings.public_url
            ),
            autocommit=sessionmaker(engine.execution_options(isolation_level="AUTOCOMMIT")),
        )
        forgetting = asyncio.get_running_loop().create_task(forget_revoked_keys(broker, backend))
        try:
            async with (
                periodic(
                    sessions,
                    settings.job_interval_seconds,
                    app.state.services.templates,
                    Outside(wechat, app.state.services.photo_links, app.state.storage),
                ),
                app.state.services.reveals.running(),
                app.state.services.budget.running(),
            ):
                if serving:
                    heap.settle()
                yield
        finally:
            forgetting.cancel()
            await broker.stop()
            if reads is not None:
                await reads.pool.close()
            if wechat_http is None:
                await http.aclose()
            await engine.dispose()

    graphql = QilijiaGraphQL(
        schema,
        graphql_ide="graphiql" if settings.is_dev else None,
        max_subscriptions_per_connection=MAX_SUBSCRIPTIONS_PER_CONNECTION,
        # a WebSocket that never says who it is does not hold a connection for long
        connection_init_wait_timeout=timedelta(seconds=10),
    )

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(request: Request) -> Response:
        try:
            async with request.app.state.engine.connect() as conn:
                await conn.execute(sa.text("SELECT 1"))
        except Exception:
            log.warning("database not ready", exc_info=True)
            return JSONResponse({"status": "unavailable", "database": "down"}, status_code=503)
        return JSONResponse({"status": "ok", "database": "up"})

    async def metrics(request: Request) -> Response:
        if not metrics_allowed(request, settings):
            return JSONResponse(error_body("FORBIDDEN", "指标只对运维开放。"), status_code=403)
        observe_pools(request.app)
        if "PROMETHEUS_MULTIPROC_DIR" in os.environ:  # `serve --workers N`: every worker's, added up
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)
            return PlainTextResponse(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
        return PlainTextResponse(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return Starlette(
        routes=[
            Route("/graphql", graphql, methods=["GET", "POST"]),
            WebSocketRoute("/graphql", graphql),
            Route("/exports/evaluations/{file}", downloads.evaluation_export),
            Route("/exports/votes/{file}", downloads.vote_record_file),
            Route("/uploads", uploads.upload, methods=["POST"]),
            Route("/files/{id}", uploads.file, methods=["GET"]),
            Route("/wechat/push", uploads.wechat_push, methods=["GET", "POST"]),
            Route("/healthz", healthz),
            Route("/readyz", readyz),
            Route("/metrics", metrics, middleware=[Middleware(GZipMiddleware, minimum_size=GZIP_MINIMUM)]),
        ],
        middleware=[
            Middleware(Edge, max_bytes=settings.max_body_bytes, own_limit=frozenset({"/uploads"})),
            Middleware(AuthenticationMiddleware, backend=backend, on_error=on_auth_error),
        ],
        lifespan=lifespan,
    )
