"""The compiled read path: a query document answered by one SQL statement that builds the response
JSON inside PostgreSQL (DESIGN §7), the policy's SQL filtering every list and masking every field.

A document is compiled once per (text, operation, caller shape, the node types its ID variables
name) into SQL with parameters; a request then costs one statement and no GraphQL execution in
Python. The JSON comes back from PostgreSQL as it is and is sent on untouched.

Strawberry stays the schema, the validator and the fallback. A document goes through strawberry
instead when it asks for something the compiler does not write (a mutation, introspection, a field
without a SQL form: see `bench/README.md`), and a compiled answer is discarded for strawberry's
when it would carry an error: wherever strawberry would refuse (an object not visible, a field the
caller may not read), the SQL writes `MARKER`, so that every error, and how it nulls its parents,
comes from one place.

Each domain slice says how its types are written in SQL (`SQL` in its module, a `TypeSQL` per
type); this module knows GraphQL and SQL, not domains.
"""

from __future__ import annotations

import base64
import binascii
import functools
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from graphql import (
    BooleanValueNode,
    DocumentNode,
    EnumValueNode,
    FieldNode,
    FloatValueNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLNamedType,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    ListTypeNode,
    NamedTypeNode,
    NonNullTypeNode,
    NullValueNode,
    ObjectValueNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    StringValueNode,
    ValueNode,
    VariableNode,
)
from graphql.execution.values import VariableValues, get_variable_values
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.sql import FromClause

from auth.bindings import light
from auth.principal import Principal
from auth.rules import shape
from models.access import current_epoch
from models.errors import BadUserInputError
from resolvers import pages
from resolvers.ids import DEFAULT_PAGE, MAX_PAGE

#: What the SQL writes where strawberry would answer with an error: the answer is then strawberry's.
MARKER = "__qilijia_fallback__"
#: The whole answer when the caller's principal was read at an older access epoch (`models.access`).
STALE = "__qilijia_stale__"
#: The parameter carrying that epoch (None: the caller's grants are not read from the database).
EPOCH = "principal_epoch"
JSON = postgresql.JSON


class Fallback(Exception):
    """This request is answered by strawberry: the compiler does not write something it asks for,
    or its variables are not ones it can bind (strawberry then gives the exact error)."""


# --- SQL building blocks ---------------------------------------------------------------------------


def marker() -> Any:
    return sa.cast(sa.literal(f'"{MARKER}"'), JSON)


def required(value: Any) -> Any:
    """A non-null field: its value, or the marker where it is NULL (strawberry would error)."""
    return sa.func.coalesce(value, marker())


def b64url(text: Any) -> Any:
    """Unpadded URL-safe base64 of a short text (`resolvers.ids.encode`), in SQL."""
    # encode() breaks its output into lines of 76: translate() drops the newlines
    return sa.func.rtrim(
        sa.func.translate(sa.func.encode(sa.func.convert_to(text, "UTF8"), "base64"), "+/\n", "-_"), "="
    )


def global_id(type_name: str, ident: Any) -> Any:
    return b64url(sa.func.concat(f"{type_name}:", sa.cast(ident, sa.Text)))


def cursor(order: pages.Order, row: Any) -> Any:
    """A row's cursor (`resolvers.pages.encode`), in SQL: its sort key as JSON, in base64."""
    values = [
        iso(row.c[k.column])
        if k.kind is datetime
        else sa.cast(row.c[k.column], sa.Text)
        if k.kind is uuid.UUID
        else row.c[k.column]
        for k in order.keys
    ]
    return b64url(sa.func.concat("k:", sa.cast(sa.func.json_build_array(*values), sa.Text)))


def iso(moment: Any) -> Any:
    """A timestamptz as Python's `isoformat()` writes it (no fraction when there is none)."""
    utc = sa.func.timezone("UTC", moment)
    whole = sa.func.to_char(utc, 'YYYY-MM-DD"T"HH24:MI:SS"+00:00"')
    exact = sa.func.to_char(utc, 'YYYY-MM-DD"T"HH24:MI:SS.US"+00:00"')
    fraction = sa.cast(sa.func.date_part("microseconds", moment), sa.BigInteger) % 1_000_000
    return sa.case((moment.is_(None), sa.null()), (fraction == 0, whole), else_=exact)


def text_of(value: Any) -> Any:
    """A numeric as its exact text (the `Decimal` scalar is a string), NULL kept."""
    return sa.cast(value, sa.Text)


def json_array(value: Any) -> Any:
    return sa.func.coalesce(sa.func.array_to_json(value), sa.cast(sa.literal("[]"), JSON))


def json_agg(value: Any, *order_by: Any) -> Any:
    aggregated = (
        sa.func.json_agg(aggregate_order_by(value, *order_by)) if order_by else sa.func.json_agg(value)
    )
    return sa.func.coalesce(aggregated, sa.cast(sa.literal("[]"), JSON))


# --- how a type is written ------------------------------------------------------------------------------


class Row:
    """The FROM items an object is written from: `row.t` (its table) and any joined ones."""

    def __init__(self, **aliases: Any) -> None:
        self.__dict__.update(aliases)


#: How one field is written: (the compiler, the object's row, the field's nodes) → a SQL value.
FieldSQL = Callable[["Compiler", Row, list[FieldNode]], Any]


@dataclass(frozen=True)
class TypeSQL:
    fields: dict[str, FieldSQL]
    #: writes the whole object instead of `Compiler.object` (which it may call back with other
    #: field writers): for a type whose fields share a condition worth asking once per row
    whole: Callable[[Compiler, Row, list[FieldNode]], Any] | None = None


def camel(name: str) -> str:
    """A Python field name as strawberry names it in GraphQL: `agree_area` → `agreeArea`."""
    first, *rest = name.split("_")
    return first + "".join(part.title() for part in rest)


def column(value: Callable[[Row], Any]) -> FieldSQL:
    """A field that is a SQL value of the row."""
    return lambda c, row, nodes: value(row)


# --- documents -----------------------------------------------------------------------------------------


@dataclass
class Param:
    """A runtime parameter: its bind name, and how its value comes from the request's (coerced)
    variables; `default` when the variable is not given, as GraphQL then omits the argument."""

    key: str
    variable: str
    convert: Callable[[Any], Any]
    default: Any = None


@dataclass
class Plan:
    sql: str
    names: list[str]
    constants: dict[str, Any]
    params: list[Param]
    policy: bool

    def arguments(
        self, variables: dict[str, Any], policy_values: dict[str, Any], epoch: int | None
    ) -> list[Any]:
        values = dict(self.constants)
        values.update(policy_values)
        values[EPOCH] = epoch
        for p in self.params:
            values[p.key] = p.convert(variables[p.variable] if p.variable in variables else p.default)
        try:
            return [values[name] for name in self.names]
        except KeyError as missing:  # a parameter the caller's shape does not set
            raise Fallback(f"no value for {missing}") from None


def _decode_global(value: Any) -> tuple[str, uuid.UUID]:
    if not isinstance(value, str):
        raise Fallback("an ID that is not a string")
    return _decoded_once(value) if len(value) <= GLOBAL_ID_MAX else _decoded(value)


#: the longest global ID of ours (a type name of up to 30 characters and a UUID, in base64):
#: longer texts are decoded every time, never kept
GLOBAL_ID_MAX = 96


def _decoded(value: str) -> tuple[str, uuid.UUID]:
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)).decode()
        type_name, _, ident = raw.partition(":")
        return type_name, uuid.UUID(ident)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise Fallback("a malformed ID") from None


#: a global ID's type and id, each decoded once: a request decodes its IDs twice (the plan it needs,
#: then its parameters), and screens are opened with the same IDs again and again
_decoded_once = functools.lru_cache(maxsize=8192)(_decoded)


def node_types(variables: dict[str, Any] | None) -> tuple[tuple[str, str], ...]:
    """The node type each ID-looking variable names: part of what a plan depends on."""
    out = []
    for name, value in sorted((variables or {}).items()):
        if isinstance(value, str):
            try:
                out.append((name, _decode_global(value)[0]))
            except Fallback:
                continue
    return tuple(out)


class Compiler:
    """Writes one operation of a validated document as one SELECT."""

    def __init__(
        self,
        schema: GraphQLSchema,
        types: dict[str, TypeSQL],
        roots: dict[str, FieldSQL],
        who: Principal,
        document: DocumentNode,
        operation_name: str | None,
        variables: dict[str, Any],
    ) -> None:
        self.schema = schema
        self.types = types
        self.roots = roots
        self.who = who
        self.variables = variables
        self.fragments = {
            d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
        }
        operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
        chosen = [
            o for o in operations if operation_name is None or (o.name and o.name.value == operation_name)
        ]
        if len(chosen) != 1:
            raise Fallback("no single operation")
        self.operation = chosen[0]
        if self.operation.operation != OperationType.QUERY:
            raise Fallback("not a query")
        self.params: list[Param] = []
        self.constants: dict[str, Any] = {}

    # --- selections ----------------------------------------------------------------------------

    def collect(
        self, type_name: str, nodes: Iterable[FieldNode | SelectionSetNode]
    ) -> dict[str, list[FieldNode]]:
        """The fields selected on an object of `type_name`, by response key, fragments applied."""
        out: dict[str, list[FieldNode]] = {}
        for node in nodes:
            selection_set = node if isinstance(node, SelectionSetNode) else node.selection_set
            if selection_set is not None:
                self._collect(type_name, selection_set, out, set())
        return out

    def _collect(
        self, type_name: str, selection_set: SelectionSetNode, out: dict[str, list[FieldNode]], seen: set[str]
    ) -> None:
        for selection in selection_set.selections:
            if not self._included(selection):
                continue
            if isinstance(selection, FieldNode):
                key = selection.alias.value if selection.alias else selection.name.value
                out.setdefault(key, []).append(selection)
            elif isinstance(selection, InlineFragmentNode):
                if self._applies(selection.type_condition, type_name):
                    self._collect(type_name, selection.selection_set, out, seen)
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                fragment = self.fragments.get(name)
                if fragment is None or name in seen:
                    continue
                if self._applies(fragment.type_condition, type_name):
                    self._collect(type_name, fragment.selection_set, out, seen | {name})

    def _applies(self, condition: NamedTypeNode | None, type_name: str) -> bool:
        if condition is None or condition.name.value == type_name:
            return True
        abstract = self.schema.get_type(condition.name.value)
        concrete = self.schema.get_type(type_name)
        return isinstance(concrete, GraphQLObjectType) and abstract in concrete.interfaces

    def _included(self, selection: Any) -> bool:
        for directive in selection.directives or ():
            name = directive.name.value
            if name not in ("include", "skip"):
                raise Fallback(f"the directive @{name}")
            [argument] = directive.arguments
            value = self.value(argument.value)
            if (name == "include") != bool(value):
                return False
        return True

    # --- arguments -------------------------------------------------------------------------------

    def value(self, node: ValueNode) -> Any:
        """A literal's value, or a variable's (directives and node types are decided when compiling)."""
        if isinstance(node, VariableNode):
            return self.variables.get(node.name.value)
        if isinstance(node, IntValueNode):
            return int(node.value)
        if isinstance(node, StringValueNode | EnumValueNode):
            return node.value
        if isinstance(node, BooleanValueNode):
            return node.value
        if isinstance(node, NullValueNode):
            return None
        if isinstance(node, FloatValueNode):
            raise Fallback("a float argument")
        raise Fallback("a list or object argument")

    def argument(
        self, nodes: list[FieldNode], name: str, convert: Callable[[Any], Any], default: Any = None
    ) -> Any:
        """A field argument as a SQL parameter: bound from its variable at run time (so one plan
        serves every value), or a constant. `convert` checks and translates the value and raises
        `Fallback` for anything strawberry should refuse."""
        given = next((a.value for a in nodes[0].arguments or () if a.name.value == name), None)
        key = f"a{len(self.params) + len(self.constants)}"
        if isinstance(given, VariableNode):
            self.params.append(Param(key, given.name.value, convert, default))
        else:
            self.constants[key] = convert(default if given is None else self.value(given))
        return sa.bindparam(key, value=None, required=False)

    def input_field(
        self, nodes: list[FieldNode], name: str, field: str, convert: Callable[[Any], Any]
    ) -> Any:
        """One field of an input-object argument as a SQL parameter: bound at run time from the
        variable holding the object, or from the variable or literal given for the field inside
        an object literal; `field` is the GraphQL name (`buildingId`)."""
        given = next((a.value for a in nodes[0].arguments or () if a.name.value == name), None)
        key = f"a{len(self.params) + len(self.constants)}"
        if isinstance(given, VariableNode):
            self.params.append(Param(key, given.name.value, lambda o: convert(_field_of(o, field)), None))
            return sa.bindparam(key, value=None, required=False)
        if isinstance(given, ObjectValueNode):
            inner = next((f.value for f in given.fields if f.name.value == field), None)
            if isinstance(inner, VariableNode):
                self.params.append(Param(key, inner.name.value, convert, None))
                return sa.bindparam(key, value=None, required=False)
            self.constants[key] = convert(None if inner is None else self.value(inner))
            return sa.bindparam(key, value=None, required=False)
        if given is None or isinstance(given, NullValueNode):
            self.constants[key] = convert(None)
            return sa.bindparam(key, value=None, required=False)
        raise Fallback(f"the argument {name}")

    def cursor_params(self, nodes: list[FieldNode], name: str, order: pages.Order) -> list[Any] | None:
        """A cursor argument (`after`, `before`) as one parameter per sort key, all NULL when the
        cursor is not given; None when the document does not name the argument."""
        given = next((a.value for a in nodes[0].arguments or () if a.name.value == name), None)
        if given is None:
            return None
        out = []
        for i, key in enumerate(order.keys):
            convert = functools.partial(_cursor_value, order, name, i)
            out.append(sa.cast(self.argument(nodes, name, convert), pages.SQL_TYPES[key.kind]))
        return out

    def backward(self, nodes: list[FieldNode]) -> bool:
        """Whether a connection is read backward (`last`): decided by the document, so that one
        plan serves every value; what only the values could decide is left to strawberry."""
        given = {a.name.value: a.value for a in nodes[0].arguments or ()}
        if "first" in given and "last" in given:
            raise Fallback("first and last")
        if "last" in given:
            last = given["last"]
            if isinstance(last, VariableNode) and not self._required(last.name.value):
                raise Fallback("last from a variable that may be null")
            if isinstance(last, NullValueNode):
                raise Fallback("last: null")
            return True
        if "before" in given and "first" not in given:
            raise Fallback("before without first or last")
        first = given.get("first")
        if "before" in given and isinstance(first, VariableNode) and not self._required(first.name.value):
            raise Fallback("before with first from a variable that may be null")
        return False

    def _required(self, variable: str) -> bool:
        for definition in self.operation.variable_definitions or ():
            if definition.variable.name.value == variable:
                return isinstance(definition.type, NonNullTypeNode) or definition.default_value is not None
        return False

    def node_type(self, nodes: list[FieldNode], name: str = "id") -> tuple[str, Any]:
        """The node type an ID argument names (known when compiling) and the id as a parameter."""
        given = next((a.value for a in nodes[0].arguments or () if a.name.value == name), None)
        if given is None:
            raise Fallback("no id")
        type_name, _ = _decode_global(self.value(given))
        return type_name, self.argument(nodes, name, lambda v: _decode_global(v)[1])

    # --- objects --------------------------------------------------------------------------------

    def object(
        self, type_name: str, row: Row, nodes: list[FieldNode], fields: dict[str, FieldSQL] | None = None
    ) -> Any:
        """One object as `json_build_object(key, value, …)` in the order the query asks (`fields`:
        writers that replace some of the type's own, from its `whole`)."""
        written = self.types.get(type_name)
        if written is None:
            raise Fallback(f"the type {type_name}")
        if written.whole is not None and fields is None:
            return written.whole(self, row, nodes)
        writers = {**written.fields, **(fields or {})}
        pairs: list[Any] = []
        for key, field_nodes in self.collect(type_name, nodes).items():
            name = field_nodes[0].name.value
            if name == "__typename":
                value: Any = sa.literal(type_name)
            else:
                writer = writers.get(name)
                if writer is None:
                    raise Fallback(f"the field {type_name}.{name}")
                value = writer(self, row, field_nodes)
            pairs += [sa.literal(key), value]
        if len(pairs) > 100:  # PostgreSQL functions take at most 100 arguments
            raise Fallback("an object of more than 50 fields")
        return sa.func.json_build_object(*pairs, type_=JSON)

    def one(
        self,
        type_name: str,
        table: Any,
        nodes: list[FieldNode],
        where: Callable[[FromClause], Any],
        *,
        allowed: Callable[[FromClause], Any] | None = None,
        nullable: bool = True,
    ) -> Any:
        """A to-one edge: the related object where `where` (and the policy's `allowed`) hold, or
        NULL; a non-null edge with nothing to show writes the marker."""
        t = light(table).alias() if isinstance(table, sa.Table) else table.alias()
        conditions = [where(t)] + ([allowed(t)] if allowed is not None else [])
        value = (
            sa.select(self.object(type_name, Row(t=t), nodes)).where(*conditions).limit(1).scalar_subquery()
        )
        return value if nullable else required(value)

    def many(
        self,
        type_name: str,
        source: FromClause,
        row: Row,
        nodes: list[FieldNode],
        where: Iterable[Any],
        order_by: Iterable[Any],
    ) -> Any:
        """A list edge: every object of `source` where `where` holds, in `order_by`, as a JSON array."""
        return (
            sa.select(json_agg(self.object(type_name, row, nodes), *order_by))
            .select_from(source)
            .where(*where)
            .scalar_subquery()
        )

    def connection(
        self,
        type_name: str,
        table: Any,
        nodes: list[FieldNode],
        where: Callable[[FromClause], Iterable[Any]],
        order: pages.Order,
        *,
        connection_type: str | None = None,
    ) -> Any:
        """A Relay connection: keyset pages (`resolvers.pages`) forward (`first`/`after`) or
        backward (`last`/`before`), cursors and `totalCount` as the resolvers write them."""
        backward = self.backward(nodes)
        limit = self.argument(nodes, "last" if backward else "first", _page_size, DEFAULT_PAGE)
        t = light(table).alias() if isinstance(table, sa.Table) else table.alias()
        after = self.cursor_params(nodes, "after", order)
        before = self.cursor_params(nodes, "before", order)
        seek = [
            sa.or_(values[0].is_(None), order.beyond(t, values, later=later))
            for values, later in ((after, True), (before, False))
            if values is not None
        ]
        window = (
            sa.select(t)
            .where(*where(t), *seek)
            .order_by(*order.sort(t, backward=backward))
            .limit(limit + 1)
            # a subquery in FROM: SQLAlchemy correlates it to the parent row only when told
            .correlate_except(t)
            .subquery()
        )
        position = sa.func.row_number().over(order_by=order.sort(window, backward=backward)).label("position")
        page = sa.select(window, position).subquery()
        shown = page.c.position <= limit
        shown_order = page.c.position.desc() if backward else page.c.position
        more = sa.func.count() > limit
        given = {"after": after, "before": before}

        def bounded(name: str) -> Any:
            values = given[name]
            return sa.false() if values is None else values[0].is_not(None)

        pairs: list[Any] = []
        aggregated = False  # edges and pageInfo aggregate the page; the rest reads no row of it
        for key, field_nodes in self.collect(connection_type or f"{type_name}Connection", nodes).items():
            name = field_nodes[0].name.value
            aggregated = aggregated or name in ("edges", "pageInfo")
            if name == "__typename":
                value: Any = sa.literal(connection_type or f"{type_name}Connection")
            elif name == "totalCount":
                counted = light(table).alias() if isinstance(table, sa.Table) else table.alias()
                value = (
                    sa.select(sa.func.count())
                    .select_from(counted)
                    .where(*where(counted))
                    .correlate_except(counted)
                    .scalar_subquery()
                )
            elif name == "edges":
                edge = []
                for edge_key, edge_nodes in self.collect(f"{type_name}Edge", field_nodes).items():
                    edge_name = edge_nodes[0].name.value
                    if edge_name == "cursor":
                        edge += [sa.literal(edge_key), cursor(order, page)]
                    elif edge_name == "node":
                        edge += [sa.literal(edge_key), self.object(type_name, Row(t=page), edge_nodes)]
                    elif edge_name == "__typename":
                        edge += [sa.literal(edge_key), sa.literal(f"{type_name}Edge")]
                    else:
                        raise Fallback(f"the edge field {edge_name}")
                value = sa.func.coalesce(
                    sa.func.json_agg(
                        aggregate_order_by(sa.func.json_build_object(*edge, type_=JSON), shown_order)
                    ).filter(shown),
                    sa.cast(sa.literal("[]"), JSON),
                )
            elif name == "pageInfo":
                cursors = sa.type_coerce(
                    sa.func.array_agg(aggregate_order_by(cursor(order, page), shown_order)).filter(shown),
                    postgresql.ARRAY(sa.Text),
                )
                info = []
                for info_key, info_nodes in self.collect("PageInfo", field_nodes).items():
                    info_name = info_nodes[0].name.value
                    written = {
                        "hasNextPage": bounded("before") if backward else more,
                        "hasPreviousPage": more if backward else bounded("after"),
                        "startCursor": cursors[1],
                        "endCursor": cursors[sa.func.array_length(cursors, 1)],
                        "__typename": sa.literal("PageInfo"),
                    }.get(info_name)
                    if written is None:
                        raise Fallback(f"the page info field {info_name}")
                    info += [sa.literal(info_key), written]
                value = sa.func.json_build_object(*info, type_=JSON)
            else:
                raise Fallback(f"the connection field {name}")
            pairs += [sa.literal(key), value]
        built = sa.select(sa.func.json_build_object(*pairs, type_=JSON))
        return (built.select_from(page) if aggregated else built).scalar_subquery()

    # --- the operation -----------------------------------------------------------------------------

    def statement(self) -> Any:
        pairs: list[Any] = []
        for key, nodes in self.collect("Query", [self.operation.selection_set]).items():
            name = nodes[0].name.value
            if name == "__typename":
                value: Any = sa.literal("Query")
            else:
                writer = self.roots.get(name)
                if writer is None:
                    raise Fallback(f"the root field {name}")
                value = writer(self, Row(), nodes)
            pairs += [sa.literal(key), value]
        data = sa.cast(sa.func.json_build_object(*pairs, type_=JSON), sa.Text)
        epoch = sa.bindparam(EPOCH, type_=sa.BigInteger, value=None, required=False)
        fresh = sa.or_(epoch.is_(None), current_epoch() == epoch)
        return sa.select(sa.case((fresh, data), else_=sa.literal(STALE)).label("data"))


def _field_of(value: Any, field: str) -> Any:
    """A field of a coerced input object: strawberry builds its input class, graphql-core a dict."""
    if value is None:
        return None
    if isinstance(value, dict):
        return value.get(field, value.get(_snake(field)))
    return getattr(value, _snake(field), None)


def _snake(name: str) -> str:
    return "".join(f"_{ch.lower()}" if ch.isupper() else ch for ch in name)


def _page_size(value: Any) -> int:
    if value is None:
        return DEFAULT_PAGE
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= MAX_PAGE:
        raise Fallback("first out of range")
    return value


def _cursor_value(order: pages.Order, name: str, index: int, value: Any) -> Any:
    """One sort key of a cursor argument (`resolvers.pages.Order.decode`); strawberry answers a
    malformed one."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise Fallback("a cursor that is not a string")
    try:
        decoded = order.decode(value, field=name)
    except BadUserInputError:
        raise Fallback("a malformed cursor") from None
    return None if decoded is None else decoded[index]


def type_name_of(node: Any) -> str:
    while isinstance(node, NonNullTypeNode | ListTypeNode):
        node = node.type
    return node.name.value


@dataclass
class Known:
    """A document strawberry has parsed and validated, and its chosen operation."""

    document: DocumentNode
    operation: OperationDefinitionNode | None

    @property
    def name(self) -> str | None:
        return self.operation.name.value if self.operation and self.operation.name else None

    @property
    def reads(self) -> bool:
        """A query: only a query is compiled (a mutation or a subscription is strawberry's, and
        costs no coercion of its variables here)."""
        return self.operation is not None and self.operation.operation == OperationType.QUERY


@dataclass
class Plans:
    """Compiled plans by (query text, operation, caller shape, node types of the ID variables).

    A document is compiled the `compile_after`-th time it is asked in the same shape: a screen of
    the mini-program is asked all day and compiles at once, while a one-off query (an operator in
    GraphiQL, a crawler) is not worth the compiling and goes through strawberry. Trusted documents
    (`known` at start-up) compile the first time.

    Variables are coerced as GraphQL executes them (types checked, defaults applied); a request
    whose variables do not coerce goes to strawberry, which answers with the error."""

    schema: GraphQLSchema
    types: dict[str, TypeSQL]
    roots: dict[str, FieldSQL]
    maximum: int = 2_000
    compile_after: int = 2
    cache: dict[tuple[Any, ...], Plan | None] = field(default_factory=dict)
    seen: dict[tuple[Any, ...], int] = field(default_factory=dict)
    known: dict[tuple[str, str | None], Known] = field(default_factory=dict)
    trusted: set[str] = field(default_factory=set)

    def plan(
        self,
        query: str,
        document: DocumentNode,
        operation: str | None,
        who: Principal,
        variables: dict[str, Any] | None,
    ) -> tuple[Plan, dict[str, Any]] | None:
        """The plan for this validated request and its coerced variables, or None when strawberry
        answers it (remembered too)."""
        known = self.known.get((query, operation))
        if known is None:
            known = Known(document, _operation(document, operation))
            if len(self.known) >= self.maximum:
                self.known.clear()
            self.known[(query, operation)] = known
            if known.operation is not None and _operation(document, None) is known.operation:
                self.known[(query, None)] = known  # the only operation: asked without its name too
        if not known.reads:
            return None
        coerced = self._coerce(known, variables)
        if coerced is None:
            return None
        key = (query, known.name, shape(who), node_types(coerced), _booleans(coerced), _short_texts(coerced))
        if key in self.cache:
            found = self.cache[key]
            return None if found is None else (found, coerced)
        asked = self.seen.get(key, 0) + 1
        if asked < self.compile_after and query not in self.trusted:
            if len(self.seen) >= self.maximum:
                self.seen.clear()
            self.seen[key] = asked
            return None
        self.seen.pop(key, None)
        try:
            compiler = Compiler(self.schema, self.types, self.roots, who, document, known.name, coerced)
            plan: Plan | None = _finish(compiler.statement(), compiler)
        except Fallback:
            plan = None
        if len(self.cache) >= self.maximum:
            self.cache.clear()
        self.cache[key] = plan
        return None if plan is None else (plan, coerced)

    def ready(
        self, query: str, operation: str | None, who: Principal, variables: dict[str, Any] | None
    ) -> tuple[Plan, dict[str, Any], DocumentNode] | None:
        """The plan already compiled for this request, its coerced variables and its document,
        without parsing or validating anything: the document has been validated when it was first
        planned. None when there is none yet."""
        known = self.known.get((query, operation))
        if known is None or not known.reads:
            return None
        coerced = self._coerce(known, variables)
        if coerced is None:
            return None
        found = self.cache.get(
            (query, known.name, shape(who), node_types(coerced), _booleans(coerced), _short_texts(coerced))
        )
        return None if found is None else (found, coerced, known.document)

    def _coerce(self, known: Known, variables: dict[str, Any] | None) -> dict[str, Any] | None:
        if known.operation is None or not isinstance(variables, dict | None):
            return None
        if not known.operation.variable_definitions:
            return {}
        coerced = coerce_variables(self.schema, known.operation, variables)
        return None if coerced is None else dict(coerced.coerced)


def coerce_variables(
    schema: GraphQLSchema, operation: OperationDefinitionNode, variables: dict[str, Any] | None
) -> VariableValues | None:
    """An operation's variables as GraphQL executes them (types checked, defaults applied); None
    when they do not coerce, which strawberry then reports."""
    coerced = get_variable_values(schema, operation.variable_definitions or (), variables or {})
    return None if isinstance(coerced, list) else coerced


def _operation(document: DocumentNode, name: str | None) -> OperationDefinitionNode | None:
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    chosen = [o for o in operations if name is None or (o.name is not None and o.name.value == name)]
    return chosen[0] if len(chosen) == 1 else None


#: a text variable shorter than this is too short for a trigram (`resolvers.search.TRIGRAM`)
SHORT_TEXT = 3


def _short_texts(variables: dict[str, Any] | None) -> tuple[str, ...]:
    """The text variables too short for a trigram: a search is written another way for them
    (`resolvers.search.short`), so plans differ by them."""
    return tuple(
        sorted(k for k, v in (variables or {}).items() if isinstance(v, str) and len(v.strip()) < SHORT_TEXT)
    )


def _booleans(variables: dict[str, Any] | None) -> tuple[tuple[str, bool], ...]:
    """The boolean variables (the conditions of @include and @skip): plans differ by them."""
    return tuple(sorted((k, v) for k, v in (variables or {}).items() if isinstance(v, bool)))


def _finish(statement: Any, compiler: Compiler) -> Plan:
    compiled = statement.compile(dialect=_DIALECT, compile_kwargs={"render_postcompile": True})
    names = list(compiled.positiontup or ())
    constants = {k: v for k, v in compiled.params.items() if k not in {p.key for p in compiler.params}}
    constants.update(compiler.constants)
    policy = any(name.startswith("policy_") for name in names)
    return Plan(compiled.string, names, constants, compiler.params, policy)


_DIALECT = postgresql.asyncpg.dialect()  # type: ignore[attr-defined]

__all__ = [
    "JSON",
    "MARKER",
    "STALE",
    "Compiler",
    "Fallback",
    "FieldSQL",
    "GraphQLNamedType",
    "Plan",
    "Plans",
    "Row",
    "TypeSQL",
    "b64url",
    "camel",
    "column",
    "cursor",
    "global_id",
    "iso",
    "json_agg",
    "json_array",
    "marker",
    "required",
    "text_of",
    "type_name_of",
]
