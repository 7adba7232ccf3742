"""The GraphQL surface: the `Schema` object, composed from one slice per domain, and its hardening.

Every module of this package except the plumbing below is a domain slice (`place`, `person`, `me`,
`login`, `task`, `meeting`, `volunteer`, `disclosure`, `dispute`, `vote`, `stats`). A slice may
define `Query`, `Mutation` and `Subscription` classes, whose fields join the root types, and a
`NODES` mapping of the node types `node(id:)` resolves. Adding a domain is adding a module: no list
here or anywhere else needs to change.
"""

from __future__ import annotations

import importlib
import pkgutil
from functools import partial
from types import ModuleType
from typing import Annotated, Any

import strawberry
from graphql import GraphQLError
from strawberry.extensions import MaxTokensLimiter, ParserCache
from strawberry.schema.config import StrawberryConfig
from strawberry.tools import merge_types
from strawberry.types import ExecutionContext, Info

from auth.policy import require_authenticated
from models.errors import RETRY_AFTER_SECONDS, BadUserInputError, RateLimitedError, UnavailableError
from resolvers.context import Context
from resolvers.ids import decode
from schema import compiler, errors
from schema.compiled import CompiledReads
from schema.cost import CostLimit
from schema.extensions import ERRORS, IntrospectionGuard, Metrics, RegisteredOnly, TextGuard
from schema.lean import LeanWrites, Perform
from schema.limits import DocumentLimits
from schema.relay import Node, NodeResolver

MAX_TOKENS = 2_000

#: Modules of this package that are plumbing, not domains.
PLUMBING = frozenset(
    {"compiled", "compiler", "cost", "docs", "documents", "errors", "extensions", "lean", "limits", "relay"}
)


def slices() -> list[ModuleType]:
    return [
        importlib.import_module(f"{__name__}.{info.name}")
        for info in sorted(pkgutil.iter_modules(__path__), key=lambda i: i.name)
        if info.name not in PLUMBING
    ]


SLICES = slices()
NODES: dict[str, NodeResolver] = {}
for _slice in SLICES:
    for _name, _resolve in getattr(_slice, "NODES", {}).items():
        assert _name not in NODES, f"two slices define the node type {_name}"
        NODES[_name] = _resolve


def _compiled_types() -> dict[str, compiler.TypeSQL]:
    """How each type is written in SQL, its fields gathered from every slice that adds some."""
    fields: dict[str, dict[str, compiler.FieldSQL]] = {}
    wholes: dict[str, Any] = {}
    for s in SLICES:
        for name, written in getattr(s, "SQL", {}).items():
            merged = fields.setdefault(name, {})
            assert not set(written.fields) & set(merged), (
                f"two slices write {name}.{set(written.fields) & set(merged)}"
            )
            merged.update(written.fields)
            if written.whole is not None:
                assert name not in wholes, f"two slices write whole {name} objects"
                wholes[name] = written.whole
    return {name: compiler.TypeSQL(f, whole=wholes.get(name)) for name, f in fields.items()}


def _compiled_node(c: compiler.Compiler, row: compiler.Row, nodes: list[Any]) -> Any:
    if not c.who.is_authenticated:
        raise compiler.Fallback("anonymous")
    type_name, ident = c.node_type(nodes)
    found = SQL_NODES.get(type_name)
    if found is None:
        raise compiler.Fallback(f"node of type {type_name}")
    table, allowed = found
    return c.one(
        type_name, table, nodes, lambda t: t.c.id == ident, allowed=lambda t: allowed(c, t), nullable=False
    )


SQL_NODES: dict[str, Any] = {}
ROOTS: dict[str, compiler.FieldSQL] = {"node": _compiled_node}
for _slice in SLICES:
    SQL_NODES.update(getattr(_slice, "SQL_NODES", {}))
    ROOTS.update(getattr(_slice, "ROOTS", {}))
PLANS = compiler.Plans(None, _compiled_types(), ROOTS)  # type: ignore[arg-type]  (the schema is set below)
#: the mutations a slice answers without GraphQL execution too (`schema.lean`), by field name
LEAN: dict[str, Perform] = {}
for _slice in SLICES:
    LEAN.update(getattr(_slice, "LEAN", {}))


@strawberry.type
class NodeQuery:
    @strawberry.field(description="用全局编号取回任何对象；无权查看与不存在的回答相同。")
    async def node(
        self,
        info: Info[Context, None],
        id: Annotated[strawberry.ID, strawberry.argument(description="任何对象的全局编号。")],
    ) -> Node | None:
        require_authenticated(info.context.principal)
        type_name, ident = decode(id)
        resolve = NODES.get(type_name)
        if resolve is None:
            raise BadUserInputError("编号格式不正确。", field="id")
        return await resolve(info.context, ident)


def _root(name: str, description: str, extra: tuple[type, ...] = ()) -> Any:
    parts = tuple(getattr(s, name) for s in SLICES if hasattr(s, name)) + extra
    root = merge_types(name, parts)
    root.__strawberry_definition__.description = description
    return root


Query = _root("Query", "查询：按调用者的权限读取小区、事项、表决等。", (NodeQuery,))
Mutation = _root("Mutation", "修改：登录、反映和办理事项、会议、接龙、公示、调解、表决。")
Subscription = _root("Subscription", "实时推送（graphql-transport-ws）：计票和事项时间线。")


def _node_types() -> list[type]:
    """Every type implementing Node (some are reachable only through `node(id:)`)."""
    found = []
    for s in SLICES:
        for value in vars(s).values():
            if (
                isinstance(value, type)
                and issubclass(value, Node)
                and value is not Node
                and value not in found
            ):
                found.append(value)
    return found


class QilijiaSchema(strawberry.Schema):
    def process_errors(
        self, errors_: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        errors.rewrite(errors_)
        for error in errors_:
            ERRORS.labels((error.extensions or {}).get("code", "INTERNAL")).inc()
        response = getattr(execution_context.context, "response", None) if execution_context else None
        if response is None:
            return
        if any((e.extensions or {}).get("code") == UnavailableError.code for e in errors_):
            response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
        limited = [e.original_error for e in errors_ if isinstance(e.original_error, RateLimitedError)]
        if limited:
            response.status_code = 429
            response.headers["Retry-After"] = str(max(e.retry_after for e in limited))


def build_schema() -> QilijiaSchema:
    return QilijiaSchema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        types=_node_types(),
        extensions=[
            # factories, not instances: each request gets its own extension state
            partial(MaxTokensLimiter, max_token_count=MAX_TOKENS),
            # a mini-program sends the same few documents all day: parse and validate each once
            partial(ParserCache, maxsize=512),
            DocumentLimits,  # depth, aliases, fields, directives in linear time, then validation
            IntrospectionGuard,  # after the limits and validation, whose result it extends
            TextGuard,
            RegisteredOnly,  # in prod, a third-party client runs registered documents only
            CostLimit,  # the estimate, the caller's limit and rate window, `extensions.cost`
            partial(CompiledReads, plans=PLANS),
            Metrics,
        ],
        config=StrawberryConfig(disable_field_suggestions=True),
    )


schema = build_schema()
PLANS.schema = schema._schema
LEAN_WRITES = LeanWrites(schema, LEAN)

__all__ = ["LEAN_WRITES", "NODES", "PLANS", "build_schema", "schema"]
