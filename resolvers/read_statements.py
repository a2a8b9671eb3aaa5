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
from typing import Any

import sqlalchemy as sa
from sqlalchemy.sql import ColumnElement, Select

from models.tables import (
    Role,
    comments_table,
    post_revisions_table,
    post_tags_table,
    posts_table,
    tags_table,
    users_table,
)
from resolvers import tags
from resolvers.json_sql import JsonSql, sql_string
from resolvers.read_pages import ConnectionPage, Rows, adapted
from resolvers.read_shapes import (
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
from resolvers.visibility import (
    ANONYMOUS,
    Viewer,
    viewer_id,
    visible_comments,
    visible_posts,
    visible_users,
)

Columns = Any  # a FromClause's column collection (`alias.c`)


def statement_viewer(viewer: Viewer) -> Viewer:
    """The viewer a statement is built for: the role only (the id is bound at execution)."""
    if viewer.user_id is None:
        return ANONYMOUS
    return Viewer(user_id=0, role=viewer.role)


def visible_accounts(viewer: Viewer) -> ColumnElement[bool]:
    """An account as a node (schema/accounts.py::User.resolve_nodes): for itself and for
    admins, deactivated or not; for anyone else it does not exist."""
    if viewer.role is Role.ADMIN:
        return sa.true()
    if viewer.user_id is None:
        return sa.false()
    return users_table.c.id == viewer_id(viewer)


def any_account(viewer: Viewer) -> ColumnElement[bool]:
    """`user(id:)`: the planner only covers the ids its resolver lets the viewer read
    (schema/read_plan.py), and the resolver reads the account whatever its state."""
    return sa.true()


def readable_revisions(viewer: Viewer) -> ColumnElement[bool]:
    """Revisions as resolvers/revisions.py::revisions_visible shows them (the viewer's own
    posts', every post's for editors and admins), with the viewer's id a parameter."""
    if viewer.sees_everything:
        return sa.true()
    if viewer.user_id is None:
        return sa.false()
    own = posts_table.alias()
    own_posts = sa.select(own.c.id).where(own.c.author_id == viewer_id(viewer))
    return post_revisions_table.c.post_id.in_(own_posts)


LOOKUPS: dict[str, tuple[sa.Table, str, Callable[[Viewer], ColumnElement[bool]]]] = {
    "post": (posts_table, "Post", visible_posts),
    "author": (users_table, "Author", visible_users),
    "tag": (tags_table, "Tag", tags.carried_by_visible_posts),
    "user": (users_table, "User", any_account),
}
BY_ID: dict[str, tuple[sa.Table, Callable[[Viewer], ColumnElement[bool]]]] = {
    "Post": (posts_table, visible_posts),
    "Author": (users_table, visible_users),
    "Comment": (comments_table, visible_comments),
    "Tag": (tags_table, tags.carried_by_visible_posts),
    "User": (users_table, visible_accounts),
    "PostRevision": (post_revisions_table, readable_revisions),
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
            return self._connection(
                lambda: self.sources.comments(columns.id, top_level=True), selection
            )
        if kind is Kind.REPLIES:
            return self._connection(
                lambda: self.sources.comments(columns.id, top_level=False), selection
            )
        if kind is Kind.REVISIONS:
            return self._revisions(columns, selection)
        if kind in (Kind.AUTHOR_POSTS, Kind.TAG_POSTS):
            arguments = selection.arguments
            assert isinstance(arguments, PageArguments)
            assert arguments.order is not None
            order, by_tag = arguments.order, kind is Kind.TAG_POSTS
            return self._connection(
                lambda: self.sources.posts_of(columns.id, order=order, by_tag=by_tag), selection
            )
        raise NotCovered(kind.value)

    def _author(
        self, author_id: ColumnElement[int], selections: Sequence[Selection]
    ) -> ColumnElement[str]:
        users = users_table.alias()
        found = (
            sa.select(self.object("Author", users.c, selections))
            .where(users.c.id == author_id, adapted(visible_users(self.viewer), users))
            .correlate_except(users)
        )
        return self.json.or_null(found.scalar_subquery())

    def _post(
        self, post_id: ColumnElement[int], selections: Sequence[Selection]
    ) -> ColumnElement[str]:
        return self._by_id("Post", post_id, selections)

    def _parent(
        self, parent_id: ColumnElement[int], selections: Sequence[Selection]
    ) -> ColumnElement[str]:
        return self._by_id("Comment", parent_id, selections)

    def _by_id(
        self, type_name: str, row_id: ColumnElement[int], selections: Sequence[Selection]
    ) -> ColumnElement[str]:
        """A node by id, as the loaders' `*_by_ids_statement`s see it; null when hidden."""
        table, visible = BY_ID[type_name]
        found, posted = table.alias(), posts_table.alias()
        conditions = [found.c.id == row_id, adapted(visible(self.viewer), found)]
        if type_name == "Comment":  # a visible comment on a visible post
            visible_post_ids = sa.select(posted.c.id).where(
                adapted(visible_posts(self.viewer), posted)
            )
            conditions.append(found.c.post_id.in_(visible_post_ids))
        statement = (
            sa.select(self.object(type_name, found.c, selections))
            .where(*conditions)
            .correlate_except(found, posted)
        )
        return self.json.or_null(statement.scalar_subquery())

    def _node(self, lookup: NodeLookup) -> ColumnElement[str]:
        row_id = sa.bindparam(lookup.parameter, type_=sa.Integer())
        return self._by_id(lookup.type_name, row_id, lookup.selections)

    def _nodes(self, nodes: NodeList) -> ColumnElement[str]:
        parts: list[str | ColumnElement[str]] = ["["]
        for index, item in enumerate(nodes.items):
            parts.extend(["," if index else "", self._node(item)])
        parts.append("]")
        return self.json.concat(parts)

    def _tags(
        self, post_id: ColumnElement[int], selections: Sequence[Selection]
    ) -> ColumnElement[str]:
        found, links = tags_table.alias(), post_tags_table.alias()
        order = (found.c.name, found.c.id)
        rows = (
            sa.select(self.object("Tag", found.c, selections).label("element"), *order)
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
            .where(found.c.post_id == post_id, adapted(visible_comments(self.viewer), found))
            .correlate_except(found)
            .scalar_subquery()
        )

    def _post_count(self, parent_column: str, parent_id: ColumnElement[int]) -> Any:
        found = posts_table.alias()
        visible = adapted(visible_posts(self.viewer), found)
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
