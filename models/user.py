import enum
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from models.columns import UTCDateTime, enum_column, utc_now


class Role(enum.StrEnum):
    READER = "READER"
    AUTHOR = "AUTHOR"
    EDITOR = "EDITOR"
    ADMIN = "ADMIN"


class User(SQLModel, table=True):
    __tablename__ = "users"

    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(max_length=40, unique=True)
    email: str = Field(max_length=254, unique=True)
    display_name: str = Field(max_length=100)
    bio: str = Field(default="", sa_type=sa.Text, sa_column_kwargs={"server_default": ""})
    avatar_url: str | None = Field(default=None, max_length=500)
    role: Role = Field(
        default=Role.READER, sa_column=enum_column(Role, nullable=False, server_default="READER")
    )
    password_hash: str | None = Field(default=None, max_length=255)
    is_active: bool = Field(default=True, sa_column_kwargs={"server_default": sa.true()})
    # Embedded in access tokens; bumped when the password, role or sessions change, which
    # revokes every access token issued before (see resolvers/context.py).
    token_version: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    created_at: datetime = Field(default_factory=utc_now, sa_type=UTCDateTime, nullable=False)
