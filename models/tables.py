"""Every table, imported in one place so that SQLModel.metadata is complete (Alembic, tests)."""

from sqlmodel import SQLModel

from models.comment import Comment, CommentStatus
from models.post import Post, PostStatus
from models.tag import PostTag, Tag
from models.user import Role, User

metadata = SQLModel.metadata

__all__ = [
    "Comment",
    "CommentStatus",
    "Post",
    "PostStatus",
    "PostTag",
    "Role",
    "Tag",
    "User",
    "metadata",
]
