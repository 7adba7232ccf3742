"""Per-request dataloaders: every list a screen shows costs one statement per level, however long.

Each domain module builds its own loaders with these helpers and caches them on the request's
`Loaders`. Loaders of objects a caller may or may not see take the policy's SQL filter
(`auth.policy.where`), so an object reached through any edge is exactly the one `node(id:)` would
answer. Each batch opens its own session: sibling fields resolve concurrently and must not share one.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import aliased
from strawberry.dataloader import DataLoader

from auth.policy import Action, Resource, not_visible, params, where
from auth.principal import Principal
from resolvers.pages import Order, Page, Window, conditions, cut

T = TypeVar("T")
K = TypeVar("K", bound=Hashable)

Sessions = async_sessionmaker[AsyncSession]


class Loader(DataLoader[K, T]):
    """A dataloader whose callers each await the shared answer through a shield.

    Two fields asking for the same key await one cached future. When graphql-core cancels one of
    them (a sibling's error ends a non-null parent), cancelling its await would cancel that shared
    future too, and a field elsewhere in the answer, still wanted, would raise `CancelledError`."""

    def load(self, key: K) -> Awaitable[T]:
        return asyncio.shield(super().load(key))


@dataclass(frozen=True)
class PageKey:
    parent_id: uuid.UUID | None
    window: Window


def by_key(sessions: Sessions, model: Any, column: Any = None, *, cache: bool = True) -> DataLoader[Any, Any]:
    """One row of `model` per key of `column` (its `id` by default), or None."""
    column = model.id if column is None else column

    async def load(keys: Sequence[Any]) -> list[Any]:
        async with sessions() as session:
            rows = (await session.execute(sa.select(model).where(column.in_(keys)))).scalars().all()
        found = {getattr(row, column.key): row for row in rows}
        return [found.get(k) for k in keys]

    return Loader(load_fn=load, cache=cache)


def visible_by_id(
    sessions: Sessions, who: Principal, resource: Resource, model: Any, *, cache: bool = True
) -> DataLoader[uuid.UUID, Any]:
    """One row per id, or None when it does not exist or the caller may not read it (the same)."""
    allowed = where(who, resource, Action.READ, model.__table__)
    values = params(who)

    async def load(keys: Sequence[uuid.UUID]) -> list[Any]:
        statement = sa.select(model).where(model.id.in_(keys), allowed)
        async with sessions() as session:
            found = {row.id: row for row in (await session.execute(statement, values)).scalars()}
        return [found.get(k) for k in keys]

    return Loader(load_fn=load, cache=cache)


async def visible_row(ctx: Any, statement: Any, resource: Resource, table: Any) -> Any:
    """The row `statement` (a SELECT over `table`, narrowed to one object) finds, where the caller
    may read it; the one not-visible answer otherwise."""
    allowed = statement.where(where(ctx.principal, resource, Action.READ, table))
    async with ctx.sessions() as session:
        found = (await session.execute(allowed, params(ctx.principal))).first()
    if found is None:
        raise not_visible()
    return found


def grouped(
    sessions: Sessions,
    query: Callable[[Sequence[Any]], Any],
    key: Callable[[Any], Any],
    value: Callable[[Any], Any],
    *,
    values: dict[str, Any] | None = None,
) -> DataLoader[Any, list[Any]]:
    """Per key, the rows of one statement for all keys, in the statement's order. `values` are the
    statement's parameters (the caller's `auth.policy.params` when it holds a policy condition)."""

    async def load(keys: Sequence[Any]) -> list[list[Any]]:
        async with sessions() as session:
            rows = (await session.execute(query(keys), values or {})).all()
        groups: dict[Any, list[Any]] = defaultdict(list)
        for row in rows:
            groups[key(row)].append(value(row))
        return [groups.get(k, []) for k in keys]

    return Loader(load_fn=load)


def paged(
    sessions: Sessions,
    model: Any,
    parent: Any,
    order: Order,
    allowed: Any,
    values: dict[str, Any] | None = None,
    *,
    source: Any = None,
) -> DataLoader[PageKey, Page[Any]]:
    """Pages of children for many parents at once: one window-function query per page shape
    (`resolvers.pages.Window`). `allowed` filters the children; `values` are its parameters.
    `parent` is a column of the children's table, or of a table `source` joins them to (a group's
    members: registrations joined to the group's buildings)."""
    table = model.__table__
    source = table if source is None else source

    def counter(parent_id: uuid.UUID) -> Callable[[], Awaitable[int]]:
        async def total() -> int:
            counted = sa.select(sa.func.count()).select_from(source).where(parent == parent_id, allowed)
            async with sessions() as session:
                return int((await session.execute(counted, values or {})).scalar_one())

        return total

    async def load(keys: Sequence[PageKey]) -> list[Page[Any]]:
        shapes: dict[Window, list[uuid.UUID]] = defaultdict(list)
        for k in keys:
            shapes[k.window].append(k.parent_id)  # type: ignore[arg-type]
        pages: dict[PageKey, Page[Any]] = {}
        async with sessions() as session:
            for w, parents in shapes.items():
                sort = order.sort(table, backward=w.backward)
                rank = sa.func.row_number().over(partition_by=parent, order_by=sort).label("rank")
                inner = (
                    sa.select(model, parent.label("paged_parent"), rank)
                    .select_from(source)
                    .where(parent.in_(parents), allowed, *conditions(order, table, w))
                    .subquery()
                )
                row_alias = aliased(model, inner)
                statement = (
                    sa.select(row_alias, inner.c.paged_parent)
                    .where(inner.c.rank <= w.limit + 1)
                    .order_by(inner.c.paged_parent, inner.c.rank)
                )
                by_parent: dict[uuid.UUID, list[Any]] = defaultdict(list)
                for row, parent_id in (await session.execute(statement, values or {})).all():
                    by_parent[parent_id].append(row)
                for parent_id in parents:
                    pages[PageKey(parent_id, w)] = cut(
                        order, w, by_parent.get(parent_id, []), counter(parent_id)
                    )
        return [pages[k] for k in keys]

    return Loader(load_fn=load)


class Loaders:
    """The loaders of one request, each built on first use and cached by name."""

    def __init__(self, sessions: Sessions, principal: Principal) -> None:
        self.sessions = sessions
        self.principal = principal
        self._cache: dict[str, DataLoader[Any, Any]] = {}

    def cached(self, name: str, build: Callable[[], DataLoader[Any, Any]]) -> DataLoader[Any, Any]:
        loader = self._cache.get(name)
        if loader is None:
            loader = self._cache[name] = build()
        return loader

    def forget(self, name: str, key: Any) -> None:
        """Drop one key of a loader (after a write), whether or not the loader was built."""
        loader = self._cache.get(name)
        if loader is not None:
            loader.clear(key)
