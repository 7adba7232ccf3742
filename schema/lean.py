"""Lean writes: the hot mutations (a ballot: a whole compound casting in the last evening) answered
without GraphQL execution, as compiled reads answer screens.

A request qualifies when its document is already known (strawberry parsed, limited, guarded and
validated it once: `schema.compiler.Plans.known`), its operation is a mutation of one root field
that has a lean form (`LEAN`), the document holds nothing else, and that field's selection is
leaves of the returned type only, no directives, no fragments. Its arguments are coerced as
graphql-core and strawberry coerce them, the field's work (the same function the strawberry
resolver calls) runs, and each selected leaf is serialized by the schema's own type.

Anything else, and any refusal (a `QilijiaError`, which rolls back before anything is written), is
left to strawberry, which runs the mutation the usual way and answers with its errors. Any other
failure of the field's work may have come after its write was committed (a connection lost during
COMMIT): it is answered as strawberry answers it, and the mutation is never run a second time.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from graphql import (
    FieldNode,
    GraphQLField,
    GraphQLLeafType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLSchema,
    OperationDefinitionNode,
    OperationType,
    is_leaf_type,
)
from graphql.execution.values import VariableValues, get_argument_values
from prometheus_client import Counter
from strawberry.types.arguments import StrawberryArgument, convert_arguments

from schema.compiler import Known, coerce_variables

ANSWERED = Counter("qilijia_graphql_lean_total", "Mutations answered without GraphQL execution (schema.lean)")

#: the field's work: called with the request's context and the field's arguments by Python name
Perform = Callable[..., Awaitable[Any]]


@dataclasses.dataclass(frozen=True)
class Leaf:
    key: str  # the response key (alias or name)
    attribute: str | None  # the Python attribute of the returned object; None for __typename
    type: Any  # the field's GraphQL output type


@dataclasses.dataclass(frozen=True)
class LeanPlan:
    operation: OperationDefinitionNode
    key: str
    field: GraphQLField
    node: FieldNode
    arguments: list[StrawberryArgument]
    perform: Perform
    returns: str
    leaves: tuple[Leaf, ...]


@dataclasses.dataclass
class LeanWrites:
    """Lean plans by known document, made on first sight (None: strawberry answers it)."""

    schema: Any  # strawberry.Schema
    lean: Mapping[str, Perform]
    plans: dict[tuple[str, str | None], tuple[Known, LeanPlan | None]] = dataclasses.field(
        default_factory=dict
    )
    maximum: int = 2_000

    def plan(self, query: str, operation: str | None, known: Known) -> LeanPlan | None:
        found = self.plans.get((query, operation))
        if found is None or found[0] is not known:
            if len(self.plans) >= self.maximum:
                self.plans.clear()
            found = self.plans[(query, operation)] = (known, _plan(self.schema, self.lean, known))
        return found[1]

    def coerce(self, plan: LeanPlan, variables: dict[str, Any] | None) -> VariableValues | None:
        """The request's variables as GraphQL executes them; None when they do not coerce
        (strawberry reports why)."""
        return coerce_variables(self.schema._schema, plan.operation, variables)

    def arguments(self, plan: LeanPlan, variables: VariableValues) -> dict[str, Any]:
        """The field's arguments by Python name, as strawberry would pass them."""
        values = get_argument_values(plan.field, plan.node, variables)
        return convert_arguments(
            values,
            plan.arguments,
            scalar_registry=self.schema.schema_converter.scalar_registry,
            config=self.schema.config,
        )


def data(plan: LeanPlan, result: Any) -> dict[str, Any]:
    """The response's `data` for the field's result, each leaf serialized by its schema type."""
    return {plan.key: {leaf.key: _serialized(leaf, result, plan.returns) for leaf in plan.leaves}}


def _serialized(leaf: Leaf, result: Any, returns: str) -> Any:
    if leaf.attribute is None:
        return returns
    return _serialize(leaf.type, getattr(result, leaf.attribute))


def _serialize(kind: Any, value: Any) -> Any:
    if isinstance(kind, GraphQLNonNull):
        if value is None:
            raise TypeError("a non-null leaf resolved to null")
        return _serialize(kind.of_type, value)
    if value is None:
        return None
    if isinstance(kind, GraphQLList):
        return [_serialize(kind.of_type, item) for item in value]
    leaf: GraphQLLeafType = kind
    return leaf.serialize(value)


def _plan(schema: Any, lean: Mapping[str, Perform], known: Known) -> LeanPlan | None:
    operation = known.operation
    if operation is None or operation.operation != OperationType.MUTATION:
        return None
    if len(known.document.definitions) != 1:
        return None  # other operations or fragments beside it: the document's checks are strawberry's
    roots = operation.selection_set.selections
    if len(roots) != 1 or not isinstance(roots[0], FieldNode):
        return None
    node = roots[0]
    perform = lean.get(node.name.value)
    if perform is None or node.directives or node.selection_set is None:
        return None
    graphql_schema: GraphQLSchema = schema._schema
    assert graphql_schema.mutation_type is not None
    field = graphql_schema.mutation_type.fields[node.name.value]
    returned = field.type.of_type if isinstance(field.type, GraphQLNonNull) else field.type
    if not isinstance(returned, GraphQLObjectType):
        return None
    leaves: list[Leaf] = []
    for selection in node.selection_set.selections:
        if not isinstance(selection, FieldNode) or selection.directives or selection.arguments:
            return None
        name = selection.name.value
        key = selection.alias.value if selection.alias else name
        if name == "__typename":
            leaves.append(Leaf(key, None, None))
            continue
        if name not in returned.fields or not _leaves_only(returned.fields[name].type):
            return None
        declared = schema.get_field_for_type(name, returned.name)
        if declared is None or declared.base_resolver is not None or _guarded(declared):
            return None  # a field with its own resolver, permissions or extensions: strawberry's
        leaves.append(Leaf(key, declared.python_name, returned.fields[name].type))
    root = schema.get_field_for_type(node.name.value, graphql_schema.mutation_type.name)
    if root is None or _guarded(root):
        return None
    return LeanPlan(
        operation=operation,
        key=node.alias.value if node.alias else node.name.value,
        field=field,
        node=node,
        arguments=root.arguments,
        perform=perform,
        returns=returned.name,
        leaves=tuple(leaves),
    )


def _guarded(declared: Any) -> bool:
    """A field strawberry runs something around (permission classes, field extensions)."""
    return bool(declared.permission_classes or declared.extensions)


def _leaves_only(kind: Any) -> bool:
    while isinstance(kind, GraphQLNonNull | GraphQLList):
        kind = kind.of_type
    return is_leaf_type(kind)
