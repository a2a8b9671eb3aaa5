import sqlalchemy as sa
from sqlmodel import Field, SQLModel


class Tag(SQLModel, table=True):
    __tablename__ = "tags"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=60, unique=True)
    slug: str = Field(max_length=80, unique=True)


class PostTag(SQLModel, table=True):
    __tablename__ = "post_tags"
    __table_args__ = (sa.Index("ix_post_tags_tag_id_post_id", "tag_id", "post_id"),)

    post_id: int = Field(
        sa_column=sa.Column(
            sa.ForeignKey("posts.id", ondelete="CASCADE"), primary_key=True, nullable=False
        )
    )
    tag_id: int = Field(
        sa_column=sa.Column(
            sa.ForeignKey("tags.id", ondelete="CASCADE"), primary_key=True, nullable=False
        )
    )
