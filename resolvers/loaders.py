"""Per-request dataloaders: every relation is fetched in batches, one statement per batch.

Loaders are built for one viewer inside one request, so their caches never serve a row to a
viewer who may not see it, and they die with the request.
"""

from collections import defaultdict
from collections.abc import Callable, Sequence
from functools import cached_property
from typing import Any

from aiodataloader import DataLoader
from sqlalchemy.engine import Row
from sqlalchemy.sql import ColumnElement, Select

from models.database import Database, fetch_all
from resolvers import authors, comments, posts, tags
from resolvers.keys import Keys
from resolvers.pagination import Page, PageRequest, Sort, paginate_per_parent, to_page
from resolvers.visibility import Viewer, visible_posts

Rows = Sequence[Row[Any]]
PostPageKey = tuple[int, posts.PostOrderField, bool, PageRequest]
CommentPageKey = tuple[int, PageRequest]


def _keys(database: Database, values: Sequence[int]) -> Keys:
    return Keys(values, as_array=not database.is_sqlite)


def _by_id(
    database: Database, statement: Callable[[Keys], Select[Any]]
) -> DataLoader[int, Row[Any] | None]:
    async def load(ids: list[int]) -> list[Row[Any] | None]:
        found = {row.id: row for row in await fetch_all(database, statement(_keys(database, ids)))}
        return [found.get(row_id) for row_id in ids]

    return DataLoader(load)


def _counts(database: Database, statement: Callable[[Keys], Select[Any]]) -> DataLoader[int, int]:
    async def load(ids: list[int]) -> list[int]:
        counts = dict(
            tuple(row) for row in await fetch_all(database, statement(_keys(database, ids)))
        )
        return [counts.get(row_id, 0) for row_id in ids]

    return DataLoader(load)


def _groups(
    database: Database, statement: Callable[[Keys], Select[Any]]
) -> DataLoader[int, list[Row[Any]]]:
    """Rows grouped by their first column (the parent id), in statement order."""

    async def load(ids: list[int]) -> list[list[Row[Any]]]:
        grouped: defaultdict[int, list[Row[Any]]] = defaultdict(list)
        for row in await fetch_all(database, statement(_keys(database, ids))):
            grouped[row[0]].append(row)
        return [grouped.get(row_id, []) for row_id in ids]

    return DataLoader(load)


async def _pages_per_parent(
    database: Database,
    *,
    base: Select[Any],
    parent: ColumnElement[int],
    sort: Sort,
    request: PageRequest,
    parent_ids: list[int],
) -> dict[int, Page[Row[Any]]]:
    statement = paginate_per_parent(
        base.where(_keys(database, parent_ids).match(parent)),
        parent=parent,
        sort=sort,
        request=request,
    )
    grouped: defaultdict[int, list[Row[Any]]] = defaultdict(list)
    for row in await fetch_all(database, statement):
        grouped[row.parent_id_].append(row)
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
    database: Database, *, base: Select[Any], parent: ColumnElement[int]
) -> DataLoader[CommentPageKey, Page[Row[Any]]]:
    async def load(keys: list[CommentPageKey]) -> list[Page[Row[Any]]]:
        pages: dict[CommentPageKey, Page[Row[Any]]] = {}
        for (request,), parent_ids in _grouped_by_arguments(list(keys)).items():
            found = await _pages_per_parent(
                database,
                base=base,
                parent=parent,
                sort=comments.COMMENT_SORT,
                request=request,
                parent_ids=parent_ids,
            )
            pages.update(((parent_id, request), page) for parent_id, page in found.items())
        return [pages[key] for key in keys]

    return DataLoader(load)


def _post_pages(
    database: Database, *, viewer: Viewer, base: Select[Any], parent: ColumnElement[int]
) -> DataLoader[PostPageKey, Page[Row[Any]]]:
    async def load(keys: list[PostPageKey]) -> list[Page[Row[Any]]]:
        pages: dict[PostPageKey, Page[Row[Any]]] = {}
        for (field, descending, request), ids in _grouped_by_arguments(list(keys)).items():
            sort = posts.post_sort(viewer, field=field, descending=descending)
            found = await _pages_per_parent(
                database, base=base, parent=parent, sort=sort, request=request, parent_ids=ids
            )
            pages.update(
                ((parent_id, field, descending, request), page) for parent_id, page in found.items()
            )
        return [pages[key] for key in keys]

    return DataLoader(load)


class Loaders:
    """Every loader of one request, for one viewer; each built on first use, since most
    requests touch two or three of them."""

    def __init__(self, *, database: Database, viewer: Viewer) -> None:
        self.database = database
        self.viewer = viewer

    @cached_property
    def author_by_id(self) -> DataLoader[int, Row[Any] | None]:
        viewer = self.viewer
        return _by_id(self.database, lambda ids: authors.authors_by_ids_statement(viewer, ids))

    @cached_property
    def post_by_id(self) -> DataLoader[int, Row[Any] | None]:
        viewer = self.viewer
        return _by_id(self.database, lambda ids: posts.posts_by_ids_statement(viewer, ids))

    @cached_property
    def comment_by_id(self) -> DataLoader[int, Row[Any] | None]:
        viewer = self.viewer
        return _by_id(self.database, lambda ids: comments.comments_by_ids_statement(viewer, ids))

    @cached_property
    def tag_by_id(self) -> DataLoader[int, Row[Any] | None]:
        return _by_id(self.database, tags.tags_by_ids_statement)

    @cached_property
    def tags_by_post_id(self) -> DataLoader[int, list[Row[Any]]]:
        return _groups(self.database, tags.tags_of_posts_statement)

    @cached_property
    def comment_count_by_post_id(self) -> DataLoader[int, int]:
        viewer = self.viewer
        return _counts(self.database, lambda ids: comments.comment_counts_statement(viewer, ids))

    @cached_property
    def top_level_comment_count_by_post_id(self) -> DataLoader[int, int]:
        viewer = self.viewer
        return _counts(
            self.database, lambda ids: comments.top_level_comment_counts_statement(viewer, ids)
        )

    @cached_property
    def reply_count_by_comment_id(self) -> DataLoader[int, int]:
        viewer = self.viewer
        return _counts(self.database, lambda ids: comments.reply_counts_statement(viewer, ids))

    @cached_property
    def post_count_by_author_id(self) -> DataLoader[int, int]:
        viewer = self.viewer
        return _counts(self.database, lambda ids: authors.post_counts_statement(viewer, ids))

    @cached_property
    def post_count_by_tag_id(self) -> DataLoader[int, int]:
        viewer = self.viewer
        return _counts(self.database, lambda ids: tags.post_counts_statement(viewer, ids))

    @cached_property
    def comment_page_by_post_id(self) -> DataLoader[CommentPageKey, Page[Row[Any]]]:
        return _comment_pages(
            self.database,
            base=comments.top_level_comments_statement(self.viewer),
            parent=comments.COMMENTS.post_id,
        )

    @cached_property
    def reply_page_by_comment_id(self) -> DataLoader[CommentPageKey, Page[Row[Any]]]:
        return _comment_pages(
            self.database,
            base=comments.replies_statement(self.viewer),
            parent=comments.COMMENTS.parent_id,
        )

    @cached_property
    def post_page_by_author_id(self) -> DataLoader[PostPageKey, Page[Row[Any]]]:
        return _post_pages(
            self.database,
            viewer=self.viewer,
            base=self._visible_post_rows(),
            parent=posts.POSTS.author_id,
        )

    @cached_property
    def post_page_by_tag_id(self) -> DataLoader[PostPageKey, Page[Row[Any]]]:
        tagged = self._visible_post_rows().join(
            tags.POST_TAGS_TABLE, tags.POST_TAGS.post_id == posts.POSTS.id
        )
        return _post_pages(
            self.database, viewer=self.viewer, base=tagged, parent=tags.POST_TAGS.tag_id
        )

    def _visible_post_rows(self) -> Select[Any]:
        return posts.select_posts(self.viewer).where(visible_posts(self.viewer))
