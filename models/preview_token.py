from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from models.columns import UTCDateTime, utc_now


class PreviewToken(SQLModel, table=True):
    """A read-only preview of one post, handed to a frontend on another domain. The token
    itself is a signed JWT naming this row (its `jti`), so that it can be revoked; deleting the
    post deletes the row, which ends the token."""

    __tablename__ = "preview_tokens"
    __table_args__ = (sa.Index("ix_preview_tokens_post_id", "post_id"),)

    id: int | None = Field(default=None, primary_key=True)
    jti: str = Field(max_length=64, unique=True)
    post_id: int = Field(
        sa_column=sa.Column(sa.ForeignKey("posts.id", ondelete="CASCADE"), nullable=False)
    )
    created_by: int = Field(
        sa_column=sa.Column(sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False)
    )
    created_at: datetime = Field(default_factory=utc_now, sa_type=UTCDateTime, nullable=False)
    expires_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
