"""Render on write: a post's sanitized HTML and reading time are stored when it is written (and
backfilled by migration 0005), equal to what reads computed from the body before."""

from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from alembic import command
from sqlalchemy import Connection

from models.columns import utc_now
from models.database import Database, create_unpooled_engine
from models.markdown import reading_time_minutes, render_html
from models.migrations import alembic_config
from models.tables import Role, posts_table
from resolvers.tokens import issue_access_token
from settings import Settings
from tests.factories import create_user
from tests.graphql import data

BODY = "# Title\n\nSome **bold** words.\n\n<script>alert(1)</script> [x](javascript:alert(1))"
NEW_BODY = " ".join(["word"] * 500) + "\n\n| a | b |\n|---|---|\n| 1 | 2 |"

CREATE = """
mutation Create($input: CreatePostInput!) {
  createPost(input: $input) { post { id updatedAt html readingTimeMinutes } errors { code } }
}
"""
UPDATE = """
mutation Update($input: UpdatePostInput!) {
  updatePost(input: $input) { post { html readingTimeMinutes } errors { code } }
}
"""
POSTS = posts_table.c


async def _stored(database: Database) -> tuple[str, int]:
    async with database.engine.connect() as connection:
        row = (await connection.execute(sa.select(POSTS.html, POSTS.reading_time_minutes))).one()
    return row.html, row.reading_time_minutes


async def _author_headers(database: Database, settings: Settings) -> dict[str, str]:
    user_id = await create_user(database, role=Role.AUTHOR)
    token, _ = issue_access_token(settings, user_id=user_id, role=Role.AUTHOR)
    return {"Authorization": f"Bearer {token}"}


async def test_created_post_stores_the_html_and_reading_time_reads_computed(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    client.headers.update(await _author_headers(database, settings))

    created = (await data(client, CREATE, {"input": {"title": "T", "body": BODY}}))["createPost"]

    assert await _stored(database) == (render_html(BODY), reading_time_minutes(BODY))
    assert created["post"]["html"] == render_html(BODY)
    assert created["post"]["readingTimeMinutes"] == reading_time_minutes(BODY)
    assert "<script" not in created["post"]["html"]


async def test_edited_body_is_rendered_again_and_other_edits_keep_it(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    client.headers.update(await _author_headers(database, settings))
    post = (await data(client, CREATE, {"input": {"title": "T", "body": BODY}}))["createPost"]
    edit = {"id": post["post"]["id"], "updatedAt": post["post"]["updatedAt"], "body": NEW_BODY}

    updated = (await data(client, UPDATE, {"input": edit}))["updatePost"]["post"]

    assert updated == {"html": render_html(NEW_BODY), "readingTimeMinutes": 3}
    assert await _stored(database) == (render_html(NEW_BODY), 3)


def _downgrade(connection: Connection, config: Any, revision: str) -> None:
    config.attributes["connection"] = connection
    command.downgrade(config, revision)


def _upgrade(connection: Connection, config: Any) -> None:
    config.attributes["connection"] = connection
    command.upgrade(config, "head")


def _insert_old_post(connection: Connection, author_id: int, number: int) -> None:
    old_posts = sa.table(
        "posts",
        *(sa.column(name) for name in ("author_id", "title", "slug", "body", "created_at")),
        sa.column("updated_at"),
    )
    now = utc_now().replace(tzinfo=None) if connection.dialect.name == "sqlite" else utc_now()
    connection.execute(
        sa.insert(old_posts),
        {
            "author_id": author_id,
            "title": f"Old {number}",
            "slug": f"old-{number}",
            "body": BODY if number % 2 else NEW_BODY,
            "created_at": now,
            "updated_at": now,
        },
    )


@pytest.mark.usefixtures("database")
async def test_migration_backfills_posts_written_before_it(
    database: Database, database_url: str
) -> None:
    author_id = await create_user(database)
    config = alembic_config(database_url)
    engine = create_unpooled_engine(database_url)
    async with engine.connect() as connection:
        await connection.run_sync(_downgrade, config, "0005_editorial")
        for number in range(3):
            await connection.run_sync(_insert_old_post, author_id, number)
        await connection.run_sync(_upgrade, config)
        await connection.commit()
    await engine.dispose()

    async with database.engine.connect() as connection:
        rows = (
            await connection.execute(
                sa.select(POSTS.body, POSTS.html, POSTS.reading_time_minutes).order_by(POSTS.id)
            )
        ).all()
    assert [(row.html, row.reading_time_minutes) for row in rows] == [
        (render_html(body), reading_time_minutes(body)) for body in (NEW_BODY, BODY, NEW_BODY)
    ]
