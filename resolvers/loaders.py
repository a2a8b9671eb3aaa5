"""Per-request dataloaders: every relation is fetched in batches, one statement per batch.

Which rows a relation reaches is described once in resolvers/relations.py (compiled reads
nest the same entries); here each loader adds what the resolver path makes of the rows: their
columns (a post's or comment's author joined in), counts, pages.

Loaders are built for one viewer inside one request, so their caches never serve a row to a
viewer who may not see it, and they die with the request.
"""

from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from functools import cached_property, lru_cache
from typing import Any

import sqlalchemy as sa
from aiodataloader import DataLoader
from sqlalchemy.engine import Row
from sqlalchemy.sql import FromClause, Select

from models.database import Database, fetch_all
from resolvers import authors, comments, posts, relations, revisions, tags
from resolvers.observability import LOADER_BATCH
from resolvers.pagination import (
    Page,
    PageRequest,
    Sort,
    page_parameters,
    page_shape,
    paginate_per_parent,
    to_page,
)
from resolvers.relations import Relation
from resolvers.visibility import Viewer

PostPageKey = tuple[int, posts.PostOrderField, bool, PageRequest]
CommentPageKey = tuple[int, PageRequest]
StatementFor = Callable[[bool], Select[Any]]
# What the resolver path selects of a relation's rows, from the relation's source.
RowsFrom = Callable[[Viewer, FromClause], Select[Any]]


def _author_rows(viewer: Viewer, source: FromClause) -> Select[Any]:
    return sa.select(*authors.AUTHOR_COLUMNS).select_from(source)


def _tag_rows(viewer: Viewer, source: FromClause) -> Select[Any]:
    return sa.select(*tags.TAG_COLUMNS).select_from(source)


def _tags_of_posts(viewer: Viewer, source: FromClause) -> Select[Any]:
    """Tags with the post they are on first (`_groups` groups by it), by name."""
    post_id = relations.POST_TAGS.key_column()
    return (
        sa.select(post_id, *tags.TAG_COLUMNS).select_from(source).order_by(post_id, tags.TAGS.name)
    )


@lru_cache(maxsize=256)
def _batched(relation: Relation, rows: RowsFrom, viewer: Viewer, as_array: bool) -> Select[Any]:
    """The rows of a batch of parents: built once per (relation, viewer, dialect form)."""
    statement = rows(viewer, relation.source())
    return relation.batched(statement, viewer, as_array=as_array)


@lru_cache(maxsize=256)
def _batched_counts(relation: Relation, viewer: Viewer, as_array: bool) -> Select[Any]:
    return relation.batched_counts(viewer, as_array=as_array)


def _observed(kind: str, load: Callable[[list[Any]], Awaitable[list[Any]]]) -> DataLoader[Any, Any]:
    """A loader whose batch sizes are recorded (quire_dataloader_batch_size)."""
    histogram = LOADER_BATCH.labels(kind)

    async def observed(keys: list[Any]) -> list[Any]:
        histogram.observe(len(keys))
        return await load(keys)

    return DataLoader(observed)


def _by_id(database: Database, statement: StatementFor) -> DataLoader[int, Row[Any] | None]:
    async def load(ids: list[int]) -> list[Row[Any] | None]:
        rows = await _fetch_keys(database, statement, ids)
        found = {row.id: row for row in rows}
        return [found.get(row_id) for row_id in ids]

    return _observed("by_id", load)


def _counts(database: Database, statement: StatementFor) -> DataLoader[int, int]:
    async def load(ids: list[int]) -> list[int]:
        counts = dict(tuple(row) for row in await _fetch_keys(database, statement, ids))
        return [counts.get(row_id, 0) for row_id in ids]

    return _observed("counts", load)


def _groups(database: Database, statement: StatementFor) -> DataLoader[int, list[Row[Any]]]:
    """Rows grouped by their first column (the parent id), in statement order."""

    async def load(ids: list[int]) -> list[list[Row[Any]]]:
        grouped: defaultdict[int, list[Row[Any]]] = defaultdict(list)
        for row in await _fetch_keys(database, statement, ids):
            grouped[row[0]].append(row)
        return [grouped.get(row_id, []) for row_id in ids]

    return _observed("groups", load)


async def _fetch_keys(
    database: Database, statement: StatementFor, keys: list[int]
) -> Sequence[Row[Any]]:
    return await fetch_all(database, statement(not database.is_sqlite), {"keys": keys})


@lru_cache(maxsize=256)
def _page_statement(
    relation: Relation,
    rows: RowsFrom,
    viewer: Viewer,
    *,
    as_array: bool,
    order: tuple[posts.PostOrderField, bool] | None,
    request: PageRequest,
) -> Select[Any]:
    """Built once per page shape (`request` is a `page_shape`); keys, cursor values and sizes
    are parameters."""
    batched = _batched(relation, rows, viewer, as_array)
    sort = _page_sort(viewer, order)
    return paginate_per_parent(batched, parent=relation.key_column(), sort=sort, request=request)


def _page_sort(viewer: Viewer, order: tuple[posts.PostOrderField, bool] | None) -> Sort:
    if order is None:
        return comments.COMMENT_SORT
    field, descending = order
    return posts.post_sort(viewer, field=field, descending=descending)


async def _pages_per_parent(
    database: Database,
    *,
    source: tuple[Relation, RowsFrom],
    viewer: Viewer,
    order: tuple[posts.PostOrderField, bool] | None,
    request: PageRequest,
    parent_ids: list[int],
) -> dict[int, Page[Row[Any]]]:
    relation, rows = source
    statement = _page_statement(
        relation,
        rows,
        viewer,
        as_array=not database.is_sqlite,
        order=order,
        request=page_shape(request),
    )
    parameters = {"keys": parent_ids, **page_parameters(request)}
    grouped: defaultdict[int, list[Row[Any]]] = defaultdict(list)
    for row in await fetch_all(database, statement, parameters):
        grouped[row.parent_id_].append(row)
    sort = _page_sort(viewer, order)
    return {
        parent_id: to_page(
            grouped.get(parent_id, []),
            sort=sort,
            request=request,
            items=list(grouped.get(parent_id, [])),
        )
        for parent_id in parent_ids
    }


def _grouped_by_arguments(keys: list[tuple[Any, ...]]) -> dict[tuple[Any, ...], list[int]]:
    """Nested pages with the same arguments share one statement: group parent ids by them."""
    groups: defaultdict[tuple[Any, ...], list[int]] = defaultdict(list)
    for parent_id, *arguments in keys:
        groups[tuple(arguments)].append(parent_id)
    return groups


def _comment_pages(
    database: Database, *, viewer: Viewer, source: tuple[Relation, RowsFrom]
) -> DataLoader[CommentPageKey, Page[Row[Any]]]:
    async def load(keys: list[CommentPageKey]) -> list[Page[Row[Any]]]:
        pages: dict[CommentPageKey, Page[Row[Any]]] = {}
        for (request,), parent_ids in _grouped_by_arguments(list(keys)).items():
            found = await _pages_per_parent(
                database,
                source=source,
                viewer=viewer,
                order=None,
                request=request,
                parent_ids=parent_ids,
            )
            pages.update(((parent_id, request), page) for parent_id, page in found.items())
        return [pages[key] for key in keys]

    return _observed("comment_pages", load)


def _post_pages(
    database: Database, *, viewer: Viewer, source: tuple[Relation, RowsFrom]
) -> DataLoader[PostPageKey, Page[Row[Any]]]:
    async def load(keys: list[PostPageKey]) -> list[Page[Row[Any]]]:
        pages: dict[PostPageKey, Page[Row[Any]]] = {}
        for (field, descending, request), ids in _grouped_by_arguments(list(keys)).items():
            found = await _pages_per_parent(
                database,
                source=source,
                viewer=viewer,
                order=(field, descending),
                request=request,
                parent_ids=ids,
            )
            pages.update(
                ((parent_id, field, descending, request), page) for parent_id, page in found.items()
            )
        return [pages[key] for key in keys]

    return _observed("post_pages", load)


def _revision_pages(
    database: Database, *, viewer: Viewer
) -> DataLoader[CommentPageKey, Page[Row[Any]]]:
    async def load(keys: list[CommentPageKey]) -> list[Page[Row[Any]]]:
        pages: dict[CommentPageKey, Page[Row[Any]]] = {}
        for (request,), post_ids in _grouped_by_arguments(list(keys)).items():
            found = await revisions.revision_pages(
                database, viewer=viewer, post_ids=post_ids, request=request
            )
            pages.update(((post_id, request), page) for post_id, page in found.items())
        return [pages[key] for key in keys]

    return _observed("revision_pages", load)


class Loaders:
    """Every loader of one request, for one viewer; each built on first use, since most
    requests touch two or three of them."""

    def __init__(self, *, database: Database, viewer: Viewer) -> None:
        self.database = database
        self.viewer = viewer

    def _by_id(self, relation: Relation, rows: RowsFrom) -> DataLoader[int, Row[Any] | None]:
        viewer = self.viewer
        return _by_id(self.database, lambda as_array: _batched(relation, rows, viewer, as_array))

    def _counts(self, relation: Relation) -> DataLoader[int, int]:
        viewer = self.viewer
        return _counts(self.database, lambda as_array: _batched_counts(relation, viewer, as_array))

    @cached_property
    def author_by_id(self) -> DataLoader[int, Row[Any] | None]:
        return self._by_id(relations.AUTHOR, _author_rows)

    @cached_property
    def post_by_id(self) -> DataLoader[int, Row[Any] | None]:
        return self._by_id(relations.POST, posts.select_posts)

    @cached_property
    def comment_by_id(self) -> DataLoader[int, Row[Any] | None]:
        return self._by_id(relations.COMMENT, comments.select_comments)

    @cached_property
    def tag_by_id(self) -> DataLoader[int, Row[Any] | None]:
        return self._by_id(relations.TAG, _tag_rows)

    @cached_property
    def tags_by_post_id(self) -> DataLoader[int, list[Row[Any]]]:
        viewer = self.viewer
        return _groups(
            self.database,
            lambda as_array: _batched(relations.POST_TAGS, _tags_of_posts, viewer, as_array),
        )

    @cached_property
    def comment_count_by_post_id(self) -> DataLoader[int, int]:
        return self._counts(relations.POST_COMMENTS)

    @cached_property
    def top_level_comment_count_by_post_id(self) -> DataLoader[int, int]:
        return self._counts(relations.TOP_LEVEL_COMMENTS)

    @cached_property
    def reply_count_by_comment_id(self) -> DataLoader[int, int]:
        return self._counts(relations.REPLIES)

    @cached_property
    def post_count_by_author_id(self) -> DataLoader[int, int]:
        return self._counts(relations.AUTHOR_POSTS)

    @cached_property
    def post_count_by_tag_id(self) -> DataLoader[int, int]:
        return self._counts(relations.TAG_POSTS)

    @cached_property
    def comment_page_by_post_id(self) -> DataLoader[CommentPageKey, Page[Row[Any]]]:
        source = (relations.TOP_LEVEL_COMMENTS, comments.select_comments)
        return _comment_pages(self.database, viewer=self.viewer, source=source)

    @cached_property
    def reply_page_by_comment_id(self) -> DataLoader[CommentPageKey, Page[Row[Any]]]:
        source = (relations.REPLIES, comments.select_comments)
        return _comment_pages(self.database, viewer=self.viewer, source=source)

    @cached_property
    def post_page_by_author_id(self) -> DataLoader[PostPageKey, Page[Row[Any]]]:
        source = (relations.AUTHOR_POSTS, posts.select_posts)
        return _post_pages(self.database, viewer=self.viewer, source=source)

    @cached_property
    def post_page_by_tag_id(self) -> DataLoader[PostPageKey, Page[Row[Any]]]:
        source = (relations.TAG_POSTS, posts.select_posts)
        return _post_pages(self.database, viewer=self.viewer, source=source)

    @cached_property
    def revision_page_by_post_id(self) -> DataLoader[CommentPageKey, Page[Row[Any]]]:
        return _revision_pages(self.database, viewer=self.viewer)

    @cached_property
    def revision_count_by_post_id(self) -> DataLoader[int, int]:
        viewer = self.viewer
        return _counts(
            self.database, lambda as_array: revisions.revision_counts_statement(viewer, as_array)
        )
