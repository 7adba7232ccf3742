"""Per-request schema extensions: metrics by operation, introspection only where allowed."""

from __future__ import annotations

import time
from collections.abc import Iterator

from graphql import FieldNode, FragmentDefinitionNode, GraphQLError, OperationDefinitionNode
from prometheus_client import Counter, Histogram
from strawberry.extensions import SchemaExtension

from auth.policy import Action, Resource, allows

REQUESTS = Counter(
    "qilijia_graphql_requests_total",
    "GraphQL operations by operation name and outcome",
    ["operation", "outcome"],
)
LATENCY = Histogram(
    "qilijia_graphql_request_seconds",
    "GraphQL operation latency by operation name",
    ["operation"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)


def _operation_label(name: str | None) -> str:
    if not name:
        return "anonymous"
    return name[:64] if name.replace("_", "").isalnum() else "invalid"


def observe(operation: str | None, started: float, failed: bool) -> None:
    """One operation's metrics, however it was answered."""
    name = _operation_label(operation)
    LATENCY.labels(name).observe(time.perf_counter() - started)
    REQUESTS.labels(name, "error" if failed else "ok").inc()


class Metrics(SchemaExtension):
    def on_operation(self) -> Iterator[None]:
        started = time.perf_counter()
        yield
        result = self.execution_context.result
        failed = bool(self.execution_context.pre_execution_errors) or bool(result and result.errors)
        observe(self.execution_context.operation_name, started, failed)


class IntrospectionGuard(SchemaExtension):
    """In `prod`, `__schema` and `__type` are for operators only (`__typename` stays free)."""

    def on_validate(self) -> Iterator[None]:
        ctx = self.execution_context.context
        if not getattr(ctx.services, "is_dev", True) and not allows(
            ctx.principal, Resource.SCHEMA, Action.INTROSPECT
        ):
            document = self.execution_context.graphql_document
            # fragments too: `{ ...F } fragment F on Query { __schema { … } }` must not slip through
            for definition in document.definitions if document else ():
                if isinstance(definition, OperationDefinitionNode | FragmentDefinitionNode) and _introspects(
                    definition.selection_set
                ):
                    # a new list: the validation cache shares its lists between requests
                    self.execution_context.pre_execution_errors = [
                        *(self.execution_context.pre_execution_errors or []),
                        GraphQLError("GraphQL introspection is not allowed"),
                    ]
                    break
        yield


def _introspects(selection_set) -> bool:
    for selection in selection_set.selections if selection_set else ():
        if isinstance(selection, FieldNode) and selection.name.value in ("__schema", "__type"):
            return True
        if getattr(selection, "selection_set", None) is not None and _introspects(selection.selection_set):
            return True
    return False
