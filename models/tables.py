"""Every table, imported in one place so that SQLModel.metadata is complete (Alembic, tests)."""

import sqlalchemy as sa
from sqlmodel import SQLModel

from models.comment import Comment, CommentStatus
from models.post import Post, PostStatus
from models.preview_token import PreviewToken
from models.refresh_token import RefreshToken
from models.revision import PostRevision
from models.tag import PostTag, Tag
from models.user import Role, User
from models.webhook import DeliveryStatus, WebhookDelivery, WebhookEndpoint

metadata = SQLModel.metadata

# Typed handles on the Core tables: reads select columns, not ORM entities.
users_table: sa.Table = User.__table__  # type: ignore[attr-defined]
posts_table: sa.Table = Post.__table__  # type: ignore[attr-defined]
tags_table: sa.Table = Tag.__table__  # type: ignore[attr-defined]
post_tags_table: sa.Table = PostTag.__table__  # type: ignore[attr-defined]
comments_table: sa.Table = Comment.__table__  # type: ignore[attr-defined]
refresh_tokens_table: sa.Table = RefreshToken.__table__  # type: ignore[attr-defined]
preview_tokens_table: sa.Table = PreviewToken.__table__  # type: ignore[attr-defined]
post_revisions_table: sa.Table = PostRevision.__table__  # type: ignore[attr-defined]
webhook_endpoints_table: sa.Table = WebhookEndpoint.__table__  # type: ignore[attr-defined]
webhook_deliveries_table: sa.Table = WebhookDelivery.__table__  # type: ignore[attr-defined]

__all__ = [
    "Comment",
    "CommentStatus",
    "DeliveryStatus",
    "Post",
    "PostRevision",
    "PostStatus",
    "PostTag",
    "PreviewToken",
    "RefreshToken",
    "Role",
    "Tag",
    "User",
    "WebhookDelivery",
    "WebhookEndpoint",
    "comments_table",
    "metadata",
    "post_revisions_table",
    "post_tags_table",
    "posts_table",
    "preview_tokens_table",
    "refresh_tokens_table",
    "tags_table",
    "users_table",
    "webhook_deliveries_table",
    "webhook_endpoints_table",
]
