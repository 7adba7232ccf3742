"""Relay plumbing: the `Node` interface and generic connections (`first` ≤ 100, offset cursors)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

import strawberry

from resolvers.ids import encode_cursor
from resolvers.loaders import Page

N = TypeVar("N")
R = TypeVar("R")


@strawberry.interface(description="任何可以用全局编号 `node(id:)` 取回的对象。")
class Node:
    id: strawberry.ID


@strawberry.type
class PageInfo:
    has_next_page: bool
    has_previous_page: bool
    start_cursor: str | None
    end_cursor: str | None


@strawberry.type
class Edge(Generic[N]):
    cursor: str
    node: N


@strawberry.type
class Connection(Generic[N]):
    edges: list[Edge[N]]
    page_info: PageInfo

    @classmethod
    def from_page(cls, page: Page[R], convert: Callable[[R], N]) -> Connection[N]:
        edges = [
            Edge(cursor=encode_cursor(page.offset + i), node=convert(row)) for i, row in enumerate(page.rows)
        ]
        return cls(
            edges=edges,
            page_info=PageInfo(
                has_next_page=page.has_next,
                has_previous_page=page.offset > 0,
                start_cursor=edges[0].cursor if edges else None,
                end_cursor=edges[-1].cursor if edges else None,
            ),
        )
