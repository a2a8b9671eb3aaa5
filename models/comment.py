import enum
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from models.columns import UTCDateTime, enum_column, utc_now


class CommentStatus(enum.StrEnum):
    PENDING = "PENDING"
    APPROVED = "APPROVED"
    REJECTED = "REJECTED"


class Comment(SQLModel, table=True):
    __tablename__ = "comments"
    __table_args__ = (
        # Top-level comments of a post in time order, and replies of a comment.
        sa.Index(
            "ix_comments_post_id_parent_id_created_at_id",
            "post_id",
            "parent_id",
            "created_at",
            "id",
        ),
        sa.Index("ix_comments_parent_id_created_at_id", "parent_id", "created_at", "id"),
        sa.Index("ix_comments_author_id", "author_id"),
        # The moderation queue: one status, oldest first.
        sa.Index("ix_comments_status_created_at_id", "status", "created_at", "id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    post_id: int = Field(
        sa_column=sa.Column(sa.ForeignKey("posts.id", ondelete="CASCADE"), nullable=False)
    )
    author_id: int = Field(
        sa_column=sa.Column(sa.ForeignKey("users.id", ondelete="RESTRICT"), nullable=False)
    )
    parent_id: int | None = Field(
        default=None,
        sa_column=sa.Column(sa.ForeignKey("comments.id", ondelete="CASCADE"), nullable=True),
    )
    body: str = Field(sa_type=sa.Text)
    status: CommentStatus = Field(
        default=CommentStatus.PENDING,
        sa_column=enum_column(CommentStatus, nullable=False, server_default="PENDING"),
    )
    created_at: datetime = Field(default_factory=utc_now, sa_type=UTCDateTime, nullable=False)
