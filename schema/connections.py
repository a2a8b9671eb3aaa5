"""Relay Cursor Connections: edges with cursors, nodes, pageInfo and an on-demand totalCount."""

from collections.abc import Awaitable, Callable
from typing import Any, Generic, TypeVar

import strawberry

from resolvers.pagination import Page

NodeType = TypeVar("NodeType")


@strawberry.type(description="Where a page sits in its connection (Relay Cursor Connections).")
class PageInfo:
    has_next_page: bool
    has_previous_page: bool
    start_cursor: str | None
    end_cursor: str | None


@strawberry.type
class Edge(Generic[NodeType]):
    cursor: str
    node: NodeType


@strawberry.type
class Connection(Generic[NodeType]):
    nodes: list[NodeType]
    page: strawberry.Private[Page[Any]]
    counter: strawberry.Private[Callable[[], Awaitable[int]]]

    @strawberry.field
    def page_info(self) -> PageInfo:
        # Built on demand: most nested connections are asked for nodes only, and every cursor
        # costs a JSON encoding.
        page, last = self.page, len(self.page.items) - 1
        return PageInfo(
            has_next_page=page.has_next_page,
            has_previous_page=page.has_previous_page,
            start_cursor=page.cursor(0) if last >= 0 else None,
            end_cursor=page.cursor(last) if last >= 0 else None,
        )

    @strawberry.field
    def edges(self) -> list[Edge[NodeType]]:
        cursor = self.page.cursor
        return [Edge(cursor=cursor(index), node=node) for index, node in enumerate(self.nodes)]

    @strawberry.field(description="All items across pages; counted only when selected.")
    async def total_count(self) -> int:
        return await self.counter()


def connection_from_page(
    page: Page[Any],
    *,
    to_node: Callable[[Any], NodeType],
    counter: Callable[[], Awaitable[int]],
) -> Connection[NodeType]:
    return Connection(
        nodes=[to_node(item) for item in page.items],
        page=page,
        counter=counter,
    )
