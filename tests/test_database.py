"""Integrity the database itself enforces, on SQLite as on PostgreSQL."""

from datetime import timedelta

import pytest
import sqlalchemy as sa
from pydantic import ValidationError
from sqlalchemy.exc import IntegrityError

from models.columns import utc_now
from models.database import Database
from models.tables import comments_table, posts_table
from settings import Settings
from tests.factories import create_post, create_user


async def test_foreign_keys_are_enforced(database: Database) -> None:
    author = await create_user(database)
    orphan = {
        "post_id": 999_999,
        "author_id": author,
        "body": "Nobody's post.",
        "status": "APPROVED",
        "created_at": utc_now(),
    }

    with pytest.raises(IntegrityError):
        async with database.engine.begin() as connection:
            await connection.execute(sa.insert(comments_table), orphan)

    async with database.engine.connect() as connection:
        assert await connection.scalar(sa.select(sa.func.count()).select_from(comments_table)) == 0


async def test_slugs_are_unique(database: Database) -> None:
    author = await create_user(database)
    await create_post(database, author_id=author, slug="same")

    with pytest.raises(IntegrityError):
        await create_post(database, author_id=author, slug="same")


async def test_status_outside_the_enum_is_refused(database: Database) -> None:
    author = await create_user(database)
    now = utc_now()
    row = {
        "author_id": author,
        "title": "Odd",
        "slug": "odd",
        "status": "SECRET",
        "created_at": now,
        "updated_at": now - timedelta(seconds=1),
    }

    with pytest.raises(IntegrityError, match="ck_posts_poststatus"):
        async with database.engine.begin() as connection:
            await connection.execute(sa.insert(posts_table), row)


async def test_sqlite_runs_in_wal_mode(database: Database) -> None:
    if not database.is_sqlite:
        pytest.skip("SQLite only")
    async with database.engine.connect() as connection:
        mode = await connection.scalar(sa.text("PRAGMA journal_mode"))

    assert mode == "wal"


async def test_postgresql_connections_plan_each_statement_once(database: Database) -> None:
    if database.is_sqlite:
        pytest.skip("PostgreSQL only")
    async with database.engine.connect() as connection:
        mode = await connection.scalar(sa.text("SHOW plan_cache_mode"))

    assert mode == "force_generic_plan"


def test_unsupported_database_url_names_the_variable() -> None:
    with pytest.raises(ValidationError, match="DATABASE_URL must start with"):
        Settings(database_url="mysql://localhost/quire", _env_file=None)
