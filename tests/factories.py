"""Plain async factories that write rows through the database under test."""

from datetime import datetime, timedelta
from itertools import count
from typing import Any

import sqlalchemy as sa

from models.columns import utc_now
from models.database import Database
from models.markdown import rendered
from models.tables import (
    CommentStatus,
    PostStatus,
    Role,
    comments_table,
    post_revisions_table,
    post_tags_table,
    posts_table,
    tags_table,
    users_table,
)

_sequence = count(1)


async def _insert(database: Database, table: Any, values: dict[str, Any]) -> int:
    async with database.engine.begin() as connection:
        result = await connection.execute(sa.insert(table).returning(table.c.id), values)
        return int(result.scalar_one())


async def create_user(
    database: Database, *, username: str | None = None, role: Role = Role.AUTHOR, **fields: Any
) -> int:
    number = next(_sequence)
    username = username or f"user{number}"
    values = {
        "username": username,
        "email": f"{username}@example.com",
        "display_name": fields.pop("display_name", f"User {number}"),
        "role": role,
        "created_at": utc_now(),
        **fields,
    }
    return await _insert(database, users_table, values)


async def create_post(
    database: Database,
    *,
    author_id: int,
    title: str | None = None,
    body: str = "Some words in a body.",
    status: PostStatus = PostStatus.PUBLISHED,
    published_at: datetime | None = None,
    **fields: Any,
) -> int:
    number = next(_sequence)
    title = title or f"Post {number}"
    now = utc_now()
    if status is not PostStatus.DRAFT and published_at is None:
        published_at = now - timedelta(hours=1)
    values = {
        "author_id": author_id,
        "title": title,
        "slug": fields.pop("slug", f"post-{number}"),
        "body": body,
        **rendered(body),
        "status": status,
        "published_at": published_at,
        "created_at": now - timedelta(days=1),
        "updated_at": now,
        **fields,
    }
    return await _insert(database, posts_table, values)


async def create_tag(database: Database, *, name: str) -> int:
    values = {"name": name, "slug": name.lower().replace(" ", "-")}
    return await _insert(database, tags_table, values)


async def tag_post(database: Database, *, post_id: int, tag_id: int) -> None:
    async with database.engine.begin() as connection:
        await connection.execute(
            sa.insert(post_tags_table),
            {"post_id": post_id, "tag_id": tag_id},
        )


async def create_comment(
    database: Database,
    *,
    post_id: int,
    author_id: int,
    body: str = "A comment.",
    parent_id: int | None = None,
    status: CommentStatus = CommentStatus.APPROVED,
    created_at: datetime | None = None,
) -> int:
    values = {
        "post_id": post_id,
        "author_id": author_id,
        "parent_id": parent_id,
        "body": body,
        "status": status,
        "created_at": created_at or utc_now(),
    }
    return await _insert(database, comments_table, values)


async def create_revision(
    database: Database, *, post_id: int, author_id: int, title: str = "A revision"
) -> int:
    values = {
        "post_id": post_id,
        "author_id": author_id,
        "title": title,
        "excerpt": "",
        "body": "Some words in a body.",
        "tags": "[]",
        "changed_fields": "title,excerpt,body,tags",
        "created_at": utc_now(),
    }
    return await _insert(database, post_revisions_table, values)
