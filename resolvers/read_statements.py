"""Compiled reads: one SQL statement that builds a read's whole `data` object as JSON text.

A `Selection` tree (resolvers/read_shapes.py) becomes one SELECT whose single value is the
response's `data`: every object a concatenation of JSON members, every list or connection a
correlated subquery that aggregates its rows, every value from the request a bound parameter.
Relations come from the entries the loaders use too (resolvers/relations.py); the sort keys
and post criteria are the resolver path's own expressions (posts.py, comments.py), adapted to
the aliases used here, so a row hidden from a viewer there is hidden here alike.

Statements are built once per (dialect, role, selection tree) and kept in a bounded cache;
the viewer's id is the `viewer_id` parameter, never part of the statement.
"""

from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.sql import ColumnElement, Select

from models.tables import posts_table, tags_table, users_table
from resolvers import relations, tags
from resolvers.json_sql import JsonSql, sql_string
from resolvers.read_pages import ConnectionPage, Rows
from resolvers.read_shapes import (
    POST_CONNECTION_KINDS,
    TYPE_FIELDS,
    Field,
    Kind,
    Lookup,
    NodeList,
    NodeLookup,
    NotCovered,
    PageArguments,
    Selection,
)
from resolvers.read_sources import RowSources
from resolvers.relations import Relation, adapted
from resolvers.visibility import ANONYMOUS, Viewer, viewer_id, visible_posts, visible_users

Columns = Any  # a FromClause's column collection (`alias.c`)


def statement_viewer(viewer: Viewer) -> Viewer:
    """The viewer a statement is built for: the role only (the id is bound at execution)."""
    if viewer.user_id is None:
        return ANONYMOUS
    return Viewer(user_id=0, role=viewer.role)


def any_account(viewer: Viewer) -> ColumnElement[bool]:
    """`user(id:)`: the planner only covers the ids its resolver lets the viewer read
    (schema/read_plan.py), and the resolver reads the account whatever its state."""
    return sa.true()


LOOKUPS: dict[str, tuple[sa.Table, str, Callable[[Viewer], ColumnElement[bool]]]] = {
    "post": (posts_table, "Post", visible_posts),
    "author": (users_table, "Author", visible_users),
    "tag": (tags_table, "Tag", tags.carried_by_visible_posts),
    "user": (users_table, "User", any_account),
}


class StatementBuilder:
    def __init__(self, *, dialect_name: str, viewer: Viewer) -> None:
        self.json = JsonSql(dialect_name)
        self.viewer = viewer
        self.sources = RowSources(viewer)
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
            return self._connection(lambda: self.sources.root_posts(arguments), selection)
        if selection.field == "authors":
            return self._connection(self.sources.authors, selection)
        if selection.field == "tags":
            return self._connection(self.sources.root_tags, selection)
        if selection.field == "search":
            return self._search(selection)
        if selection.field == "me":
            return self._me(selection.selections)
        if selection.field in LOOKUPS:
            return self._lookup(selection)
        if selection.field == "node" and isinstance(selection.arguments, NodeLookup):
            return self._node(selection.arguments)
        if selection.field == "nodes" and isinstance(selection.arguments, NodeList):
            return self._nodes(selection.arguments)
        raise NotCovered(selection.field)

    # Objects and their fields

    def object(
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
        if kind is Kind.STRING_LIST:
            return json.string_list(columns[field.column])
        if kind is Kind.CHANGED_FIELDS:
            return json.name_list(columns[field.column])
        if kind is Kind.NULLABLE_REVISION_ID:
            value = columns[field.column]
            return json.nullable(value, json.global_id("PostRevision", value))
        return self._relation(field, columns, selection)

    def _relation(self, field: Field, columns: Columns, selection: Selection) -> ColumnElement[str]:
        """A field that reads a relation's rows for the key in this row's `field.column`."""
        kind, relation = field.kind, field.relation
        if kind is Kind.REVISIONS:
            return self._revisions(columns, selection)
        if relation is None:
            raise NotCovered(kind.value)
        key = columns[field.column]
        if kind in (Kind.AUTHOR, Kind.POST, Kind.PARENT) and field.target is not None:
            return self._one(relation, field.target, key, selection.selections)
        if kind is Kind.TAGS:
            return self._tags(relation, key, selection.selections)
        if kind in (Kind.COMMENT_COUNT, Kind.POST_COUNT):
            return self.json.integer(self._count(relation, key))
        if kind in (Kind.COMMENTS, Kind.REPLIES):
            return self._connection(lambda: self.sources.comments(relation, key), selection)
        if kind in POST_CONNECTION_KINDS:
            arguments = selection.arguments
            assert isinstance(arguments, PageArguments)
            assert arguments.order is not None
            order = arguments.order
            return self._connection(
                lambda: self.sources.posts_of(relation, key, order=order), selection
            )
        raise NotCovered(kind.value)

    def _one(
        self,
        relation: Relation,
        type_name: str,
        key: ColumnElement[int],
        selections: Sequence[Selection],
    ) -> ColumnElement[str]:
        """The row a foreign key or a node's ID names, as the loaders see it; null when the
        viewer may not see it."""
        rows = relation.correlated(self.viewer, key)
        found = (
            sa.select(self.object(type_name, rows.rows.c, selections))
            .select_from(rows.source)
            .where(*rows.conditions)
            .correlate_except(*rows.own_tables)
        )
        return self.json.or_null(found.scalar_subquery())

    def _node(self, lookup: NodeLookup) -> ColumnElement[str]:
        row_id = sa.bindparam(lookup.parameter, type_=sa.Integer())
        relation = relations.NODES[lookup.type_name]
        return self._one(relation, lookup.type_name, row_id, lookup.selections)

    def _nodes(self, nodes: NodeList) -> ColumnElement[str]:
        parts: list[str | ColumnElement[str]] = ["["]
        for index, item in enumerate(nodes.items):
            parts.extend(["," if index else "", self._node(item)])
        parts.append("]")
        return self.json.concat(parts)

    def _tags(
        self, relation: Relation, post_id: ColumnElement[int], selections: Sequence[Selection]
    ) -> ColumnElement[str]:
        rows = relation.correlated(self.viewer, post_id)
        found = rows.rows
        order = (found.c.name, found.c.id)
        listed = (
            sa.select(self.object("Tag", found.c, selections).label("element"), *order)
            .select_from(rows.source)
            .where(*rows.conditions)
            .correlate_except(*rows.own_tables)
        )
        if self.sqlite:
            listed = listed.order_by(*order)
        tagged = listed.subquery()
        array = self.json.array(tagged.c.element, order_by=[tagged.c.name, tagged.c.id])
        return sa.select(array).scalar_subquery()

    def _count(self, relation: Relation, key: ColumnElement[int]) -> Any:
        rows = relation.correlated(self.viewer, key)
        counted = (
            sa.select(sa.func.count())
            .select_from(rows.source)
            .where(*rows.conditions)
            .correlate_except(*rows.own_tables)
        )
        return counted.scalar_subquery()

    def _lookup(self, selection: Selection) -> ColumnElement[str]:
        """`post(id:|slug:)`, `author(username:)`, `tag(slug:)`: one visible row or null."""
        if selection.arguments is None:  # an ID of another type: null, as the resolver answers
            return sql_string("null")
        lookup = selection.arguments
        assert isinstance(lookup, Lookup)
        table, type_name, visible = LOOKUPS[selection.field]
        found = table.alias()
        statement = sa.select(self.object(type_name, found.c, selection.selections)).where(
            found.c[lookup.column] == sa.bindparam(lookup.parameter),
            adapted(visible(self.viewer), found),
        )
        return self.json.or_null(statement.scalar_subquery())

    def _me(self, selections: Sequence[Selection]) -> ColumnElement[str]:
        """The viewer's own account while it is active (accounts.active_user); null for an
        anonymous caller."""
        if self.viewer.user_id is None:
            return sql_string("null")
        users = users_table.alias()
        statement = sa.select(self.object("User", users.c, selections)).where(
            users.c.id == viewer_id(self.viewer), users.c.is_active.is_(True)
        )
        return self.json.or_null(statement.scalar_subquery())

    def _revisions(self, columns: Columns, selection: Selection) -> ColumnElement[str]:
        """Post.revisions: null unless the viewer wrote the post or is an editor or admin
        (resolvers/revisions.py::may_read_revisions), decided per post row."""
        viewer = self.viewer
        if viewer.user_id is None:
            return sql_string("null")
        connection = self._connection(lambda: self.sources.revisions(columns.id), selection)
        if viewer.sees_everything:
            return connection
        may_read = columns.author_id == viewer_id(viewer)
        return sa.case((may_read, connection), else_=sql_string("null"))

    def _search(self, selection: Selection) -> ColumnElement[str]:
        arguments = selection.arguments
        assert isinstance(arguments, PageArguments)
        terms = arguments.search
        assert terms is not None
        return self._connection(lambda: self.sources.search(terms, sqlite=self.sqlite), selection)

    # Connections

    def _connection(self, source: Callable[[], Rows], selection: Selection) -> ColumnElement[str]:
        """`source` gives the rows with fresh aliases each time: one for the page, one for
        totalCount."""
        arguments = selection.arguments
        assert isinstance(arguments, PageArguments)
        page = ConnectionPage(self, source, arguments, selection.selections)
        members = [(each.key, page.member(each)) for each in selection.selections]
        statement = sa.select(self.json.obj(members))
        if page.ranked is not None:
            statement = statement.select_from(page.ranked)
        return statement.scalar_subquery()


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
