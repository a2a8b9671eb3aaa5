"""Keyset pagination: page arguments, the SQL that fetches one page, and the page it yields.

Every order ends with the row id as a tiebreak, so equal sort keys never duplicate or drop a
row across pages. A page fetches one row more than asked: that row only says whether there is
another page.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Row
from sqlalchemy.sql import ColumnElement, Select

from resolvers.cursors import CursorKey, SortValue, decode_cursor, encode_cursor
from resolvers.errors import BadUserInputError

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Sort:
    """An order: the sort expression, the id that breaks ties, and the cursor tag."""

    tag: str
    key: ColumnElement[Any]
    id: ColumnElement[int]
    value_type: type[SortValue]
    descending: bool


@dataclass(frozen=True, slots=True)
class PageRequest:
    """Validated page arguments. Hashable: loaders group nested pages by it."""

    limit: int
    after: CursorKey | None = None
    before: CursorKey | None = None
    backwards: bool = False


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    items: list[T]
    keys: list[CursorKey]
    tag: str
    has_next_page: bool
    has_previous_page: bool

    def cursor(self, index: int) -> str:
        return encode_cursor(self.tag, self.keys[index])


def page_request(
    *,
    sort: Sort,
    first: int | None,
    after: str | None,
    last: int | None,
    before: str | None,
    default_size: int,
    max_size: int,
) -> PageRequest:
    if first is not None and last is not None:
        raise BadUserInputError("Pass either first or last, not both.")
    for name, size in (("first", first), ("last", last)):
        if size is not None and not 0 <= size <= max_size:
            raise BadUserInputError(
                f"{name} must be between 0 and {max_size}.", argument=name, limit=max_size
            )
    after_key = decode_cursor(after, tag=sort.tag, value_type=sort.value_type) if after else None
    before_key = decode_cursor(before, tag=sort.tag, value_type=sort.value_type) if before else None
    if last is not None:
        return PageRequest(limit=last, after=after_key, before=before_key, backwards=True)
    limit = default_size if first is None else first
    return PageRequest(limit=limit, after=after_key, before=before_key)


def _order_by(sort: Sort, *, backwards: bool) -> list[ColumnElement[Any]]:
    descending = sort.descending != backwards
    if descending:
        return [sort.key.desc(), sort.id.desc()]
    return [sort.key.asc(), sort.id.asc()]


def _beyond(sort: Sort, name: str, *, later: bool) -> ColumnElement[bool]:
    """Rows strictly after (later=True) or before the cursor in the sort's own direction."""
    row = sa.tuple_(sort.key, sort.id)
    bound = sa.tuple_(
        sa.bindparam(f"{name}_value", type_=sort.key.type),
        sa.bindparam(f"{name}_id", type_=sa.Integer()),
    )
    return row < bound if sort.descending == later else row > bound


def keyset_conditions(sort: Sort, request: PageRequest) -> list[ColumnElement[bool]]:
    conditions = []
    if request.after is not None:
        conditions.append(_beyond(sort, "after", later=True))
    if request.before is not None:
        conditions.append(_beyond(sort, "before", later=False))
    return conditions


def page_parameters(request: PageRequest) -> dict[str, Any]:
    """The values of a page statement's parameters: its statements depend only on the page's
    shape (which cursors, which direction), so one compiled statement serves every page."""
    parameters: dict[str, Any] = {"page_rows": request.limit + 1}
    if request.after is not None:
        parameters["after_value"], parameters["after_id"] = request.after
    if request.before is not None:
        parameters["before_value"], parameters["before_id"] = request.before
    return parameters


def page_shape(request: PageRequest) -> PageRequest:
    """A representative of the requests that share one statement (same cursors present, same
    direction), to key statement caches by."""
    return PageRequest(
        limit=0,
        after=(0, 0) if request.after is not None else None,
        before=(0, 0) if request.before is not None else None,
        backwards=request.backwards,
    )


def paginate(statement: Select[Any], *, sort: Sort, request: PageRequest) -> Select[Any]:
    """One page of a single list: keyset WHERE, ORDER BY, LIMIT n + 1."""
    return (
        statement.add_columns(sort.key.label("sort_key"))
        .where(*keyset_conditions(sort, request))
        .order_by(*_order_by(sort, backwards=request.backwards))
        .limit(sa.bindparam("page_rows", type_=sa.Integer()))
    )


def paginate_per_parent(
    statement: Select[Any],
    *,
    parent: ColumnElement[int],
    sort: Sort,
    request: PageRequest,
) -> Select[Any]:
    """One page for each parent in one statement: ROW_NUMBER() OVER (PARTITION BY parent)."""
    position = sa.func.row_number().over(
        partition_by=parent, order_by=_order_by(sort, backwards=request.backwards)
    )
    ranked = (
        statement.add_columns(
            parent.label("parent_id_"), sort.key.label("sort_key"), position.label("position_")
        )
        .where(*keyset_conditions(sort, request))
        .subquery("ranked")
    )
    return (
        sa.select(ranked)
        .where(ranked.c.position_ <= sa.bindparam("page_rows", type_=sa.Integer()))
        .order_by(ranked.c.parent_id_, ranked.c.position_)
    )


def to_page(
    rows: Sequence[Row[Any]], *, sort: Sort, request: PageRequest, items: list[T]
) -> Page[T]:
    """Turn the fetched rows (and their mapped items) into a page, in the sort's order."""
    has_more = len(rows) > request.limit
    keys = [(row.sort_key, row.id) for row in rows[: request.limit]]
    items = items[: request.limit]
    if request.backwards:
        keys.reverse()
        items.reverse()
        return Page(items, keys, sort.tag, request.before is not None, has_more)
    return Page(items, keys, sort.tag, has_more, request.after is not None)
