"""Relay plumbing: the `Node` interface, generic connections (`first` ≤ 100), and the registry that
`node(id:)` resolves through.

Each domain slice of the schema lists its node types in a module-level `NODES` mapping (type name →
how to fetch one by id as the caller may see it); `schema` collects them, so adding a domain edits
no shared list.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Mapping
from typing import Generic, TypeVar

import strawberry

from resolvers.context import Context
from resolvers.pages import Page

N = TypeVar("N")
R = TypeVar("R")


@strawberry.interface(description="任何可以用全局编号 `node(id:)` 取回的对象。")
class Node:
    id: strawberry.ID = strawberry.field(description="全局编号（不透明字符串），可用于 `node(id:)`。")


#: How one slice fetches one of its nodes by id: the object as the caller may see it, or the single
#: not-visible error.
NodeResolver = Callable[[Context, uuid.UUID], Awaitable[Node]]
Nodes = Mapping[str, NodeResolver]


def node(convert: Callable[[R], Node], fetch: Callable[[Context, uuid.UUID], Awaitable[R]]) -> NodeResolver:
    """A `NodeResolver` from a resolver that fetches a row and the type that shows it."""

    async def resolve(ctx: Context, ident: uuid.UUID) -> Node:
        return convert(await fetch(ctx, ident))

    return resolve


@strawberry.type(description="分页信息。")
class PageInfo:
    has_next_page: bool = strawberry.field(description="后面是否还有。")
    has_previous_page: bool = strawberry.field(description="前面是否还有。")
    start_cursor: str | None = strawberry.field(description="本页第一条的游标。")
    end_cursor: str | None = strawberry.field(description="本页最后一条的游标；传给 `after` 取下一页。")


@strawberry.type(description="列表中的一条。")
class Edge(Generic[N]):
    cursor: str = strawberry.field(description="这一条的游标。")
    node: N = strawberry.field(description="这一条本身。")


@strawberry.type(
    description="分页列表（Relay 连接）：用 `first` 和 `after` 向后翻页（时间线还可用 `last` 和 `before` "
    "向前翻），每页最多 100 条；游标指向某一条本身，翻页期间新增或删除的条目不会使其他条目重复或遗漏。"
)
class Connection(Generic[N]):
    edges: list[Edge[N]] = strawberry.field(description="本页各条。")
    page_info: PageInfo = strawberry.field(description="分页信息。")
    _total: strawberry.Private[Callable[[], Awaitable[int]] | None] = None

    @strawberry.field(description="符合条件、您有权查看的总条数（只在请求时计算）。")
    async def total_count(self) -> int:
        assert self._total is not None, "every page of a connection knows how to count its list"
        return await self._total()

    @classmethod
    def from_page(cls, page: Page[R], convert: Callable[[R], N]) -> Connection[N]:
        edges = [Edge(cursor=c, node=convert(row)) for row, c in zip(page.rows, page.cursors, strict=True)]
        return cls(
            edges=edges,
            page_info=PageInfo(
                has_next_page=page.has_next,
                has_previous_page=page.has_previous,
                start_cursor=edges[0].cursor if edges else None,
                end_cursor=edges[-1].cursor if edges else None,
            ),
            _total=page.total,
        )
