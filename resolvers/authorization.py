"""Object-level rules, in one place: who may change which post or comment.

Field-level rules (signed in, role) are Strawberry permission classes in schema/permissions.py;
these take the row being changed.
"""

from typing import Any

from sqlalchemy.engine import Row

from models.tables import Role
from resolvers.errors import ForbiddenError
from resolvers.visibility import Viewer

WRITER_ROLES = frozenset({Role.AUTHOR, Role.EDITOR, Role.ADMIN})


def may_write_posts(viewer: Viewer) -> bool:
    return viewer.role in WRITER_ROLES


def may_moderate(viewer: Viewer) -> bool:
    return viewer.sees_everything


def require_post_editor(viewer: Viewer, post: Row[Any]) -> None:
    """Authors change their own posts; editors and admins any post."""
    if viewer.sees_everything or (viewer.role in WRITER_ROLES and post.author_id == viewer.user_id):
        return
    raise ForbiddenError("Only the post's author or an editor can change this post.")


def require_comment_author(viewer: Viewer, comment: Row[Any]) -> None:
    if comment.author_id != viewer.user_id:
        raise ForbiddenError("Only the comment's author can edit it.")


def require_comment_remover(viewer: Viewer, comment: Row[Any]) -> None:
    if comment.author_id != viewer.user_id and not may_moderate(viewer):
        raise ForbiddenError("Only the comment's author or an editor can delete it.")
