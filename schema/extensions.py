"""Per-request schema extensions: metrics by operation, introspection only where allowed, text
that PostgreSQL cannot store refused before anything runs."""

from __future__ import annotations

import functools
import time
from collections.abc import Iterator
from typing import Any

from graphql import (
    ArgumentNode,
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    GraphQLError,
    ListValueNode,
    ObjectFieldNode,
    OperationDefinitionNode,
    StringValueNode,
)
from prometheus_client import Counter, Histogram
from strawberry.extensions import SchemaExtension

from auth.policy import Action, Resource, allows, require
from models.errors import BadUserInputError, QilijiaError
from schema.documents import DOCUMENTS
from schema.errors import refusal
from schema.limits import walk

REQUESTS = Counter(
    "qilijia_graphql_requests_total",
    "GraphQL operations by operation name and outcome",
    ["operation", "outcome"],
)
ERRORS = Counter(
    "qilijia_graphql_errors_total",
    "GraphQL errors answered, by extensions.code",
    ["code"],
)
LATENCY = Histogram(
    "qilijia_graphql_request_seconds",
    "GraphQL operation latency by operation name",
    ["operation"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)


def _operation_label(name: str | None) -> str:
    """Registered operations by name; everything else `other`: labels a caller cannot multiply."""
    return name if name is not None and name in DOCUMENTS.names else "other"


def observe(operation: str | None, started: float, failed: bool) -> None:
    """One operation's metrics, however it was answered."""
    latency, requests = _series(_operation_label(operation), failed)
    latency.observe(time.perf_counter() - started)
    requests.inc()


@functools.lru_cache(maxsize=1024)
def _series(name: str, failed: bool) -> tuple[Any, Any]:
    """An operation's metric series, looked up once: `labels` costs more than the count itself
    (the names are bounded: registered operations and `other`)."""
    return LATENCY.labels(name), REQUESTS.labels(name, "error" if failed else "ok")


class Metrics(SchemaExtension):
    def on_operation(self) -> Iterator[None]:
        started = time.perf_counter()
        yield
        result = self.execution_context.result
        failed = bool(self.execution_context.pre_execution_errors) or bool(result and result.errors)
        observe(self.execution_context.operation_name, started, failed)


class RegisteredOnly(SchemaExtension):
    """In `prod`, a third-party client may run only registered documents (`schema.documents`)."""

    def on_validate(self) -> Iterator[None]:
        execution = self.execution_context
        ctx = execution.context
        if (
            not execution.pre_execution_errors
            and not getattr(ctx.services, "is_dev", True)
            and not DOCUMENTS.is_trusted(execution.query)
        ):
            try:
                require(ctx.principal, Resource.SCHEMA, Action.RUN_UNREGISTERED)
            except QilijiaError as refused:
                execution.pre_execution_errors = [refusal(refused)]
        yield


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


class TextGuard(SchemaExtension):
    """A NUL character or a lone UTF-16 surrogate (JSON allows both) cannot be stored by
    PostgreSQL nor sent on as UTF-8: refused as `BAD_USER_INPUT` naming where it was, in a
    variable or in the document's text, for every field at once."""

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        if not context.pre_execution_errors:
            where = unstorable_in(context.variables, "") or (
                _unstorable_literal(context.graphql_document) if context.graphql_document else None
            )
            if where is not None:
                message = f"“{where}”中含有无法保存的字符（如空字符），请删除后重试。"
                context.pre_execution_errors = [refusal(BadUserInputError(message, field=where))]
        yield


def _unstorable(text: str) -> bool:
    if "\x00" in text:
        return True
    if text.isascii():
        return False
    try:
        text.encode()
    except UnicodeEncodeError:
        return True
    return False


def unstorable_in(value: Any, path: str) -> str | None:
    """The path (`input.title`, `ids.2`) of the first unstorable text in a variables value."""
    if isinstance(value, str):
        return (path or "variables") if _unstorable(value) else None
    if isinstance(value, dict):
        for key, item in value.items():
            found = unstorable_in(key, path) or unstorable_in(item, f"{path}.{key}" if path else str(key))
            if found is not None:
                return found
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found = unstorable_in(item, f"{path}.{index}")
            if found is not None:
                return found
    return None


@functools.lru_cache(maxsize=512)
def _unstorable_literal(document: DocumentNode) -> str | None:
    """The argument (or input field) whose string literal holds unstorable text."""
    for node in walk(document):
        if isinstance(node, ArgumentNode | ObjectFieldNode):
            values = node.value.values if isinstance(node.value, ListValueNode) else (node.value,)
            if any(isinstance(v, StringValueNode) and _unstorable(v.value) for v in values):
                return node.name.value
    return None
