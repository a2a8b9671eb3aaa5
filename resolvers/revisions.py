"""Post revisions: every save that changes a post's title, excerpt, body or tags stores one
revision (who, when, the whole content after the save, and which fields changed), in the
save's transaction. Authors read their own posts' revisions, editors and admins every post's.
"""

from collections import defaultdict
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql import ColumnElement, Select

from models.columns import utc_now
from models.database import Database, fetch_all
from models.tables import post_revisions_table, post_tags_table, posts_table, tags_table
from resolvers.keys import key_in
from resolvers.pagination import (
    Page,
    PageRequest,
    Sort,
    page_parameters,
    page_shape,
    paginate_per_parent,
    to_page,
)
from resolvers.visibility import Viewer

REVISIONS = post_revisions_table.c
POSTS = posts_table.c
POST_TAGS = post_tags_table.c
TAGS = tags_table.c

# Revision fields in the order clients see them.
CONTENT_FIELDS = ("title", "excerpt", "body", "tags")
# Newest first.
REVISION_SORT = Sort("revision", REVISIONS.id, REVISIONS.id, int, True)
REVISION_COLUMNS = (
    REVISIONS.id,
    REVISIONS.post_id,
    REVISIONS.author_id,
    REVISIONS.title,
    REVISIONS.excerpt,
    REVISIONS.body,
    REVISIONS.tags,
    REVISIONS.changed_fields,
    REVISIONS.restored_from_id,
    REVISIONS.created_at,
)


@dataclass(frozen=True, slots=True)
class Content:
    """A post's content as a revision stores it; tags by name, in name order."""

    title: str
    excerpt: str
    body: str
    tags: tuple[str, ...]

    def changed_since(self, before: "Content | None") -> list[str]:
        if before is None:
            return list(CONTENT_FIELDS)
        return [name for name in CONTENT_FIELDS if getattr(self, name) != getattr(before, name)]


async def read_content(connection: AsyncConnection, post_id: int) -> Content | None:
    post = (
        await connection.execute(
            sa.select(POSTS.title, POSTS.excerpt, POSTS.body).where(POSTS.id == post_id)
        )
    ).first()
    if post is None:
        return None
    names = await connection.scalars(
        sa.select(TAGS.name)
        .join(post_tags_table, POST_TAGS.tag_id == TAGS.id)
        .where(POST_TAGS.post_id == post_id)
        .order_by(TAGS.name)
    )
    return Content(post.title, post.excerpt, post.body, tuple(names))


async def record_revision(
    connection: AsyncConnection,
    *,
    post_id: int,
    author_id: int,
    before: Content | None,
    restored_from_id: int | None = None,
) -> bool:
    """Stores the post's content as it is now in the caller's transaction, if a field changed
    since `before` (None: a new post) or the save restores a revision; whether it stored one."""
    after = await read_content(connection, post_id)
    assert after is not None
    changed = after.changed_since(before)
    if not changed and restored_from_id is None:
        return False
    await connection.execute(
        sa.insert(post_revisions_table).values(
            post_id=post_id,
            author_id=author_id,
            title=after.title,
            excerpt=after.excerpt,
            body=after.body,
            tags=orjson.dumps(list(after.tags)).decode(),
            changed_fields=",".join(changed),
            restored_from_id=restored_from_id,
            created_at=utc_now(),
        )
    )
    return True


def revisions_visible(viewer: Viewer) -> ColumnElement[bool]:
    """Revisions of the viewer's own posts; every post's for editors and admins."""
    if viewer.sees_everything:
        return sa.true()
    if viewer.user_id is None:
        return sa.false()
    return POSTS.author_id == sa.literal(viewer.user_id)


def may_read_revisions(viewer: Viewer, *, author_id: int) -> bool:
    return viewer.sees_everything or (viewer.user_id is not None and viewer.user_id == author_id)


def _visible_revisions(viewer: Viewer) -> Select[Any]:
    return (
        sa.select(*REVISION_COLUMNS)
        .select_from(post_revisions_table.join(posts_table, POSTS.id == REVISIONS.post_id))
        .where(revisions_visible(viewer))
    )


@lru_cache(maxsize=64)
def _pages_statement(viewer: Viewer, *, as_array: bool, request: PageRequest) -> Select[Any]:
    """A page of revisions for each post of a batch (`request` is a `page_shape`)."""
    return paginate_per_parent(
        _visible_revisions(viewer).where(key_in(REVISIONS.post_id, as_array=as_array)),
        parent=REVISIONS.post_id,
        sort=REVISION_SORT,
        request=request,
    )


async def revision_pages(
    database: Database, *, viewer: Viewer, post_ids: list[int], request: PageRequest
) -> dict[int, Page[Row[Any]]]:
    statement = _pages_statement(
        viewer, as_array=not database.is_sqlite, request=page_shape(request)
    )
    grouped: defaultdict[int, list[Row[Any]]] = defaultdict(list)
    for row in await fetch_all(database, statement, {"keys": post_ids, **page_parameters(request)}):
        grouped[row.parent_id_].append(row)
    return {
        post_id: to_page(
            grouped[post_id], sort=REVISION_SORT, request=request, items=list(grouped[post_id])
        )
        for post_id in post_ids
    }


@lru_cache(maxsize=64)
def revision_counts_statement(viewer: Viewer, as_array: bool) -> Select[Any]:
    return (
        sa.select(REVISIONS.post_id, sa.func.count())
        .select_from(post_revisions_table.join(posts_table, POSTS.id == REVISIONS.post_id))
        .where(key_in(REVISIONS.post_id, as_array=as_array), revisions_visible(viewer))
        .group_by(REVISIONS.post_id)
    )


async def revisions_by_ids(
    database: Database, *, viewer: Viewer, ids: list[int]
) -> list[Row[Any] | None]:
    statement = _visible_revisions(viewer).where(key_in(REVISIONS.id, as_array=False))
    found = {row.id: row for row in await fetch_all(database, statement, {"keys": ids})}
    return [found.get(revision_id) for revision_id in ids]


def tag_names(row: Row[Any]) -> list[str]:
    names: list[str] = orjson.loads(row.tags)
    return names
