"""Reading posts: lists with filters and orders, lookups, counts and full-text search."""

from datetime import datetime
from enum import StrEnum
from functools import lru_cache
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Row
from sqlalchemy.sql import ColumnElement, Select

from models.database import Database, fetch_all
from models.tables import (
    PostStatus,
    comments_table,
    post_tags_table,
    posts_table,
    tags_table,
    users_table,
)
from resolvers.authors import JOINED_AUTHOR_COLUMNS, join_author
from resolvers.keys import key_in
from resolvers.pagination import Page, PageRequest, Sort, page_parameters, paginate, to_page
from resolvers.visibility import Viewer, visible_comments, visible_posts

POSTS = posts_table.c
COMMENTS = comments_table.c
POST_TAGS = post_tags_table.c
TAGS = tags_table.c
USERS = users_table.c

POST_COLUMNS = (
    POSTS.id,
    POSTS.author_id,
    POSTS.title,
    POSTS.slug,
    POSTS.excerpt,
    POSTS.body,
    POSTS.status,
    POSTS.published_at,
    POSTS.updated_at,
)


def select_posts(viewer: Viewer) -> Select[Any]:
    """Post columns with the author's joined in."""
    return sa.select(*POST_COLUMNS, *JOINED_AUTHOR_COLUMNS).select_from(
        join_author(viewer, posts_table, POSTS.author_id)
    )


class PostOrderField(StrEnum):
    PUBLISHED_AT = "PUBLISHED_AT"
    TITLE = "TITLE"
    COMMENT_COUNT = "COMMENT_COUNT"


def comment_count_expression(viewer: Viewer) -> ColumnElement[int]:
    return (
        sa.select(sa.func.count())
        .where(COMMENTS.post_id == POSTS.id, visible_comments(viewer))
        .scalar_subquery()
    )


def post_sort(viewer: Viewer, *, field: PostOrderField, descending: bool) -> Sort:
    if field is PostOrderField.TITLE:
        return Sort("title", POSTS.title, POSTS.id, str, descending)
    if field is PostOrderField.COMMENT_COUNT:
        return Sort("comments", comment_count_expression(viewer), POSTS.id, int, descending)
    return Sort("published", POSTS.published_at, POSTS.id, datetime, descending)


def post_conditions(
    viewer: Viewer,
    *,
    status: PostStatus | None = None,
    author_username: str | None = None,
    tag_slug: str | None = None,
    published_before: datetime | None = None,
    published_after: datetime | None = None,
) -> list[ColumnElement[bool]]:
    conditions = [visible_posts(viewer)]
    if status is not None:
        conditions.append(POSTS.status == status.value)
    if author_username is not None:
        author_ids = sa.select(USERS.id).where(USERS.username == author_username)
        conditions.append(POSTS.author_id.in_(author_ids))
    if tag_slug is not None:
        tagged = (
            sa.select(POST_TAGS.post_id)
            .join(tags_table, TAGS.id == POST_TAGS.tag_id)
            .where(TAGS.slug == tag_slug)
        )
        conditions.append(POSTS.id.in_(tagged))
    if published_before is not None:
        conditions.append(POSTS.published_at < published_before)
    if published_after is not None:
        conditions.append(POSTS.published_at > published_after)
    return conditions


async def list_posts(
    database: Database,
    *,
    viewer: Viewer,
    conditions: list[ColumnElement[bool]],
    sort: Sort,
    request: PageRequest,
) -> Page[Row[Any]]:
    statement = paginate(select_posts(viewer).where(*conditions), sort=sort, request=request)
    rows = await fetch_all(database, statement, page_parameters(request))
    return to_page(rows, sort=sort, request=request, items=list(rows))


async def count_posts(database: Database, *, conditions: list[ColumnElement[bool]]) -> int:
    rows = await fetch_all(database, sa.select(sa.func.count()).where(*conditions))
    return int(rows[0][0])


@lru_cache(maxsize=64)
def post_by_slug_statement(viewer: Viewer) -> Select[Any]:
    return select_posts(viewer).where(POSTS.slug == sa.bindparam("slug"), visible_posts(viewer))


async def post_by_slug(database: Database, *, viewer: Viewer, slug: str) -> Row[Any] | None:
    rows = await fetch_all(database, post_by_slug_statement(viewer), {"slug": slug})
    return rows[0] if rows else None


@lru_cache(maxsize=64)
def posts_by_ids_statement(viewer: Viewer, as_array: bool) -> Select[Any]:
    return select_posts(viewer).where(key_in(POSTS.id, as_array=as_array), visible_posts(viewer))


def search_sort(database: Database, viewer: Viewer, query: str) -> tuple[Sort, Select[Any]]:
    """Relevance order (best first, then newest id) and the statement that matches the query."""
    if database.is_sqlite:
        fts = sa.table("posts_fts", sa.column("rowid"))
        # bm25 is lower for better matches; negate it so that higher is better on both databases.
        rank: ColumnElement[float] = -sa.func.bm25(sa.literal_column("posts_fts"), 10.0, 1.0)
        matched = (
            select_posts(viewer)
            .join(fts, fts.c.rowid == POSTS.id)
            .where(sa.literal_column("posts_fts").op("MATCH")(sqlite_match_expression(query)))
        )
    else:
        vector: ColumnElement[Any] = sa.literal_column("posts.search_vector")
        tsquery = sa.func.websearch_to_tsquery(
            sa.literal_column("'english'::regconfig"), sa.cast(query, sa.Text)
        )
        rank = sa.cast(sa.func.ts_rank_cd(vector, tsquery), sa.Float)
        matched = select_posts(viewer).where(vector.op("@@")(tsquery))
    return Sort("rank", rank, POSTS.id, float, True), matched


def sqlite_match_expression(query: str) -> str:
    """Each word as a quoted FTS5 string, all required: user text never becomes FTS syntax."""
    words = ["".join(ch for ch in word if ch.isalnum()) for word in query.split()]
    return " ".join(f'"{word}"' for word in words if word) or '""'


async def search_posts(
    database: Database, *, viewer: Viewer, query: str, request: PageRequest
) -> Page[Row[Any]]:
    sort, matched = search_sort(database, viewer, query)
    statement = paginate(matched.where(visible_posts(viewer)), sort=sort, request=request)
    rows = await fetch_all(database, statement, page_parameters(request))
    return to_page(rows, sort=sort, request=request, items=list(rows))


async def count_search(database: Database, *, viewer: Viewer, query: str) -> int:
    _, matched = search_sort(database, viewer, query)
    counted = sa.select(sa.func.count()).select_from(
        matched.where(visible_posts(viewer)).subquery()
    )
    rows = await fetch_all(database, counted)
    return int(rows[0][0])
