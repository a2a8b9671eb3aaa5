"""The read schema's relations, described once, as data, for both read paths.

A relation is the rows of one table that belong to a parent row: those whose `key` column (or
their link table's, for post_tags) holds the parent's value, that the viewer may see, and
that meet any further condition (a comment only while its post is visible; top-level comments
only). The visibility rules are resolvers/visibility.py's, so a row hidden on one path is
hidden on the other.

Each path derives its SQL from the same entry:
- the resolver path's loaders (resolvers/loaders.py) batch many parents into one statement,
  `key IN (:keys)` (`= ANY(:keys)` on PostgreSQL), with `Relation.batched`;
- a compiled read (resolvers/read_statements.py, read_sources.py) nests one correlated
  subquery per parent row, `key = <parent column>`, over fresh aliases, with
  `Relation.correlated`.

What the rows become (the loaders' columns, the compiled read's JSON), their order and their
pages stay with each path; which parent column holds the key is the field's
(resolvers/read_shapes.py::TYPE_FIELDS). A post's revisions are not described here: who may
read them is decided per post (the post's author), not per revision row.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.sql import ColumnElement, FromClause, Select
from sqlalchemy.sql.util import ClauseAdapter, find_tables

from models.tables import (
    Role,
    comments_table,
    post_revisions_table,
    post_tags_table,
    posts_table,
    tags_table,
    users_table,
)
from resolvers.keys import key_in
from resolvers.tags import carried_by_visible_posts
from resolvers.visibility import (
    Viewer,
    viewer_id,
    visible_comments,
    visible_post_lookup,
    visible_posts,
    visible_users,
)

Rule = Callable[[Viewer], ColumnElement[bool]]


def adapted(expression: ColumnElement[Any], alias: FromClause) -> ColumnElement[Any]:
    """An expression written against a table, rewritten for an alias of it."""
    result: ColumnElement[Any] = ClauseAdapter(alias).traverse(expression)
    return result


@dataclass(frozen=True, slots=True)
class Link:
    """A many-to-many relation's link table, and its column that names the rows."""

    table: sa.Table
    rows_column: str


@dataclass(frozen=True, slots=True)
class Correlated:
    """A relation's rows for one parent row, as a compiled read nests them: select from
    `source`, where `conditions`; correlate everything but `own_tables`."""

    rows: FromClause  # the rows' alias: their columns
    source: FromClause
    key: ColumnElement[bool]  # key = the parent's value
    visible: ColumnElement[bool] | None
    where: tuple[ColumnElement[bool], ...]
    own_tables: tuple[FromClause, ...]

    @property
    def conditions(self) -> tuple[ColumnElement[bool], ...]:
        visible = () if self.visible is None else (self.visible,)
        return (self.key, *visible, *self.where)


@dataclass(frozen=True, slots=True)
class Relation:
    """Rows of `table` whose `key` (a column of `link.table` when there is a link) matches a
    parent's value, visible to the viewer by `visible`, meeting every rule of `where`. Rules
    are written against the tables themselves; each path adapts them."""

    table: sa.Table
    key: str
    visible: Rule | None
    link: Link | None = None
    where: tuple[Rule, ...] = ()

    def key_column(self) -> ColumnElement[Any]:
        keyed = self.link.table if self.link is not None else self.table
        return keyed.c[self.key]

    def source(self) -> FromClause:
        """The rows' table, joined to the link table when the key lives there."""
        link = self.link.table if self.link is not None else None
        return self._joined(self.table, link)

    def conditions(self, viewer: Viewer) -> list[ColumnElement[bool]]:
        """Every condition but the key's, against the tables themselves."""
        rules = (self.visible, *self.where) if self.visible is not None else self.where
        return [rule(viewer) for rule in rules]

    def batched(self, statement: Select[Any], viewer: Viewer, *, as_array: bool) -> Select[Any]:
        """`statement` (its columns over `source()`) narrowed to a batch of parents' rows."""
        key = key_in(self.key_column(), as_array=as_array)
        return statement.where(key, *self.conditions(viewer))

    def batched_counts(self, viewer: Viewer, *, as_array: bool) -> Select[Any]:
        """(parent value, number of rows) for a batch of parents; parents without rows are
        missing."""
        key = self.key_column()
        counted = sa.select(key, sa.func.count()).select_from(self.source())
        return self.batched(counted, viewer, as_array=as_array).group_by(key)

    def correlated(self, viewer: Viewer, parent: ColumnElement[Any]) -> Correlated:
        """The rows of the parent whose value is `parent` (a column of an enclosing alias, or
        a parameter), over fresh aliases so that nested relations never collide."""
        rows = self.table.alias()
        link = self.link.table.alias() if self.link is not None else None
        keyed = link if link is not None else rows
        return Correlated(
            rows=rows,
            source=self._joined(rows, link),
            key=keyed.c[self.key] == parent,
            visible=None if self.visible is None else adapted(self.visible(viewer), rows),
            where=tuple(_apart(rule(viewer), self.table, rows) for rule in self.where),
            own_tables=(rows,) if link is None else (rows, link),
        )

    def _joined(self, rows: FromClause, link: FromClause | None) -> FromClause:
        """`rows` (the table or an alias), joined to `link` (the link table or an alias)."""
        if self.link is None or link is None:
            return rows
        return link.join(rows, rows.c.id == link.c[self.link.rows_column])


def _apart(condition: ColumnElement[bool], table: sa.Table, rows: FromClause) -> Any:
    """`condition` for the rows' alias; any other table it reads (a comment's post) gets an
    alias of its own, so that it never correlates with an enclosing row of that table."""
    for other in find_tables(condition, check_columns=True):
        if other is not table:
            condition = adapted(condition, other.alias())
    return adapted(condition, rows)


def top_level(viewer: Viewer) -> ColumnElement[bool]:
    """A post's comments are its top-level ones; replies are reached through their parent."""
    return comments_table.c.parent_id.is_(None)


def on_visible_post(viewer: Viewer) -> ColumnElement[bool]:
    """A comment looked up directly also needs its post visible, so that a comment on a
    hidden post stays hidden."""
    visible_post_ids = sa.select(posts_table.c.id).where(visible_posts(viewer))
    return comments_table.c.post_id.in_(visible_post_ids)


def visible_accounts(viewer: Viewer) -> ColumnElement[bool]:
    """An account as a node (schema/accounts.py::User.resolve_nodes): for itself and for
    admins, deactivated or not; for anyone else it does not exist."""
    if viewer.role is Role.ADMIN:
        return sa.true()
    if viewer.user_id is None:
        return sa.false()
    return users_table.c.id == viewer_id(viewer)


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


_POST_TAGS_TO_TAGS = Link(post_tags_table, "tag_id")
_POST_TAGS_TO_POSTS = Link(post_tags_table, "post_id")

# One row by id: the parent's foreign key (a post's or comment's author, a comment's post or
# parent), or a node's id. Inactive authors are null, as the lookup would answer.
AUTHOR = Relation(users_table, "id", visible_users)
POST = Relation(posts_table, "id", visible_post_lookup)
COMMENT = Relation(comments_table, "id", visible_comments, where=(on_visible_post,))
TAG = Relation(tags_table, "id", carried_by_visible_posts)
# Nodes only the compiled read looks up here (the resolver path: schema/accounts.py,
# resolvers/revisions.py::revisions_by_ids).
USER = Relation(users_table, "id", visible_accounts)
REVISION = Relation(post_revisions_table, "id", readable_revisions)
NODES = {
    "Post": POST,
    "Author": AUTHOR,
    "Comment": COMMENT,
    "Tag": TAG,
    "User": USER,
    "PostRevision": REVISION,
}

# Rows of a parent, listed or counted. A tag on a post the viewer sees is shown with it.
POST_TAGS = Relation(tags_table, "post_id", None, link=_POST_TAGS_TO_TAGS)
POST_COMMENTS = Relation(comments_table, "post_id", visible_comments)  # replies included
TOP_LEVEL_COMMENTS = Relation(comments_table, "post_id", visible_comments, where=(top_level,))
REPLIES = Relation(comments_table, "parent_id", visible_comments)
AUTHOR_POSTS = Relation(posts_table, "author_id", visible_posts)
TAG_POSTS = Relation(posts_table, "tag_id", visible_posts, link=_POST_TAGS_TO_POSTS)
