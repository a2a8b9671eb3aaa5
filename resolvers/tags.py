"""Reading tags: the list and lookups (the tags of posts and the post counts of tags are
relations: resolvers/relations.py). Every list, count and lookup shows a tag only while a post
the viewer may see carries it."""

from functools import lru_cache
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Row
from sqlalchemy.sql import ColumnElement, Select

from models.database import Database, fetch_all
from models.tables import post_tags_table, posts_table, tags_table
from resolvers.arguments import require_fits
from resolvers.pagination import (
    Page,
    PageRequest,
    Sort,
    page_parameters,
    page_shape,
    paginate,
    to_page,
)
from resolvers.visibility import Viewer, visible_posts

TAGS = tags_table.c
POST_TAGS = post_tags_table.c
POSTS = posts_table.c
POST_TAGS_TABLE = post_tags_table
POST_TAG_POSTS = POST_TAGS_TABLE.join(posts_table, POSTS.id == POST_TAGS.post_id)

TAG_COLUMNS = (TAGS.id, TAGS.name, TAGS.slug)
TAG_SORT = Sort("name", TAGS.name, TAGS.id, str, False)


def carried_by_visible_posts(viewer: Viewer) -> ColumnElement[bool]:
    """A tag exists for a viewer only while a post they may see carries it: tags used only by
    drafts, scheduled or archived posts would otherwise announce them."""
    return (
        sa.select(POST_TAGS.tag_id)
        .select_from(POST_TAG_POSTS)
        .where(POST_TAGS.tag_id == TAGS.id, visible_posts(viewer))
        .exists()
    )


@lru_cache(maxsize=64)
def _list_statement(viewer: Viewer, request: PageRequest) -> Select[Any]:
    visible = sa.select(*TAG_COLUMNS).where(carried_by_visible_posts(viewer))
    return paginate(visible, sort=TAG_SORT, request=request)


async def list_tags(database: Database, *, viewer: Viewer, request: PageRequest) -> Page[Row[Any]]:
    statement = _list_statement(viewer, page_shape(request))
    rows = await fetch_all(database, statement, page_parameters(request))
    return to_page(rows, sort=TAG_SORT, request=request, items=list(rows))


@lru_cache(maxsize=64)
def _count_statement(viewer: Viewer) -> Select[Any]:
    return (
        sa.select(sa.func.count()).select_from(tags_table).where(carried_by_visible_posts(viewer))
    )


async def count_tags(database: Database, *, viewer: Viewer) -> int:
    rows = await fetch_all(database, _count_statement(viewer))
    return int(rows[0][0])


@lru_cache(maxsize=64)
def _by_slug_statement(viewer: Viewer) -> Select[Any]:
    return sa.select(*TAG_COLUMNS).where(
        TAGS.slug == sa.bindparam("slug"), carried_by_visible_posts(viewer)
    )


async def tag_by_slug(database: Database, *, viewer: Viewer, slug: str) -> Row[Any] | None:
    require_fits(slug, TAGS.slug, argument="slug")
    rows = await fetch_all(database, _by_slug_statement(viewer), {"slug": slug})
    return rows[0] if rows else None
