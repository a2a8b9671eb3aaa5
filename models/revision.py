from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from models.columns import UTCDateTime, utc_now


class PostRevision(SQLModel, table=True):
    """One saved version of a post's content: who saved it, when, the whole content as it
    stood afterwards, and which of its fields that save changed."""

    __tablename__ = "post_revisions"
    __table_args__ = (sa.Index("ix_post_revisions_post_id_id", "post_id", "id"),)

    id: int | None = Field(default=None, primary_key=True)
    post_id: int = Field(
        sa_column=sa.Column(sa.ForeignKey("posts.id", ondelete="CASCADE"), nullable=False)
    )
    author_id: int = Field(
        sa_column=sa.Column(sa.ForeignKey("users.id", ondelete="RESTRICT"), nullable=False)
    )
    title: str = Field(max_length=200)
    excerpt: str = Field(sa_type=sa.Text)
    body: str = Field(sa_type=sa.Text)
    # Tag names, as a JSON array (the tags themselves may be renamed or deleted later).
    tags: str = Field(sa_type=sa.Text)
    # The fields this save changed, comma-separated: title, excerpt, body, tags.
    changed_fields: str = Field(max_length=40)
    restored_from_id: int | None = Field(
        default=None,
        sa_column=sa.Column(sa.ForeignKey("post_revisions.id", ondelete="SET NULL"), nullable=True),
    )
    created_at: datetime = Field(default_factory=utc_now, sa_type=UTCDateTime, nullable=False)
