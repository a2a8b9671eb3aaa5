"""Reading comments: their columns and order, and the moderation queue. Which comments a post
or a comment reaches (top-level ones, replies, counts, by id) is resolvers/relations.py's."""

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Row
from sqlalchemy.sql import FromClause, Select

from models.database import Database, fetch_all
from models.tables import CommentStatus, Role, comments_table
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
from resolvers.visibility import Viewer

COMMENTS = comments_table.c

COMMENT_COLUMNS = (
    COMMENTS.id,
    COMMENTS.post_id,
    COMMENTS.author_id,
    COMMENTS.parent_id,
    COMMENTS.body,
    COMMENTS.status,
    COMMENTS.created_at,
)


def select_comments(viewer: Viewer, source: FromClause = comments_table) -> Select[Any]:
    """Comment columns with the author's joined in."""
    return sa.select(*COMMENT_COLUMNS, *JOINED_AUTHOR_COLUMNS).select_from(
        join_author(viewer, source, COMMENTS.author_id)
    )


# Conversations read oldest first.
COMMENT_SORT = Sort("created", COMMENTS.created_at, COMMENTS.id, datetime, False)


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
