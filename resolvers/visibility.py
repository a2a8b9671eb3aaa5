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
    """The caller of one request.

    Statements are cached per viewer (see the `lru_cache`d builders): anonymous callers share
    one entry; a signed-in user's statements carry their id as a bound value and are rebuilt
    when the bounded cache has dropped them.
    """

    user_id: int | None = None
    role: Role | None = None
    # A preview token's post (resolvers/previews.py): readable by lookup (post, node) whatever
    # its status; nothing else changes.
    preview_post_id: int | None = None

    @property
    def sees_everything(self) -> bool:
        """Editors and admins see drafts, archived posts and every comment."""
        return self.role in (Role.EDITOR, Role.ADMIN)


ANONYMOUS = Viewer()


def published_posts() -> ColumnElement[bool]:
    """Published posts whose publication time has come (the time read when the statement runs,
    so that statements can be built once and reused)."""
    now = sa.bindparam("now", callable_=utc_now, type_=UTCDateTime())
    return sa.and_(_POSTS.status == PostStatus.PUBLISHED.value, _POSTS.published_at <= now)


def viewer_id(viewer: Viewer) -> ColumnElement[int]:
    """The viewer's id as a named parameter: a compiled read builds its statement once per
    role and passes each viewer's id as `viewer_id` when it runs."""
    return sa.bindparam("viewer_id", viewer.user_id, type_=sa.Integer())


def visible_posts(viewer: Viewer) -> ColumnElement[bool]:
    """Everyone sees published posts; authors also their own drafts, scheduled and archived
    posts; editors and admins every post."""
    if viewer.sees_everything:
        return sa.true()
    if viewer.user_id is not None:
        return sa.or_(published_posts(), own_posts(viewer))
    return published_posts()


def own_posts(viewer: Viewer) -> ColumnElement[bool]:
    return _POSTS.author_id == viewer_id(viewer)


def visible_post_lookup(viewer: Viewer) -> ColumnElement[bool]:
    """Lookups of one post by id or slug: what `visible_posts` allows, and the post of the
    viewer's preview token. Lists, counts and nested connections never show a preview."""
    if viewer.preview_post_id is None:
        return visible_posts(viewer)
    return sa.or_(visible_posts(viewer), _POSTS.id == sa.literal(viewer.preview_post_id))


def visible_comments(viewer: Viewer) -> ColumnElement[bool]:
    """Everyone sees approved comments; authors also their own pending ones; editors and admins
    every comment, rejected ones included."""
    approved = _COMMENTS.status == CommentStatus.APPROVED.value
    if viewer.sees_everything:
        return sa.true()
    if viewer.user_id is not None:
        own_pending = sa.and_(
            _COMMENTS.status == CommentStatus.PENDING.value,
            _COMMENTS.author_id == viewer_id(viewer),
        )
        return sa.or_(approved, own_pending)
    return approved


def visible_users(viewer: Viewer) -> ColumnElement[bool]:
    condition: ColumnElement[bool] = _USERS.is_active.is_(True)
    return condition
