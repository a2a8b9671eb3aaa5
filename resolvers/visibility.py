"""Who may see what: the one place that turns a viewer into SQL conditions.

Every list, lookup, count and nested connection filters through these functions, so that a
row hidden from a viewer is hidden everywhere alike.
"""

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.sql import ColumnElement

from models.columns import UTCDateTime, utc_now
from models.tables import (
    CommentStatus,
    PostStatus,
    Role,
    comments_table,
    posts_table,
    users_table,
)

_POSTS = posts_table.c
_COMMENTS = comments_table.c
_USERS = users_table.c

AUTHOR_ROLES = (Role.AUTHOR, Role.EDITOR, Role.ADMIN)


@dataclass(frozen=True, slots=True)
class Viewer:
    """The caller of one request. Anonymous until accounts exist."""

    user_id: int | None = None
    role: Role | None = None


ANONYMOUS = Viewer()


def visible_posts(viewer: Viewer) -> ColumnElement[bool]:
    """Published posts whose publication time has come (the time read when the statement runs,
    so that statements can be built once and reused)."""
    now = sa.bindparam("now", callable_=utc_now, type_=UTCDateTime())
    return sa.and_(_POSTS.status == PostStatus.PUBLISHED.value, _POSTS.published_at <= now)


def visible_comments(viewer: Viewer) -> ColumnElement[bool]:
    condition: ColumnElement[bool] = _COMMENTS.status == CommentStatus.APPROVED.value
    return condition


def visible_users(viewer: Viewer) -> ColumnElement[bool]:
    condition: ColumnElement[bool] = _USERS.is_active.is_(True)
    return condition
