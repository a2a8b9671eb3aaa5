"""Reading tags: the list, lookups, the tags of posts and the post counts of tags."""

from functools import lru_cache
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Row
from sqlalchemy.sql import Select

from models.database import Database, fetch_all
from models.tables import post_tags_table, posts_table, tags_table
from resolvers.keys import key_in
from resolvers.pagination import Page, PageRequest, Sort, page_parameters, paginate, to_page
from resolvers.visibility import Viewer, visible_posts

TAGS = tags_table.c
POST_TAGS = post_tags_table.c
POSTS = posts_table.c
POST_TAGS_TABLE = post_tags_table
POST_TAG_JOIN = POST_TAGS_TABLE.join(tags_table, TAGS.id == POST_TAGS.tag_id)

TAG_COLUMNS = (TAGS.id, TAGS.name, TAGS.slug)
TAG_SORT = Sort("name", TAGS.name, TAGS.id, str, False)


async def list_tags(database: Database, *, request: PageRequest) -> Page[Row[Any]]:
    statement = paginate(sa.select(*TAG_COLUMNS), sort=TAG_SORT, request=request)
    rows = await fetch_all(database, statement, page_parameters(request))
    return to_page(rows, sort=TAG_SORT, request=request, items=list(rows))


async def count_tags(database: Database) -> int:
    rows = await fetch_all(database, sa.select(sa.func.count()).select_from(tags_table))
    return int(rows[0][0])


async def tag_by_slug(database: Database, *, slug: str) -> Row[Any] | None:
    rows = await fetch_all(database, sa.select(*TAG_COLUMNS).where(TAGS.slug == slug))
    return rows[0] if rows else None


@lru_cache(maxsize=64)
def tags_by_ids_statement(as_array: bool) -> Select[Any]:
    return sa.select(*TAG_COLUMNS).where(key_in(TAGS.id, as_array=as_array))


@lru_cache(maxsize=64)
def tags_of_posts_statement(as_array: bool) -> Select[Any]:
    return (
        sa.select(POST_TAGS.post_id, *TAG_COLUMNS)
        .select_from(POST_TAG_JOIN)
        .where(key_in(POST_TAGS.post_id, as_array=as_array))
        .order_by(POST_TAGS.post_id, TAGS.name)
    )


@lru_cache(maxsize=64)
def post_counts_statement(viewer: Viewer, as_array: bool) -> Select[Any]:
    return (
        sa.select(POST_TAGS.tag_id, sa.func.count())
        .select_from(post_tags_table.join(posts_table, POSTS.id == POST_TAGS.post_id))
        .where(key_in(POST_TAGS.tag_id, as_array=as_array), visible_posts(viewer))
        .group_by(POST_TAGS.tag_id)
    )
