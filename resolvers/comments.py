"""Reading comments: top-level comments of posts, replies of comments, counts, lookups."""

from datetime import datetime
from functools import lru_cache
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Row
from sqlalchemy.sql import Select

from models.database import Database, fetch_all
from models.tables import CommentStatus, Role, comments_table, posts_table
from resolvers.authors import JOINED_AUTHOR_COLUMNS, join_author
from resolvers.keys import key_in
from resolvers.pagination import (
    Page,
    PageRequest,
    Sort,
    page_parameters,
    page_shape,
    paginate,
    to_page,
)
from resolvers.visibility import Viewer, visible_comments, visible_posts

COMMENTS = comments_table.c
POSTS = posts_table.c

COMMENT_COLUMNS = (
    COMMENTS.id,
    COMMENTS.post_id,
    COMMENTS.author_id,
    COMMENTS.parent_id,
    COMMENTS.body,
    COMMENTS.status,
    COMMENTS.created_at,
)


def select_comments(viewer: Viewer) -> Select[Any]:
    """Comment columns with the author's joined in."""
    return sa.select(*COMMENT_COLUMNS, *JOINED_AUTHOR_COLUMNS).select_from(
        join_author(viewer, comments_table, COMMENTS.author_id)
    )


# Conversations read oldest first.
COMMENT_SORT = Sort("created", COMMENTS.created_at, COMMENTS.id, datetime, False)


@lru_cache(maxsize=64)
def top_level_comments_statement(viewer: Viewer) -> Select[Any]:
    return select_comments(viewer).where(COMMENTS.parent_id.is_(None), visible_comments(viewer))


@lru_cache(maxsize=64)
def replies_statement(viewer: Viewer) -> Select[Any]:
    return select_comments(viewer).where(visible_comments(viewer))


@lru_cache(maxsize=64)
def comments_by_ids_statement(viewer: Viewer, as_array: bool) -> Select[Any]:
    """Direct lookups also check the post, so a comment on a hidden post stays hidden."""
    visible_post_ids = sa.select(POSTS.id).where(visible_posts(viewer))
    return select_comments(viewer).where(
        key_in(COMMENTS.id, as_array=as_array),
        visible_comments(viewer),
        COMMENTS.post_id.in_(visible_post_ids),
    )


@lru_cache(maxsize=64)
def comment_counts_statement(viewer: Viewer, as_array: bool) -> Select[Any]:
    return (
        sa.select(COMMENTS.post_id, sa.func.count())
        .where(key_in(COMMENTS.post_id, as_array=as_array), visible_comments(viewer))
        .group_by(COMMENTS.post_id)
    )


@lru_cache(maxsize=64)
def reply_counts_statement(viewer: Viewer, as_array: bool) -> Select[Any]:
    return (
        sa.select(COMMENTS.parent_id, sa.func.count())
        .where(key_in(COMMENTS.parent_id, as_array=as_array), visible_comments(viewer))
        .group_by(COMMENTS.parent_id)
    )


@lru_cache(maxsize=64)
def top_level_comment_counts_statement(viewer: Viewer, as_array: bool) -> Select[Any]:
    return comment_counts_statement(viewer, as_array).where(COMMENTS.parent_id.is_(None))


def _moderation_queue_statement(request: PageRequest) -> Select[Any]:
    statement = select_comments(EDITOR_VIEW).where(
        COMMENTS.status == sa.bindparam("status", type_=COMMENTS.status.type)
    )
    return paginate(statement, sort=COMMENT_SORT, request=request)


# The queue is for editors and admins (checked by the field), who see every comment.
EDITOR_VIEW = Viewer(role=Role.EDITOR)


async def moderation_queue(
    database: Database, *, status: CommentStatus, request: PageRequest
) -> Page[Row[Any]]:
    """Comments in one moderation status, oldest first (those waiting longest)."""
    statement = _moderation_queue_statement(page_shape(request))
    parameters = {"status": status.value, **page_parameters(request)}
    rows = await fetch_all(database, statement, parameters)
    return to_page(rows, sort=COMMENT_SORT, request=request, items=list(rows))


async def count_moderation_queue(database: Database, *, status: CommentStatus) -> int:
    statement = sa.select(sa.func.count()).where(COMMENTS.status == status.value)
    rows = await fetch_all(database, statement)
    return int(rows[0][0])
