"""The compiled read path: a query the compiler can write is answered by one SQL statement, either
before strawberry sees the request (`answer_known`, a document already planned for this caller's
shape: no parsing, no validation, no GraphQL execution) or from inside strawberry's execution (the
`CompiledReads` extension, which plans a validated document and answers it as well).

Compiled statements run on their own asyncpg pool (`app.database.create_read_pool`): one round trip
per statement, no transaction around it, generic plans kept per connection.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import orjson
from graphql import DocumentNode, ExecutionResult
from prometheus_client import Counter
from starlette.requests import Request
from strawberry.extensions import SchemaExtension

from auth.budget import Charge
from auth.policy import params
from auth.principal import PersonPrincipal, Principal
from schema.compiler import MARKER, STALE, Fallback, Plan, Plans

ANSWERS = Counter(
    "qilijia_graphql_compiled_total",
    "Queries by who answered them: one compiled SQL statement, or strawberry",
    ["by"],
)
BY_SQL, BY_STRAWBERRY = ANSWERS.labels("sql"), ANSWERS.labels("strawberry")


class Reads:
    """Runs compiled plans on the read pool."""

    def __init__(self, pool: Any) -> None:
        self.pool = pool

    async def answer(self, plan: Plan, variables: dict[str, Any], who: Principal) -> str | None:
        """The JSON text of the response's `data`; `STALE` when `who` was read at an older access
        epoch; None when strawberry must answer (an error would be part of the answer)."""
        epoch = who.epoch if isinstance(who, PersonPrincipal) else None
        try:
            arguments = plan.arguments(variables, params(who), epoch)
        except Fallback:
            return None
        text = await self.pool.fetchval(plan.sql, *arguments)
        if text is None or MARKER in text:
            return None
        return text


async def answer_known(
    plans: Plans,
    reads: Reads,
    query: str,
    operation: str | None,
    variables: Any,
    who: Principal,
    pay: Callable[[DocumentNode, dict[str, Any]], Awaitable[Charge | None]],
) -> tuple[str, Charge] | None:
    """The answer to a request whose plan is already made and what it cost, or None (then strawberry
    answers, and `STALE` says that the caller's principal must be read again first). `pay` spends
    the request's cost before any SQL runs (None: strawberry answers, and refuses)."""
    found = plans.ready(query, operation, who, variables)
    if found is None:
        return None
    plan, coerced, document = found
    charge = await pay(document, coerced)
    if charge is None:
        return None
    text = await reads.answer(plan, coerced, who)
    if text is None:
        return None
    if text != STALE:
        BY_SQL.inc()
    return text, charge


class CompiledReads(SchemaExtension):
    """Plans and answers an HTTP query from inside strawberry's execution, and leaves everything else
    to strawberry: a mutation, a subscription, a document the compiler does not write, an answer
    that would carry an error (`MARKER`)."""

    def __init__(self, *, plans: Plans, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.plans = plans

    async def on_execute(self) -> AsyncIterator[None]:
        execution = self.execution_context
        context = execution.context
        reads = getattr(context.services, "reads", None)
        if (
            reads is not None
            and isinstance(getattr(context, "request", None), Request)
            and execution.query is not None
            and execution.graphql_document is not None
        ):
            found = self.plans.plan(
                execution.query,
                execution.graphql_document,
                execution.operation_name,
                context.principal,
                execution.variables,
            )
            text = None if found is None else await reads.answer(found[0], found[1], context.principal)
            if text is not None and text != STALE:
                execution.result = ExecutionResult(data=orjson.Fragment(text), errors=None)
                BY_SQL.inc()
            else:
                BY_STRAWBERRY.inc()
        yield
