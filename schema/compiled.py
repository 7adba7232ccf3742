"""The compiled read path as a schema extension: a query the compiler can write is answered by one
SQL statement before strawberry executes anything (`schema.compiler`)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import orjson
from graphql import ExecutionResult
from prometheus_client import Counter
from starlette.requests import Request
from strawberry.extensions import SchemaExtension

from auth.policy import params
from schema.compiler import MARKER, Fallback, Plans

ANSWERS = Counter(
    "qilijia_graphql_compiled_total",
    "Queries by who answered them: one compiled SQL statement, or strawberry",
    ["by"],
)


class CompiledReads(SchemaExtension):
    """Runs the compiled plan of an HTTP query, and leaves everything else to strawberry: a
    mutation, a subscription, a document the compiler does not write, an answer that would carry
    an error (`MARKER`)."""

    def __init__(self, *, plans: Plans, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.plans = plans

    async def on_execute(self) -> AsyncIterator[None]:
        execution = self.execution_context
        context = execution.context
        if (
            getattr(context.services, "compiled_reads", False)
            and isinstance(getattr(context, "request", None), Request)
            and execution.query is not None
            and execution.graphql_document is not None
        ):
            text = await self._answer(execution, context)
            if text is not None:
                execution.result = ExecutionResult(data=orjson.Fragment(text), errors=None)
            ANSWERS.labels("sql" if text is not None else "strawberry").inc()
        yield

    async def _answer(self, execution: Any, context: Any) -> str | None:
        variables = execution.variables or {}
        plan = self.plans.plan(
            execution.query,
            execution.graphql_document,
            execution.operation_name,
            context.principal,
            variables,
        )
        if plan is None:
            return None
        try:
            arguments = plan.arguments(variables, params(context.principal))
        except Fallback:
            return None
        engine = context.services.sessions.kw["bind"]
        async with engine.connect() as connection:
            text = (await connection.exec_driver_sql(plan.sql, tuple(arguments))).scalar()
        return None if text is None or MARKER in text else text
