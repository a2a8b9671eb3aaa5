"""Where a compiled read's lists come from: each connection's table (aliased), conditions and
order, from the resolver path's own expressions (visibility.py, posts.py, comments.py,
authors.py, tags.py) adapted to the alias, so that both paths choose the same rows. Nested
connections are relations (resolvers/relations.py), as the loaders' pages are.
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.sql import ColumnElement, FromClause

from models.tables import post_revisions_table, posts_table, tags_table, users_table
from resolvers import authors, comments, posts, revisions, tags
from resolvers.pagination import Sort
from resolvers.read_pages import Rows, Split, adapted_sort
from resolvers.read_shapes import PageArguments, SearchTerms
from resolvers.relations import Correlated, Relation, adapted
from resolvers.visibility import Viewer, own_posts, published_posts, visible_posts


class RowSources:
    """The row sources of one statement's viewer (a role: the id is a parameter)."""

    def __init__(self, viewer: Viewer) -> None:
        self.viewer = viewer

    def root_posts(self, arguments: PageArguments) -> Rows:
        found = posts_table.alias()
        assert arguments.criteria is not None
        assert arguments.order is not None
        conditions = [
            adapted(condition, found)
            for condition in posts.post_conditions(self.viewer, arguments.criteria)
        ]
        return Rows(
            alias=found,
            conditions=tuple(conditions),
            sort=self._post_sort(arguments.order, found),
            node_type="Post",
            # post_conditions: visibility first, then the criteria.
            split=self._split(found, conditions[1:], arguments.order),
        )

    def _split(
        self, found: FromClause, common: Sequence[ColumnElement[bool]], order: tuple[str, bool]
    ) -> Split | None:
        viewer = self.viewer
        if viewer.user_id is None or viewer.sees_everything:
            return None
        if order[0] != posts.PostOrderField.PUBLISHED_AT.value:
            return None
        published = adapted(published_posts(), found)
        return Split(
            common=tuple(common),
            published=published,
            own=sa.and_(adapted(own_posts(viewer), found), published.is_not(sa.true())),
            published_key=found.c.published_at,
        )

    def authors(self) -> Rows:
        found = users_table.alias()
        conditions = authors.author_conditions(self.viewer)
        return Rows(
            alias=found,
            conditions=tuple(adapted(condition, found) for condition in conditions),
            sort=adapted_sort(authors.AUTHOR_SORT, found),
            node_type="Author",
        )

    def root_tags(self) -> Rows:
        found = tags_table.alias()
        return Rows(
            alias=found,
            conditions=(adapted(tags.carried_by_visible_posts(self.viewer), found),),
            sort=adapted_sort(tags.TAG_SORT, found),
            node_type="Tag",
        )

    def posts_of(
        self, relation: Relation, parent_id: ColumnElement[int], *, order: tuple[str, bool]
    ) -> Rows:
        """An author's posts, or a tag's: the loaders' post pages as SQL."""
        rows = relation.correlated(self.viewer, parent_id)
        found = rows.rows
        split = self._split(found, [rows.key, *rows.where], order)
        return _related(rows, self._post_sort(order, found), "Post", split)

    def _post_sort(self, order: tuple[str, bool], alias: FromClause) -> Sort:
        field, descending = order
        sort = posts.post_sort(
            self.viewer, field=posts.PostOrderField(field), descending=descending
        )
        return adapted_sort(sort, alias)

    def search(self, terms: SearchTerms, *, sqlite: bool) -> Rows:
        """`search`'s matches, best first (resolvers/posts.py::search_sort and search_posts):
        SQLite's FTS5 table with bm25, PostgreSQL's tsvector column with ts_rank_cd."""
        found = posts_table.alias()
        visible = adapted(visible_posts(self.viewer), found)
        if sqlite:
            fts = sa.table("posts_fts", sa.column("rowid"))
            index: ColumnElement[Any] = sa.literal_column("posts_fts")
            # bm25 is lower for better matches; negated as search_sort does.
            rank: ColumnElement[Any] = -sa.func.bm25(index, 10.0, 1.0)
            return Rows(
                alias=found,
                conditions=(index.op("MATCH")(sa.bindparam(terms.match)), visible),
                sort=Sort("rank", rank, found.c.id, float, True),
                node_type="Post",
                joined=found.join(fts, fts.c.rowid == found.c.id),
                joined_tables=(fts,),
            )
        vector: ColumnElement[Any] = sa.column("search_vector", _selectable=found)
        tsquery = sa.func.websearch_to_tsquery(
            sa.literal_column("'english'::regconfig"),
            sa.cast(sa.bindparam(terms.query, type_=sa.String()), sa.Text),
        )
        rank = sa.cast(sa.func.ts_rank_cd(vector, tsquery), sa.Float)
        return Rows(
            alias=found,
            conditions=(vector.op("@@")(tsquery), visible),
            sort=Sort("rank", rank, found.c.id, float, True),
            node_type="Post",
        )

    def revisions(self, post_id: ColumnElement[int]) -> Rows:
        """A post's revisions, newest first; who may read them is decided by the caller."""
        found = post_revisions_table.alias()
        return Rows(
            alias=found,
            conditions=(found.c.post_id == post_id,),
            sort=adapted_sort(revisions.REVISION_SORT, found),
            node_type="PostRevision",
        )

    def comments(self, relation: Relation, parent_id: ColumnElement[int]) -> Rows:
        """A post's top-level comments, or a comment's replies, oldest first."""
        rows = relation.correlated(self.viewer, parent_id)
        return _related(rows, adapted_sort(comments.COMMENT_SORT, rows.rows), "Comment")


def _related(rows: Correlated, sort: Sort, node_type: str, split: Split | None = None) -> Rows:
    """A nested connection's rows: one parent's rows of a relation, in `sort`'s order."""
    return Rows(
        alias=rows.rows,
        conditions=rows.conditions,
        sort=sort,
        node_type=node_type,
        joined=rows.source,
        joined_tables=rows.own_tables[1:],
        split=split,
    )
