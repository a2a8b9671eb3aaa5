"""Fixtures: every test runs on SQLite and on PostgreSQL, each a fresh migrated database.

A backend's database is created and migrated once per run and emptied before each test.
PostgreSQL is skipped when unreachable on a developer machine, and fails the run on CI.
"""

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from app import close_services, create_app
from models.database import Database
from models.migrations import upgrade
from settings import Settings

POSTGRES_ADMIN_DSN = os.environ.get(
    "QUIRE_TEST_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/postgres"
)
TABLES_IN_DELETE_ORDER = (
    "webhook_deliveries",
    "webhook_endpoints",
    "preview_tokens",
    "post_revisions",
    "refresh_tokens",
    "post_tags",
    "comments",
    "posts",
    "tags",
    "users",
)
ON_CI = os.environ.get("CI") == "true"


async def _postgres(statement: str) -> None:
    connection = await asyncpg.connect(POSTGRES_ADMIN_DSN)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


def _run(coroutine: Any) -> Any:
    import asyncio

    return asyncio.run(coroutine)


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    if request.param == "sqlite":
        path = Path(tmp_path_factory.mktemp("sqlite")) / "quire-test.db"
        url = f"sqlite+aiosqlite:///{path}"
        upgrade(url)
        yield url
        return
    name = f"quire_test_{uuid.uuid4().hex[:12]}"
    try:
        _run(_postgres(f'CREATE DATABASE "{name}"'))
    except (OSError, asyncpg.PostgresError) as error:
        if ON_CI:
            pytest.fail(f"PostgreSQL is required on CI and unreachable: {error}")
        pytest.skip(f"PostgreSQL unreachable ({error}); set QUIRE_TEST_POSTGRES_DSN")
    admin = sa.engine.make_url(POSTGRES_ADMIN_DSN)
    url = str(
        admin.set(drivername="postgresql+asyncpg", database=name).render_as_string(
            hide_password=False
        )
    )
    try:
        upgrade(url)
        yield url
    finally:
        _run(_postgres(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="session")
def settings(database_url: str) -> Settings:
    return Settings(
        database_url=database_url,
        database_pool_size=5,
        gc_freeze=False,
        # argon2's cheapest parameters: tests check behaviour, not hashing cost.
        argon2_time_cost=1,
        argon2_memory_cost_kib=8,
        argon2_parallelism=1,
        # Factories write to the database directly, past the writes that drop cache tags:
        # the response cache is on in the tests of it (tests/test_caching.py).
        response_cache=False,
        _env_file=None,
    )


@pytest.fixture(scope="session")
async def app(settings: Settings) -> AsyncIterator[Any]:
    application = create_app(settings)
    yield application
    await application.state.database.dispose()


async def empty_tables(database: Database) -> None:
    async with database.engine.begin() as connection:
        if database.is_sqlite:
            for table in TABLES_IN_DELETE_ORDER:
                await connection.execute(sa.text(f"DELETE FROM {table}"))  # noqa: S608
        else:
            tables = ", ".join(TABLES_IN_DELETE_ORDER)
            await connection.execute(sa.text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))


@pytest.fixture
async def database(app: Any) -> Database:
    database: Database = app.state.database
    await empty_tables(database)
    return database


@pytest.fixture
async def client(app: Any, database: Database) -> AsyncIterator[httpx.AsyncClient]:
    await app.state.login_throttle.clear()
    if app.state.rate_limiter is not None:
        await app.state.rate_limiter.storage.reset()
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://quire.test") as client:
        yield client


@asynccontextmanager
async def client_of(
    settings: Settings, *, log: "StatementLog | None" = None, **overrides: Any
) -> AsyncIterator[httpx.AsyncClient]:
    """A client of an app built with other settings (its own pool, limiter and stores);
    `log` records the statements that app sends."""
    application = create_app(settings.model_copy(update=overrides))
    engine: Engine = application.state.database.engine.sync_engine
    if log is not None:
        sa.event.listen(engine, "before_cursor_execute", log)
    transport = httpx.ASGITransport(app=application)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://quire.test") as client:
            yield client
    finally:
        if log is not None:
            sa.event.remove(engine, "before_cursor_execute", log)
        state = application.state
        await close_services(state.database, state.rate_limiter, state.persisted)


REDIS_URL = os.environ.get("QUIRE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


@pytest.fixture
async def redis_prefix() -> AsyncIterator[str]:
    """A key prefix of this test's own on the test Redis, whose keys are deleted afterwards.
    Skipped when Redis is unreachable on a developer machine; fails the run on CI."""
    from redis.asyncio import Redis
    from redis.exceptions import RedisError

    client = Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        await client.ping()
    except (RedisError, OSError) as error:
        await client.aclose()
        if ON_CI:
            pytest.fail(f"Redis is required on CI and unreachable: {error}")
        pytest.skip(f"Redis unreachable ({error}); set QUIRE_TEST_REDIS_URL")
    prefix = f"quire-test-{uuid.uuid4().hex[:12]}"
    try:
        yield prefix
    finally:
        keys = [key async for key in client.scan_iter(match=f"{prefix}:*")]
        if keys:
            await client.delete(*keys)
        await client.aclose()


class StatementLog:
    """SQL statements sent to the database, counted with a SQLAlchemy event hook."""

    def __init__(self) -> None:
        self.statements: list[str] = []

    def __call__(self, _conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if not statement.lstrip().upper().startswith(("PRAGMA", "BEGIN", "COMMIT", "ROLLBACK")):
            self.statements.append(statement)

    def __len__(self) -> int:
        return len(self.statements)


@pytest.fixture
def statements(database: Database) -> Iterator[StatementLog]:
    log = StatementLog()
    engine: Engine = database.engine.sync_engine
    sa.event.listen(engine, "before_cursor_execute", log)
    yield log
    sa.event.remove(engine, "before_cursor_execute", log)
