import enum
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from models.columns import UTCDateTime, enum_column, utc_now


class PostStatus(enum.StrEnum):
    DRAFT = "DRAFT"
    PUBLISHED = "PUBLISHED"
    ARCHIVED = "ARCHIVED"


class Post(SQLModel, table=True):
    __tablename__ = "posts"
    __table_args__ = (
        # Public lists: published posts newest first, keyset on (published_at, id).
        sa.Index("ix_posts_status_published_at_id", "status", "published_at", "id"),
        sa.Index("ix_posts_status_title_id", "status", "title", "id"),
        sa.Index("ix_posts_author_id_published_at_id", "author_id", "published_at", "id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    author_id: int = Field(
        sa_column=sa.Column(sa.ForeignKey("users.id", ondelete="RESTRICT"), nullable=False)
    )
    title: str = Field(max_length=200)
    slug: str = Field(max_length=220, unique=True)
    excerpt: str = Field(default="", sa_type=sa.Text, sa_column_kwargs={"server_default": ""})
    body: str = Field(default="", sa_type=sa.Text, sa_column_kwargs={"server_default": ""})
    # Rendered from the body on every write (models/markdown.py::rendered), read as stored.
    html: str = Field(default="", sa_type=sa.Text, sa_column_kwargs={"server_default": ""})
    reading_time_minutes: int = Field(default=1, sa_column_kwargs={"server_default": "1"})
    status: PostStatus = Field(
        default=PostStatus.DRAFT,
        sa_column=enum_column(PostStatus, nullable=False, server_default="DRAFT"),
    )
    published_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = Field(default_factory=utc_now, sa_type=UTCDateTime, nullable=False)
    updated_at: datetime = Field(default_factory=utc_now, sa_type=UTCDateTime, nullable=False)
