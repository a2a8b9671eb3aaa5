"""Demo data: realistic shape, and never written over existing content by accident."""

from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from cli import main
from models.columns import utc_now
from models.database import Database
from models.migrations import upgrade
from models.seed import seed_database, seed_demo_publication
from models.tables import comments_table, posts_table, users_table
from models.volume_data import SeedSizes
from settings import Settings
from tests.demo import seed_demo
from tests.graphql import data

SMALL = SeedSizes(authors=3, readers=4, posts=12, comments=40, tags=5)


async def _count(database: Database, table: sa.Table) -> int:
    async with database.engine.connect() as connection:
        return int(await connection.scalar(sa.select(sa.func.count()).select_from(table)) or 0)


async def test_seed_writes_users_posts_and_threaded_comments(
    database: Database, database_url: str
) -> None:
    assert await seed_database(database_url, sizes=SMALL, random_seed=7)

    assert await _count(database, users_table) == 7
    assert await _count(database, posts_table) == 12
    assert await _count(database, comments_table) == 40
    async with database.engine.connect() as connection:
        replies = await connection.scalar(
            sa.select(sa.func.count()).where(comments_table.c.parent_id.is_not(None))
        )
    assert replies


async def test_seed_if_empty_leaves_existing_content(database: Database, database_url: str) -> None:
    await seed_database(database_url, sizes=SMALL, random_seed=7)

    created = await seed_database(database_url, sizes=SMALL, random_seed=8, if_empty=True)

    assert created is False
    assert await _count(database, posts_table) == 12


LOG_IN = """
mutation ($input: LogInInput!) { logIn(input: $input) { user { username role } errors { code } } }
"""


async def test_demo_publication_has_one_account_per_role_that_signs_in(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    credentials = await seed_demo(settings)

    signed_in = []
    for account in credentials:
        variables = {"input": {"usernameOrEmail": account.username, "password": account.password}}
        signed_in.append((await data(client, LOG_IN, variables))["logIn"]["user"])

    assert signed_in == [
        {"username": "margaret", "role": "ADMIN"},
        {"username": "grace", "role": "EDITOR"},
        {"username": "ada", "role": "AUTHOR"},
        {"username": "sam", "role": "READER"},
    ]


async def test_demo_publication_has_drafts_scheduled_posts_and_pending_comments(
    database: Database, settings: Settings
) -> None:
    await seed_demo(settings)

    async with database.engine.connect() as connection:
        post_states = (
            await connection.execute(
                sa.select(posts_table.c.status, posts_table.c.published_at > utc_now())
            )
        ).all()
        comment_states = set(await connection.scalars(sa.select(comments_table.c.status)))
        replies = await connection.scalar(
            sa.select(sa.func.count()).where(comments_table.c.parent_id.is_not(None))
        )
    assert ("DRAFT", None) in post_states
    assert ("PUBLISHED", True) in post_states
    assert comment_states == {"APPROVED", "PENDING", "REJECTED"}
    assert replies


async def test_demo_publication_without_passwords_lets_no_account_sign_in(
    database: Database, settings: Settings
) -> None:
    credentials = await seed_demo_publication(settings.database_url, passwords=None, reset=True)

    assert credentials == []
    async with database.engine.connect() as connection:
        hashes = set(await connection.scalars(sa.select(users_table.c.password_hash)))
    assert hashes == {None}


def test_quire_seed_prints_demo_passwords_in_development_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'demo.db'}"
    upgrade(url)
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("QUIRE_ARGON2_MEMORY_COST_KIB", "8")
    monkeypatch.setenv("QUIRE_ARGON2_PARALLELISM", "1")
    monkeypatch.setenv("QUIRE_ARGON2_TIME_COST", "1")

    main(["seed"])
    development = capsys.readouterr().out
    monkeypatch.setenv("QUIRE_ENV", "production")
    monkeypatch.setenv("QUIRE_SECRET_KEY", "a-production-secret-of-enough-length-0123456789")
    main(["seed", "--reset"])
    production = capsys.readouterr().out

    assert [line.split()[:2] for line in development.splitlines()[2:]] == [
        ["admin", "margaret"],
        ["editor", "grace"],
        ["author", "ada"],
        ["reader", "sam"],
    ]
    assert "margaret" not in production
    assert "no password in production" in production
