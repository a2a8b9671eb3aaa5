"""Connection pages for compiled reads: the rows of one page (and one more), ranked, and the
members a connection selects from them (nodes, edges, pageInfo, totalCount) as JSON text.

A page is a correlated subquery: fetch `size + 1` rows in the query's order (keyset
conditions from the cursors), rank them, and aggregate the kept ones in the forward order; the
extra row only tells whether there is another page, as in resolvers/pagination.py. A forward
page that selects no pageInfo (the common `comments(first: 10) { nodes { ... } }`) needs
neither: it fetches `size` rows and aggregates them as they come, without window functions,
which made up most of the database's work for a nested page.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.sql import ColumnElement, FromClause, Select

from resolvers.json_sql import JsonSql, sql_string
from resolvers.pagination import Sort
from resolvers.read_shapes import NotCovered, PageArguments, Selection
from resolvers.relations import adapted


class ObjectBuilder(Protocol):
    json: JsonSql
    sqlite: bool

    def object(
        self, type_name: str, columns: Any, selections: Sequence[Selection]
    ) -> ColumnElement[str]: ...


@dataclass(frozen=True, slots=True)
class Rows:
    """Where a connection's rows come from: an aliased table, its conditions, its order."""

    alias: FromClause
    conditions: tuple[ColumnElement[bool], ...]
    sort: Sort
    node_type: str
    joined: FromClause | None = None  # the FROM when it joins more than `alias`
    joined_tables: tuple[FromClause, ...] = ()
    split: "Split | None" = None

    def select_from(self, statement: Select[Any]) -> Select[Any]:
        return statement.select_from(self.joined if self.joined is not None else self.alias)

    def own_tables(self) -> tuple[FromClause, ...]:
        """What a page or count reads itself; every other table it names is correlated."""
        return (self.alias, *self.joined_tables)


@dataclass(frozen=True, slots=True)
class Split:
    """A signed-in reader's posts by publication time, as two branches that each use an
    index: the published posts (sorted by published_at, which is the sort key for them) and
    the viewer's own other posts."""

    common: tuple[ColumnElement[bool], ...]  # every condition but visibility
    published: ColumnElement[bool]
    own: ColumnElement[bool]
    published_key: ColumnElement[Any]


def adapted_sort(sort: Sort, alias: FromClause) -> Sort:
    return Sort(
        sort.tag,
        adapted(sort.key, alias),
        adapted(sort.id, alias),
        sort.value_type,
        sort.descending,
    )


class ConnectionPage:
    """One page of a connection: the rows fetched (size + 1), ranked in the query's order,
    and the members built from them (nodes, edges, pageInfo, totalCount)."""

    def __init__(
        self,
        builder: ObjectBuilder,
        source: Callable[[], Rows],
        arguments: PageArguments,
        selections: Sequence[Selection],
    ) -> None:
        self.builder, self.source, self.arguments = builder, source, arguments
        self.rows = source()
        self.json = builder.json
        self._ranked: FromClause | None = None
        # Without pageInfo nothing needs the extra row or the rank; backwards pages are
        # fetched in reverse, and SQLite aggregates in the order rows come (no ORDER BY in
        # its aggregates), so they keep the ranked form.
        self.plain = not arguments.backwards and all(
            each.field != "pageInfo" for each in selections
        )

    @property
    def ranked(self) -> FromClause | None:
        return self._ranked

    def member(self, selection: Selection) -> ColumnElement[str]:
        node_type = self.rows.node_type
        if selection.field == "__typename":
            return sql_string(f'"{node_type}Connection"')
        if selection.field == "totalCount":
            return self.json.integer(self._total_count())
        ranked = self._rank()
        if selection.field == "nodes":
            element = self.builder.object(node_type, ranked.c, selection.selections)
            return self._array(element)
        if selection.field == "edges":
            return self._array(self._edge(selection.selections))
        if selection.field == "pageInfo":
            return self._page_info(selection.selections)
        raise NotCovered(f"{node_type}Connection.{selection.field}")

    def _total_count(self) -> Any:
        rows = self.source()
        counted = rows.select_from(sa.select(sa.func.count())).where(*rows.conditions)
        return counted.correlate_except(*rows.own_tables()).scalar_subquery()

    def _query_order(self, key: ColumnElement[Any], row_id: ColumnElement[Any]) -> list[Any]:
        descending = self.rows.sort.descending != self.arguments.backwards
        if descending:
            return [key.desc(), row_id.desc()]
        return [key.asc(), row_id.asc()]

    def _forward_order(self) -> list[Any]:
        ranked = self._rank()
        key, row_id = ranked.c.sort_key_, ranked.c.id
        if self.rows.sort.descending:
            return [key.desc(), row_id.desc()]
        return [key.asc(), row_id.asc()]

    def _rank(self) -> FromClause:
        if self._ranked is not None:
            return self._ranked
        rows, sort = self.rows, self.rows.sort
        fetched: FromClause
        if rows.split is None:
            fetched = self._fetch(rows.conditions, sort.key).subquery()
        else:
            fetched = self._fetch_split(rows.split)
        if self.plain:
            self._ranked = fetched
            return fetched
        query_order = self._query_order(fetched.c.sort_key_, fetched.c.id)
        ranked = sa.select(
            fetched,
            sa.func.row_number().over(order_by=query_order).label("rn_"),
            sa.func.count().over().label("fetched_"),
        )
        if self.builder.sqlite:
            descending = sort.descending
            key, row_id = fetched.c.sort_key_, fetched.c.id
            ranked = ranked.order_by(
                *([key.desc(), row_id.desc()] if descending else [key.asc(), row_id.asc()])
            )
        self._ranked = ranked.subquery()
        return self._ranked

    def _fetch(
        self, conditions: Sequence[ColumnElement[bool]], key: ColumnElement[Any]
    ) -> Select[Any]:
        """The page's rows and one more, in the query's order: `key` is the sort key as the
        conditions let an index serve it."""
        rows, sort = self.rows, self.rows.sort
        return (
            rows.select_from(sa.select(*rows.alias.c, key.label("sort_key_")))
            .where(*conditions, *self._keyset(key))
            .order_by(*self._query_order(key, sort.id))
            .limit(self._limit())
            .correlate_except(*rows.own_tables())
        )

    def _limit(self) -> ColumnElement[int]:
        """The page's rows, and for a ranked page one more (it tells hasNextPage)."""
        name = self.arguments.size if self.plain else self.arguments.rows
        return sa.bindparam(name, type_=sa.Integer())

    def _fetch_split(self, split: "Split") -> FromClause:
        """Published posts by the (status, published_at, id) index and the viewer's other
        posts by the author index, merged: "published or mine" in one OR defeats both."""
        published = self._fetch([*split.common, split.published], split.published_key)
        own = self._fetch([*split.common, split.own], self.rows.sort.key)
        merged = sa.union_all(sa.select(published.subquery()), sa.select(own.subquery())).subquery()
        return (
            sa.select(merged)
            .order_by(*self._query_order(merged.c.sort_key_, merged.c.id))
            .limit(self._limit())
            .subquery()
        )

    def _keyset(self, key: ColumnElement[Any]) -> list[ColumnElement[bool]]:
        sort, conditions = self.rows.sort, []
        for names, later in ((self.arguments.after, True), (self.arguments.before, False)):
            if names is None:
                continue
            value_name, id_name = names
            row = sa.tuple_(key, sort.id)
            bound = sa.tuple_(
                sa.bindparam(value_name, type_=sort.key.type),
                sa.bindparam(id_name, type_=sa.Integer()),
            )
            conditions.append(row < bound if sort.descending == later else row > bound)
        return conditions

    def _kept(self) -> ColumnElement[bool]:
        ranked = self._rank()
        return ranked.c.rn_ <= sa.bindparam(self.arguments.size, type_=sa.Integer())

    def _array(self, element: ColumnElement[str]) -> ColumnElement[str]:
        kept = None if self.plain else self._kept()
        return self.json.array(element, order_by=self._forward_order(), where=kept)

    def _cursor(self) -> ColumnElement[str]:
        ranked, sort = self._rank(), self.rows.sort
        if sort.value_type is datetime:
            value = self.json.datetime(ranked.c.sort_key_)
        elif sort.value_type is int:
            value = self.json.integer(ranked.c.sort_key_)
        elif sort.value_type is float:
            value = self.json.python_float(ranked.c.sort_key_)
        else:
            value = self.json.ascii_string(ranked.c.sort_key_)
        payload = self.json.concat([f'["{sort.tag}",', value, ",", ranked.c.id, "]"])
        return self.json.cursor(payload)

    def _edge(self, selections: Sequence[Selection]) -> ColumnElement[str]:
        node_type, members = self.rows.node_type, []
        for each in selections:
            if each.field == "cursor":
                members.append((each.key, self._cursor()))
            elif each.field == "node":
                ranked = self._rank()
                members.append(
                    (each.key, self.builder.object(node_type, ranked.c, each.selections))
                )
            elif each.field == "__typename":
                members.append((each.key, sql_string(f'"{node_type}Edge"')))
            else:
                raise NotCovered(f"{node_type}Edge.{each.field}")
        return self.json.obj(members)

    def _page_info(self, selections: Sequence[Selection]) -> ColumnElement[str]:
        return self.json.obj([(each.key, self._page_info_field(each.field)) for each in selections])

    def _page_info_field(self, field: str) -> ColumnElement[str]:
        arguments, ranked = self.arguments, self._rank()
        size = sa.bindparam(arguments.size, type_=sa.Integer())
        more = sa.func.coalesce(sa.func.max(ranked.c.fetched_), 0) > size
        # The last kept row, in the query's order: fewer rows than asked, or the page size.
        last_kept = sa.case((ranked.c.fetched_ > size, size), else_=ranked.c.fetched_)
        first_in_query, last_in_query = ranked.c.rn_ == 1, ranked.c.rn_ == last_kept
        if field == "__typename":
            return sql_string('"PageInfo"')
        if field == "hasNextPage":
            if arguments.backwards:
                return sql_string("true" if arguments.before is not None else "false")
            return self.json.boolean(more)
        if field == "hasPreviousPage":
            if arguments.backwards:
                return self.json.boolean(more)
            return sql_string("true" if arguments.after is not None else "false")
        if field in ("startCursor", "endCursor"):
            start = field == "startCursor"
            at = (last_in_query if start else first_in_query) if arguments.backwards else None
            if at is None:
                at = first_in_query if start else last_in_query
            picked = sa.func.max(sa.case((sa.and_(at, self._kept()), self._cursor())))
            return self.json.or_null(picked)
        raise NotCovered(f"PageInfo.{field}")
