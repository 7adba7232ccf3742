"""How big a document may be, measured before GraphQL validation in time linear in its text.

A document's fragments may spread each other many times (`fragment F0 { ...F1 ...F1 }`, and so
on): the tree they describe grows exponentially with the text, and anything that walks that tree
(graphql-core's overlap check, a depth limiter that follows spreads) freezes the server. Here every
fragment is measured once and its figures reused wherever it is spread, so a 1 KB document costs
microseconds however large the tree it would expand to; sums saturate just above their limits.

Over a limit, the request gets exactly one error and nothing else runs: no validation, no SQL.
"""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLSchema,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    validate,
)
from graphql.language import Node
from strawberry.extensions import SchemaExtension

from schema.errors import TOO_COMPLEX_MESSAGE

#: deepest field, the operation's own fields being at depth 0
MAX_DEPTH = 12
#: aliased fields in the expanded operation
MAX_ALIASES = 30
#: fields in the expanded operation: what execution would have to resolve, fragments spread
MAX_FIELDS = 500
#: directives anywhere in the document
MAX_DIRECTIVES = 50
#: fields of one response name in one selection set, fragments spread: more says nothing new, and
#: validation compares each pair of them to check that they merge
MAX_REPEATS = 10


@dataclass(frozen=True)
class Size:
    """A selection set's figures once its fragments are spread."""

    depth: int = 0
    aliases: int = 0
    fields: int = 0

    def __add__(self, other: Size) -> Size:
        return Size(
            max(self.depth, other.depth),
            min(self.aliases + other.aliases, MAX_ALIASES + 1),
            min(self.fields + other.fields, MAX_FIELDS + 1),
        )


class _Measure:
    def __init__(self, document: DocumentNode) -> None:
        self.fragments = {
            d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
        }
        self.memo: dict[str, Size] = {}
        self.open: set[str] = set()
        self.named: dict[str, Counter[str]] = {}
        self.naming: set[str] = set()

    def names(self, selection_set: SelectionSetNode | None) -> Counter[str]:
        """How often each response name occurs in this selection set, fragments spread."""
        counted: Counter[str] = Counter()
        for selection in selection_set.selections if selection_set else ():
            if isinstance(selection, FieldNode):
                counted[(selection.alias or selection.name).value] += 1
            elif isinstance(selection, InlineFragmentNode):
                counted.update(self.names(selection.selection_set))
            elif isinstance(selection, FragmentSpreadNode):
                counted.update(self.fragment_names(selection.name.value))
        return Counter({name: min(n, MAX_REPEATS + 1) for name, n in counted.items()})

    def fragment_names(self, name: str) -> Counter[str]:
        if name not in self.named:
            found = self.fragments.get(name)
            if found is None or name in self.naming:
                return Counter()
            self.naming.add(name)
            self.named[name] = self.names(found.selection_set)
            self.naming.discard(name)
        return self.named[name]

    def selections(self, selection_set: SelectionSetNode | None) -> Size:
        size = Size()
        for selection in selection_set.selections if selection_set else ():
            if isinstance(selection, FieldNode):
                below = self.selections(selection.selection_set)
                depth = below.depth + 1 if selection.selection_set else 0
                size = size + Size(depth, below.aliases + (1 if selection.alias else 0), below.fields + 1)
            elif isinstance(selection, InlineFragmentNode):
                size = size + self.selections(selection.selection_set)
            elif isinstance(selection, FragmentSpreadNode):
                size = size + self.fragment(selection.name.value)
        return size

    def fragment(self, name: str) -> Size:
        if name in self.memo:
            return self.memo[name]
        found = self.fragments.get(name)
        if found is None or name in self.open:
            return Size()  # unknown or cyclic: validation names the mistake
        self.open.add(name)
        size = self.selections(found.selection_set)
        self.open.discard(name)
        self.memo[name] = size
        return size


def walk(node: Node) -> Iterator[Node]:
    """Every node of the document's text (not of its expansion), without recursion."""
    stack = [node]
    while stack:
        current = stack.pop()
        yield current
        for key in current.keys:
            value = getattr(current, key, None)
            if isinstance(value, Node):
                stack.append(value)
            elif isinstance(value, tuple | list):
                stack.extend(v for v in value if isinstance(v, Node))


def problem(document: DocumentNode) -> GraphQLError | None:
    """The one error a document over a limit gets, or None."""
    measure = _Measure(document)
    directives = 0
    for node in walk(document):
        used = getattr(node, "directives", None)
        if used:
            directives += len(used)
            names = [d.name.value for d in used]
            if len(set(names)) != len(names):
                return GraphQLError(
                    "同一位置的指令重复了，请只写一次。",
                    extensions={"code": "BAD_USER_INPUT", "detail": f"directive @{names[0]} repeated"},
                )
        if isinstance(node, SelectionSetNode) and max(measure.names(node).values(), default=0) > MAX_REPEATS:
            return _too_complex(f"a field repeated more than {MAX_REPEATS} times in one selection")
    if directives > MAX_DIRECTIVES:
        return _too_complex(f"{directives} directives, at most {MAX_DIRECTIVES}")
    for definition in document.definitions:
        if isinstance(definition, OperationDefinitionNode):
            size = measure.selections(definition.selection_set)
            if size.depth > MAX_DEPTH:
                return _too_complex(f"depth over {MAX_DEPTH}")
            if size.aliases > MAX_ALIASES:
                return _too_complex(f"more than {MAX_ALIASES} aliases")
            if size.fields > MAX_FIELDS:
                return _too_complex(f"more than {MAX_FIELDS} fields once fragments are spread")
    return None


def _too_complex(detail: str) -> GraphQLError:
    return GraphQLError(TOO_COMPLEX_MESSAGE, extensions={"code": "QUERY_TOO_COMPLEX", "detail": detail})


@functools.lru_cache(maxsize=512)
def checked(schema: GraphQLSchema, document: DocumentNode, rules: tuple[type, ...]) -> list[GraphQLError]:
    """The limits, then (only within them) GraphQL's validation; cached per document, as the
    mini-program sends the same few documents all day."""
    over = problem(document)
    if over is not None:
        return [over]
    return validate(schema, document, rules)


class DocumentLimits(SchemaExtension):
    """Validation behind the limits above, with its result cached (in place of strawberry's
    `ValidationCache`, which would validate a document before anyone measured it)."""

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        if context.pre_execution_errors is None and context.graphql_document is not None:
            context.pre_execution_errors = checked(
                context.schema._schema, context.graphql_document, tuple(context.validation_rules)
            )
        yield
