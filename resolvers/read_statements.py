"""Compiled reads: one SQL statement that builds a read's whole `data` object as JSON text.

A `Selection` tree (resolvers/read_shapes.py) becomes one SELECT whose single value is the
response's `data`: every object a concatenation of JSON members, every list or connection a
correlated subquery that aggregates its rows, every value from the request a bound parameter.
The visibility rules, sort keys and post criteria are the resolver path's own expressions
(resolvers/visibility.py, posts.py, comments.py), adapted to the aliases used here, so a row
hidden from a viewer there is hidden here alike.

Statements are built once per (dialect, role, selection tree) and kept in a bounded cache;
the viewer's id is the `viewer_id` parameter, never part of the statement.
"""

from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.sql import ColumnElement, FromClause, Select
from sqlalchemy.sql.util import ClauseAdapter

from models.tables import comments_table, post_tags_table, posts_table, tags_table, users_table
from resolvers import authors, comments, posts, tags
from resolvers.json_sql import JsonSql, sql_string
from resolvers.pagination import Sort
from resolvers.read_shapes import TYPE_FIELDS, Field, Kind, Lookup, PageArguments, Selection
from resolvers.visibility import (
    ANONYMOUS,
    Viewer,
    own_posts,
    published_posts,
    visible_comments,
    visible_posts,
    visible_users,
)


class NotCovered(Exception):
    """The planner does not build this read; the resolver path answers it."""


Columns = Any  # a FromClause's column collection (`alias.c`)


def statement_viewer(viewer: Viewer) -> Viewer:
    """The viewer a statement is built for: the role only (the id is bound at execution)."""
    if viewer.user_id is None:
        return ANONYMOUS
    return Viewer(user_id=0, role=viewer.role)


def _adapted(expression: ColumnElement[Any], alias: FromClause) -> ColumnElement[Any]:
    adapted: ColumnElement[Any] = ClauseAdapter(alias).traverse(expression)
    return adapted


@dataclass(frozen=True, slots=True)
class _Rows:
    """Where a connection's rows come from: an aliased table, its conditions, its order."""

    alias: FromClause
    conditions: tuple[ColumnElement[bool], ...]
    sort: Sort
    node_type: str
    joined: FromClause | None = None  # the FROM when it joins more than `alias`
    joined_tables: tuple[FromClause, ...] = ()
    split: "_Split | None" = None

    def select_from(self, statement: Select[Any]) -> Select[Any]:
        return statement.select_from(self.joined if self.joined is not None else self.alias)

    def own_tables(self) -> tuple[FromClause, ...]:
        """What a page or count reads itself; every other table it names is correlated."""
        return (self.alias, *self.joined_tables)


@dataclass(frozen=True, slots=True)
class _Split:
    """A signed-in reader's posts by publication time, as two branches that each use an
    index: the published posts (sorted by published_at, which is the sort key for them) and
    the viewer's own other posts."""

    common: tuple[ColumnElement[bool], ...]  # every condition but visibility
    published: ColumnElement[bool]
    own: ColumnElement[bool]
    published_key: ColumnElement[Any]


def _adapted_sort(sort: Sort, alias: FromClause) -> Sort:
    return Sort(
        sort.tag,
        _adapted(sort.key, alias),
        _adapted(sort.id, alias),
        sort.value_type,
        sort.descending,
    )


LOOKUPS: dict[str, tuple[sa.Table, str, Callable[[Viewer], ColumnElement[bool]]]] = {
    "post": (posts_table, "Post", visible_posts),
    "author": (users_table, "Author", visible_users),
    "tag": (tags_table, "Tag", tags.carried_by_visible_posts),
}


class StatementBuilder:
    def __init__(self, *, dialect_name: str, viewer: Viewer) -> None:
        self.json = JsonSql(dialect_name)
        self.viewer = viewer
        self.sqlite = dialect_name == "sqlite"

    def data(self, selections: Sequence[Selection]) -> Select[Any]:
        members = [(selection.key, self._root_field(selection)) for selection in selections]
        return sa.select(self.json.obj(members).label("data"))

    def _root_field(self, selection: Selection) -> ColumnElement[str]:
        if selection.field == "__typename":
            return sql_string('"Query"')
        if selection.field == "posts":
            assert isinstance(selection.arguments, PageArguments)
            arguments = selection.arguments
            return self._connection(lambda: self._root_posts(arguments), selection)
        if selection.field == "authors":
            return self._connection(self._authors, selection)
        if selection.field == "tags":
            return self._connection(self._root_tags, selection)
        if selection.field in ("post", "author", "tag"):
            return self._lookup(selection)
        raise NotCovered(selection.field)

    # Objects and their fields

    def _object(
        self, type_name: str, columns: Columns, selections: Sequence[Selection]
    ) -> ColumnElement[str]:
        return self.json.obj(
            [(each.key, self._field(type_name, columns, each)) for each in selections]
        )

    def _field(self, type_name: str, columns: Columns, selection: Selection) -> ColumnElement[str]:
        if selection.field == "__typename":
            return sql_string(f'"{type_name}"')
        field = TYPE_FIELDS[type_name].get(selection.field)
        if field is None:
            raise NotCovered(f"{type_name}.{selection.field}")
        return self._value(type_name, field, columns, selection)

    def _value(
        self, type_name: str, field: Field, columns: Columns, selection: Selection
    ) -> ColumnElement[str]:
        json, kind = self.json, field.kind
        if kind is Kind.GLOBAL_ID:
            return json.global_id(type_name, columns.id)
        if kind in (Kind.STRING, Kind.NULLABLE_STRING):
            return json.string(columns[field.column])
        if kind is Kind.INTEGER:
            return json.integer(columns[field.column])
        if kind is Kind.DATETIME:
            return json.datetime(columns[field.column])
        if kind is Kind.NULLABLE_DATETIME:
            value = columns[field.column]
            return json.nullable(value, json.datetime(value))
        return self._relation(field, columns, selection)

    def _relation(self, field: Field, columns: Columns, selection: Selection) -> ColumnElement[str]:
        kind = field.kind
        if kind is Kind.AUTHOR:
            return self._author(columns[field.column], selection.selections)
        if kind is Kind.POST:
            return self._post(columns[field.column], selection.selections)
        if kind is Kind.PARENT:
            return self._parent(columns[field.column], selection.selections)
        if kind is Kind.TAGS:
            return self._tags(columns.id, selection.selections)
        if kind is Kind.COMMENT_COUNT:
            return self.json.integer(self._comment_count(columns.id))
        if kind is Kind.POST_COUNT:
            return self.json.integer(self._post_count(field.column, columns.id))
        if kind is Kind.COMMENTS:
            return self._connection(lambda: self._comments(columns.id, top_level=True), selection)
        if kind is Kind.REPLIES:
            return self._connection(lambda: self._comments(columns.id, top_level=False), selection)
        if kind in (Kind.AUTHOR_POSTS, Kind.TAG_POSTS):
            arguments = selection.arguments
            assert isinstance(arguments, PageArguments)
            assert arguments.order is not None
            order, by_tag = arguments.order, kind is Kind.TAG_POSTS
            return self._connection(
                lambda: self._posts_of(columns.id, order=order, by_tag=by_tag), selection
            )
        raise NotCovered(kind.value)

    def _author(
        self, author_id: ColumnElement[int], selections: Sequence[Selection]
    ) -> ColumnElement[str]:
        users = users_table.alias()
        found = (
            sa.select(self._object("Author", users.c, selections))
            .where(users.c.id == author_id, _adapted(visible_users(self.viewer), users))
            .correlate_except(users)
        )
        return self.json.or_null(found.scalar_subquery())

    def _post(
        self, post_id: ColumnElement[int], selections: Sequence[Selection]
    ) -> ColumnElement[str]:
        found = posts_table.alias()
        statement = (
            sa.select(self._object("Post", found.c, selections))
            .where(found.c.id == post_id, _adapted(visible_posts(self.viewer), found))
            .correlate_except(found)
        )
        return self.json.or_null(statement.scalar_subquery())

    def _parent(
        self, parent_id: ColumnElement[int], selections: Sequence[Selection]
    ) -> ColumnElement[str]:
        """As comments_by_ids_statement: a visible comment on a visible post."""
        found, posted = comments_table.alias(), posts_table.alias()
        visible_post_ids = sa.select(posted.c.id).where(
            _adapted(visible_posts(self.viewer), posted)
        )
        statement = (
            sa.select(self._object("Comment", found.c, selections))
            .where(
                found.c.id == parent_id,
                _adapted(visible_comments(self.viewer), found),
                found.c.post_id.in_(visible_post_ids),
            )
            .correlate_except(found, posted)
        )
        return self.json.or_null(statement.scalar_subquery())

    def _tags(
        self, post_id: ColumnElement[int], selections: Sequence[Selection]
    ) -> ColumnElement[str]:
        found, links = tags_table.alias(), post_tags_table.alias()
        order = (found.c.name, found.c.id)
        rows = (
            sa.select(self._object("Tag", found.c, selections).label("element"), *order)
            .select_from(links.join(found, found.c.id == links.c.tag_id))
            .where(links.c.post_id == post_id)
            .correlate_except(found, links)
        )
        if self.sqlite:
            rows = rows.order_by(*order)
        listed = rows.subquery()
        array = self.json.array(listed.c.element, order_by=[listed.c.name, listed.c.id])
        return sa.select(array).scalar_subquery()

    def _comment_count(self, post_id: ColumnElement[int]) -> Any:
        found = comments_table.alias()
        return (
            sa.select(sa.func.count())
            .select_from(found)
            .where(found.c.post_id == post_id, _adapted(visible_comments(self.viewer), found))
            .correlate_except(found)
            .scalar_subquery()
        )

    def _post_count(self, parent_column: str, parent_id: ColumnElement[int]) -> Any:
        found = posts_table.alias()
        visible = _adapted(visible_posts(self.viewer), found)
        if parent_column == "author_id":
            counted = (
                sa.select(sa.func.count())
                .select_from(found)
                .where(found.c.author_id == parent_id, visible)
            )
            return counted.correlate_except(found).scalar_subquery()
        links = post_tags_table.alias()
        counted = (
            sa.select(sa.func.count())
            .select_from(links.join(found, found.c.id == links.c.post_id))
            .where(links.c.tag_id == parent_id, visible)
        )
        return counted.correlate_except(found, links).scalar_subquery()

    def _lookup(self, selection: Selection) -> ColumnElement[str]:
        """`post(id:|slug:)`, `author(username:)`, `tag(slug:)`: one visible row or null."""
        if selection.arguments is None:  # an ID of another type: null, as the resolver answers
            return sql_string("null")
        lookup = selection.arguments
        assert isinstance(lookup, Lookup)
        table, type_name, visible = LOOKUPS[selection.field]
        found = table.alias()
        statement = sa.select(self._object(type_name, found.c, selection.selections)).where(
            found.c[lookup.column] == sa.bindparam(lookup.parameter),
            _adapted(visible(self.viewer), found),
        )
        return self.json.or_null(statement.scalar_subquery())

    # Connections

    def _root_posts(self, arguments: PageArguments) -> _Rows:
        found = posts_table.alias()
        assert arguments.criteria is not None
        assert arguments.order is not None
        conditions = [
            _adapted(condition, found)
            for condition in posts.post_conditions(self.viewer, arguments.criteria)
        ]
        return _Rows(
            alias=found,
            conditions=tuple(conditions),
            sort=self._post_sort(arguments.order, found),
            node_type="Post",
            # post_conditions: visibility first, then the criteria.
            split=self._split(found, conditions[1:], arguments.order),
        )

    def _split(
        self, found: FromClause, common: Sequence[ColumnElement[bool]], order: tuple[str, bool]
    ) -> _Split | None:
        viewer = self.viewer
        if viewer.user_id is None or viewer.sees_everything:
            return None
        if order[0] != posts.PostOrderField.PUBLISHED_AT.value:
            return None
        published = _adapted(published_posts(), found)
        return _Split(
            common=tuple(common),
            published=published,
            own=sa.and_(_adapted(own_posts(viewer), found), published.is_not(sa.true())),
            published_key=found.c.published_at,
        )

    def _authors(self) -> _Rows:
        found = users_table.alias()
        conditions = authors.author_conditions(self.viewer)
        return _Rows(
            alias=found,
            conditions=tuple(_adapted(condition, found) for condition in conditions),
            sort=_adapted_sort(authors.AUTHOR_SORT, found),
            node_type="Author",
        )

    def _root_tags(self) -> _Rows:
        found = tags_table.alias()
        return _Rows(
            alias=found,
            conditions=(_adapted(tags.carried_by_visible_posts(self.viewer), found),),
            sort=_adapted_sort(tags.TAG_SORT, found),
            node_type="Tag",
        )

    def _posts_of(
        self, parent_id: ColumnElement[int], *, order: tuple[str, bool], by_tag: bool
    ) -> _Rows:
        """An author's posts, or a tag's (through post_tags): loaders.PageSource as SQL."""
        found = posts_table.alias()
        visible = _adapted(visible_posts(self.viewer), found)
        sort = self._post_sort(order, found)
        if not by_tag:
            parent = found.c.author_id == parent_id
            return _Rows(
                alias=found,
                conditions=(parent, visible),
                sort=sort,
                node_type="Post",
                split=self._split(found, [parent], order),
            )
        links = post_tags_table.alias()
        tagged = links.c.tag_id == parent_id
        return _Rows(
            alias=found,
            conditions=(tagged, visible),
            sort=sort,
            node_type="Post",
            joined=links.join(found, found.c.id == links.c.post_id),
            joined_tables=(links,),
            split=self._split(found, [tagged], order),
        )

    def _post_sort(self, order: tuple[str, bool], alias: FromClause) -> Sort:
        field, descending = order
        sort = posts.post_sort(
            self.viewer, field=posts.PostOrderField(field), descending=descending
        )
        return _adapted_sort(sort, alias)

    def _comments(self, parent_id: ColumnElement[int], *, top_level: bool) -> _Rows:
        found = comments_table.alias()
        visible = _adapted(visible_comments(self.viewer), found)
        conditions: tuple[ColumnElement[bool], ...]
        if top_level:
            conditions = (found.c.post_id == parent_id, found.c.parent_id.is_(None), visible)
        else:
            conditions = (found.c.parent_id == parent_id, visible)
        return _Rows(
            alias=found,
            conditions=conditions,
            sort=_adapted_sort(comments.COMMENT_SORT, found),
            node_type="Comment",
        )

    def _connection(self, source: Callable[[], _Rows], selection: Selection) -> ColumnElement[str]:
        """`source` gives the rows with fresh aliases each time: one for the page, one for
        totalCount."""
        arguments = selection.arguments
        assert isinstance(arguments, PageArguments)
        page = _Page(self, source, arguments)
        members = [(each.key, page.member(each)) for each in selection.selections]
        statement = sa.select(self.json.obj(members))
        if page.ranked is not None:
            statement = statement.select_from(page.ranked)
        return statement.scalar_subquery()


class _Page:
    """One page of a connection: the rows fetched (size + 1), ranked in the query's order,
    and the members built from them (nodes, edges, pageInfo, totalCount)."""

    def __init__(
        self, builder: StatementBuilder, source: Callable[[], _Rows], arguments: PageArguments
    ) -> None:
        self.builder, self.source, self.arguments = builder, source, arguments
        self.rows = source()
        self.json = builder.json
        self._ranked: FromClause | None = None

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
            element = self.builder._object(node_type, ranked.c, selection.selections)
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
            .limit(sa.bindparam(self.arguments.rows, type_=sa.Integer()))
            .correlate_except(*rows.own_tables())
        )

    def _fetch_split(self, split: "_Split") -> FromClause:
        """Published posts by the (status, published_at, id) index and the viewer's other
        posts by the author index, merged: "published or mine" in one OR defeats both."""
        published = self._fetch([*split.common, split.published], split.published_key)
        own = self._fetch([*split.common, split.own], self.rows.sort.key)
        merged = sa.union_all(sa.select(published.subquery()), sa.select(own.subquery())).subquery()
        return (
            sa.select(merged)
            .order_by(*self._query_order(merged.c.sort_key_, merged.c.id))
            .limit(sa.bindparam(self.arguments.rows, type_=sa.Integer()))
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
        return self.json.array(element, order_by=self._forward_order(), where=self._kept())

    def _cursor(self) -> ColumnElement[str]:
        ranked, sort = self._rank(), self.rows.sort
        if sort.value_type is datetime:
            value = self.json.datetime(ranked.c.sort_key_)
        elif sort.value_type is int:
            value = self.json.integer(ranked.c.sort_key_)
        else:
            # Python's json.dumps escapes non-ASCII text; the databases' JSON does not.
            raise NotCovered(f"cursors of the {sort.tag} order")
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
                    (each.key, self.builder._object(node_type, ranked.c, each.selections))
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


CacheKey = tuple[str, Viewer, tuple[Selection, ...]]


class StatementCache:
    """Built statements by (dialect, role, selections), least recently used dropped first;
    a tree the builder does not cover is remembered as None."""

    def __init__(self, max_entries: int) -> None:
        self.max_entries = max_entries
        self._statements: OrderedDict[CacheKey, Select[Any] | None] = OrderedDict()

    def statement(
        self, selections: tuple[Selection, ...], *, dialect_name: str, viewer: Viewer
    ) -> Select[Any] | None:
        key = (dialect_name, statement_viewer(viewer), selections)
        if key in self._statements:
            self._statements.move_to_end(key)
            return self._statements[key]
        try:
            builder = StatementBuilder(dialect_name=dialect_name, viewer=key[1])
            built: Select[Any] | None = builder.data(selections)
        except NotCovered:
            built = None
        self._statements[key] = built
        if len(self._statements) > self.max_entries:
            self._statements.popitem(last=False)
        return built

    def __len__(self) -> int:
        return len(self._statements)
