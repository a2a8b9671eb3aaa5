"""Reading posts: lists with filters and orders, lookups, counts and full-text search."""

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from functools import lru_cache
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Row
from sqlalchemy.sql import ColumnElement, FromClause, Select

from models.columns import UTCDateTime, utc_now
from models.database import Database, connect, fetch_all
from models.tables import (
    PostStatus,
    comments_table,
    post_tags_table,
    posts_table,
    tags_table,
    users_table,
)
from resolvers.arguments import require_fits
from resolvers.authors import JOINED_AUTHOR_COLUMNS, join_author
from resolvers.pagination import (
    Page,
    PageRequest,
    Sort,
    page_parameters,
    page_shape,
    paginate,
    to_page,
)
from resolvers.visibility import Viewer, visible_comments, visible_post_lookup, visible_posts

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
    POSTS.html,
    POSTS.reading_time_minutes,
    POSTS.status,
    POSTS.published_at,
    POSTS.updated_at,
)


def select_posts(viewer: Viewer, source: FromClause = posts_table) -> Select[Any]:
    """Post columns with the author's joined in; `source`: the posts, or them joined to what
    a relation reaches them through (resolvers/relations.py)."""
    return sa.select(*POST_COLUMNS, *JOINED_AUTHOR_COLUMNS).select_from(
        join_author(viewer, source, POSTS.author_id)
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
    return Sort("published", published_sort_key(viewer), POSTS.id, datetime, descending)


def published_sort_key(viewer: Viewer) -> ColumnElement[datetime]:
    """Anonymous callers only see published posts, whose published_at is set, and that order
    uses the (status, published_at, id) index. Signed-in callers may also see drafts, which sort
    by their creation time so that the key is never NULL."""
    if viewer.user_id is None:
        key: ColumnElement[datetime] = POSTS.published_at
        return key
    return sa.func.coalesce(POSTS.published_at, POSTS.created_at, type_=UTCDateTime())


@dataclass(frozen=True, slots=True)
class PostCriteria:
    """What a list of posts is narrowed to; every given condition must hold."""

    status: PostStatus | None = None
    author_username: str | None = None
    tag_slug: str | None = None
    published_before: datetime | None = None
    published_after: datetime | None = None

    def shape(self) -> tuple[bool, ...]:
        return tuple(getattr(self, name) is not None for name in self.__slots__)

    def parameters(self) -> dict[str, Any]:
        values = {name: getattr(self, name) for name in self.__slots__}
        return {name: value for name, value in values.items() if value is not None}


def post_conditions(viewer: Viewer, shape: tuple[bool, ...]) -> list[ColumnElement[bool]]:
    """Conditions for the criteria present in `shape`; their values are bound parameters."""
    status, author, tag, before, after = shape
    conditions = [visible_posts(viewer)]
    if status:
        conditions.append(POSTS.status == sa.bindparam("status", type_=POSTS.status.type))
    if author:
        author_ids = sa.select(USERS.id).where(USERS.username == sa.bindparam("author_username"))
        conditions.append(POSTS.author_id.in_(author_ids))
    if tag:
        tagged = (
            sa.select(POST_TAGS.post_id)
            .join(tags_table, TAGS.id == POST_TAGS.tag_id)
            .where(TAGS.slug == sa.bindparam("tag_slug"))
        )
        conditions.append(POSTS.id.in_(tagged))
    if before:
        conditions.append(
            POSTS.published_at < sa.bindparam("published_before", type_=UTCDateTime())
        )
    if after:
        conditions.append(POSTS.published_at > sa.bindparam("published_after", type_=UTCDateTime()))
    return conditions


@lru_cache(maxsize=256)
def _list_statement(
    viewer: Viewer,
    shape: tuple[bool, ...],
    order: tuple[PostOrderField, bool],
    request: PageRequest,
) -> Select[Any]:
    field, descending = order
    return paginate(
        select_posts(viewer).where(*post_conditions(viewer, shape)),
        sort=post_sort(viewer, field=field, descending=descending),
        request=request,
    )


@lru_cache(maxsize=64)
def _count_statement(viewer: Viewer, shape: tuple[bool, ...]) -> Select[Any]:
    return (
        sa.select(sa.func.count()).select_from(posts_table).where(*post_conditions(viewer, shape))
    )


async def list_posts(
    database: Database,
    *,
    viewer: Viewer,
    criteria: PostCriteria,
    order: tuple[PostOrderField, bool],
    request: PageRequest,
) -> Page[Row[Any]]:
    statement = _list_statement(viewer, criteria.shape(), order, page_shape(request))
    parameters = {**criteria.parameters(), **page_parameters(request)}
    rows = await fetch_all(database, statement, parameters)
    field, descending = order
    sort = post_sort(viewer, field=field, descending=descending)
    return to_page(rows, sort=sort, request=request, items=list(rows))


async def count_posts(database: Database, *, viewer: Viewer, criteria: PostCriteria) -> int:
    statement = _count_statement(viewer, criteria.shape())
    rows = await fetch_all(database, statement, criteria.parameters())
    return int(rows[0][0])


@lru_cache(maxsize=64)
def post_by_slug_statement(viewer: Viewer) -> Select[Any]:
    return select_posts(viewer).where(
        POSTS.slug == sa.bindparam("slug"), visible_post_lookup(viewer)
    )


async def post_by_slug(database: Database, *, viewer: Viewer, slug: str) -> Row[Any] | None:
    require_fits(slug, POSTS.slug, argument="slug")
    rows = await fetch_all(database, post_by_slug_statement(viewer), {"slug": slug})
    return rows[0] if rows else None


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


async def scheduled_posts(database: Database) -> list[tuple[int, Any]]:
    """Published posts whose time has not come yet: (id, published_at)."""
    statement = sa.select(POSTS.id, POSTS.published_at).where(
        POSTS.status == PostStatus.PUBLISHED.value, POSTS.published_at > utc_now()
    )
    async with connect(database.reader) as connection:
        result = await connection.execute(statement)
        return [(row.id, row.published_at) for row in result]
