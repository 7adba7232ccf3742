"""Keyset (seek) pagination: a page starts after (or ends before) the sort key of a row, not at a
row number, so rows that arrive or leave between two pages never repeat or skip one.

Each list declares its `Order` once — the columns it sorts by, ending in a unique one — and both
read paths use it: the resolvers here and the compiled statement (`schema.compiler`). A cursor is
the sort key of its row as JSON (`k:[…]`, unpadded URL-safe base64), written the same way by
Python and by PostgreSQL. Only columns a reader of the list may see are sort keys: a cursor is
readable by whoever holds it.
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any, Generic, TypeVar

import sqlalchemy as sa

from models.errors import BadUserInputError
from resolvers.ids import DEFAULT_PAGE, MAX_PAGE

T = TypeVar("T")

BAD_CURSOR = "分页游标不正确，请从第一页重新加载。"
#: the SQL type of each kind of sort key
SQL_TYPES: dict[type, Any] = {
    datetime: sa.DateTime(timezone=True),
    date: sa.Date,
    uuid.UUID: sa.Uuid,
    str: sa.Text,
    int: sa.BigInteger,
    bool: sa.Boolean,
}


@dataclass(frozen=True)
class Key:
    """One sort column: its name on the list's table, its kind, its direction."""

    column: str
    kind: type = uuid.UUID
    descending: bool = False


@dataclass(frozen=True)
class Order:
    """A list's order: its keys, the last of them unique, none of them NULL."""

    keys: tuple[Key, ...]

    def sort(self, t: Any, *, backward: bool = False) -> list[Any]:
        """ORDER BY over `t` (the table or an alias), reversed when reading backward."""
        return [t.c[k.column].desc() if k.descending != backward else t.c[k.column].asc() for k in self.keys]

    def beyond(self, t: Any, values: Sequence[Any], *, later: bool) -> Any:
        """Rows of `t` strictly after (`later`) or before the key `values` (SQL expressions) in
        this order: the lexicographic comparison, column by column."""
        clauses = []
        for i, key in enumerate(self.keys):
            column, value = t.c[key.column], values[i]
            ahead = column > value if key.descending != later else column < value
            clauses.append(sa.and_(*(t.c[k.column] == values[j] for j, k in enumerate(self.keys[:i])), ahead))
        return sa.or_(*clauses)

    def values_of(self, row: Any) -> list[Any]:
        mapping = getattr(row, "_mapping", None)
        return [mapping[k.column] if mapping is not None else getattr(row, k.column) for k in self.keys]

    def cursor(self, row: Any) -> str:
        return encode(self.values_of(row))

    def decode(self, cursor: str | None, *, field: str) -> tuple[Any, ...] | None:
        """The key a cursor holds, checked against this order; BAD_USER_INPUT on `field` if it
        is not one of this list's cursors."""
        if cursor is None:
            return None
        try:
            raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
            tag, _, body = raw.partition(":")
            values = json.loads(body)
            if tag != "k" or not isinstance(values, list) or len(values) != len(self.keys):
                raise ValueError(cursor)
            return tuple(_parsed(key.kind, value) for key, value in zip(self.keys, values, strict=True))
        except (ValueError, TypeError, binascii.Error, UnicodeDecodeError):
            raise BadUserInputError(BAD_CURSOR, field=field) from None


def order(*keys: Key) -> Order:
    return Order(tuple(keys))


def _parsed(kind: type, value: Any) -> Any:
    if kind is datetime:
        if not isinstance(value, str):
            raise TypeError(value)
        moment = datetime.fromisoformat(value)
        if moment.utcoffset() is None:
            raise ValueError(value)
        return moment
    if kind is date:
        if not isinstance(value, str):
            raise TypeError(value)
        return date.fromisoformat(value)
    if kind is uuid.UUID:
        if not isinstance(value, str):
            raise TypeError(value)
        return uuid.UUID(value)
    if kind is bool:
        if not isinstance(value, bool):
            raise TypeError(value)
        return value
    if kind is int:
        if not isinstance(value, int) or isinstance(value, bool) or abs(value) >= 2**63:
            raise TypeError(value)
        return value
    if not isinstance(value, str):
        raise TypeError(value)
    return value


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    return value


def encode(values: Sequence[Any]) -> str:
    text = "k:" + json.dumps([_jsonable(v) for v in values], ensure_ascii=False)
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


# --- the page a list's arguments ask for --------------------------------------------------------


@dataclass(frozen=True)
class Window:
    """`first`/`after` (forward) or `last`/`before` (backward), the cursors decoded."""

    limit: int
    after: tuple[Any, ...] | None = None
    before: tuple[Any, ...] | None = None
    backward: bool = False


def window(
    order_: Order,
    *,
    first: int | None = None,
    after: str | None = None,
    last: int | None = None,
    before: str | None = None,
) -> Window:
    if first is not None and last is not None:
        raise BadUserInputError("first 和 last 不能同时使用。", field="last")
    backward = last is not None or (before is not None and first is None)
    size = last if backward else first
    if size is None:
        size = DEFAULT_PAGE
    if not 0 <= size <= MAX_PAGE:
        name = "last" if backward else "first"
        raise BadUserInputError(f"每页数量 {name} 必须在 0 到 {MAX_PAGE} 之间。", field=name)
    return Window(size, order_.decode(after, field="after"), order_.decode(before, field="before"), backward)


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a list, in the list's order, with each row's cursor."""

    rows: list[T]
    cursors: list[str]
    has_next: bool
    has_previous: bool
    #: the number of rows of the whole list (as the caller may read it), asked only when wanted
    total: Callable[[], Awaitable[int]] | None = field(default=None, compare=False)

    def map(self, convert: Callable[[T], Any]) -> Page[Any]:
        return Page(
            [convert(r) for r in self.rows], self.cursors, self.has_next, self.has_previous, self.total
        )


def conditions(order_: Order, t: Any, w: Window) -> list[Any]:
    """The seek conditions of a window over `t`, parameters bound from the decoded cursors."""
    out = []
    for values, later in ((w.after, True), (w.before, False)):
        if values is not None:
            bound = [sa.literal(v, SQL_TYPES[k.kind]) for k, v in zip(order_.keys, values, strict=True)]
            out.append(order_.beyond(t, bound, later=later))
    return out


def cut(
    order_: Order, w: Window, rows: list[Any], total: Callable[[], Awaitable[int]] | None = None
) -> Page[Any]:
    """The page from the `limit + 1` rows read in the window's direction."""
    more = len(rows) > w.limit
    shown = rows[: w.limit]
    if w.backward:
        shown.reverse()
    cursors = [order_.cursor(r) for r in shown]
    if w.backward:
        return Page(shown, cursors, has_next=w.before is not None, has_previous=more, total=total)
    return Page(shown, cursors, has_next=more, has_previous=w.after is not None, total=total)


async def read(
    session_factory: Any,
    statement: Any,
    t: Any,
    order_: Order,
    w: Window,
    values: dict[str, Any] | None = None,
    *,
    scalars: bool = True,
) -> Page[Any]:
    """A page of `statement` (a SELECT with the list's conditions, no order or limit) over `t`."""
    paged = statement.where(*conditions(order_, t, w)).order_by(*order_.sort(t, backward=w.backward))
    async with session_factory() as session:
        result = await session.execute(paged.limit(w.limit + 1), values or {})
        rows = list(result.scalars() if scalars else result.all())

    async def total() -> int:
        counted = sa.select(sa.func.count()).select_from(statement.order_by(None).subquery())
        async with session_factory() as session:
            return int((await session.execute(counted, values or {})).scalar_one())

    return cut(order_, w, rows, total)
