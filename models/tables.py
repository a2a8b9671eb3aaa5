"""Every table, imported in one place so that SQLModel.metadata is complete (Alembic, tests)."""

import sqlalchemy as sa
from sqlmodel import SQLModel

from models.comment import Comment, CommentStatus
from models.post import Post, PostStatus
from models.refresh_token import RefreshToken
from models.tag import PostTag, Tag
from models.user import Role, User

metadata = SQLModel.metadata

# Typed handles on the Core tables: reads select columns, not ORM entities.
users_table: sa.Table = User.__table__  # type: ignore[attr-defined]
posts_table: sa.Table = Post.__table__  # type: ignore[attr-defined]
tags_table: sa.Table = Tag.__table__  # type: ignore[attr-defined]
post_tags_table: sa.Table = PostTag.__table__  # type: ignore[attr-defined]
comments_table: sa.Table = Comment.__table__  # type: ignore[attr-defined]
refresh_tokens_table: sa.Table = RefreshToken.__table__  # type: ignore[attr-defined]

__all__ = [
    "Comment",
    "CommentStatus",
    "Post",
    "PostStatus",
    "PostTag",
    "RefreshToken",
    "Role",
    "Tag",
    "User",
    "comments_table",
    "metadata",
    "post_tags_table",
    "posts_table",
    "refresh_tokens_table",
    "tags_table",
    "users_table",
]
