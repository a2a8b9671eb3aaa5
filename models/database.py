"""The async engine and session factory, configured from settings."""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    create_async_engine,
)
from sqlalchemy.pool import NullPool
from sqlalchemy.sql import Executable

from settings import Settings


@dataclass(frozen=True, slots=True)
class Database:
    engine: AsyncEngine
    # The same pool in autocommit mode: a read is one round trip, with no BEGIN and ROLLBACK
    # around it. Reads of one request already run on separate connections (loaders run
    # concurrently), so a transaction per read would buy no consistency.
    reader: AsyncEngine

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    async def dispose(self) -> None:
        await self.engine.dispose()


def _enable_sqlite_integrity(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


def create_engine(settings: Settings) -> AsyncEngine:
    if settings.is_sqlite:
        engine = create_async_engine(
            settings.database_url,
            echo=settings.database_echo,
            pool_size=settings.database_pool_size,
            max_overflow=settings.database_max_overflow,
            pool_timeout=settings.database_pool_timeout_seconds,
        )
        event.listen(engine.sync_engine, "connect", _enable_sqlite_integrity)
        return engine
    return create_async_engine(
        settings.database_url,
        echo=settings.database_echo,
        pool_size=settings.database_pool_size,
        max_overflow=settings.database_max_overflow,
        pool_timeout=settings.database_pool_timeout_seconds,
        pool_pre_ping=False,
        connect_args={"server_settings": {"application_name": "quire"}},
    )


def create_database(settings: Settings) -> Database:
    engine = create_engine(settings)
    return Database(
        engine=engine,
        reader=engine.execution_options(isolation_level="AUTOCOMMIT"),
    )


def create_unpooled_engine(url: str) -> AsyncEngine:
    """For one-shot tools (migrations, seeding) that should leave no idle connection behind."""
    engine = create_async_engine(url, poolclass=NullPool)
    if engine.dialect.name == "sqlite":
        event.listen(engine.sync_engine, "connect", _enable_sqlite_integrity)
    return engine


async def fetch_all(
    database: Database, statement: Executable, parameters: dict[str, Any] | None = None
) -> Sequence[Row[Any]]:
    """Run one read statement on a short-lived pooled connection."""
    async with database.reader.connect() as connection:
        result = await connection.execute(statement, parameters)
        return result.all()
