"""Alembic environment: async engine, URL from Quire's settings unless the caller passes one."""

import asyncio

from alembic import context
from sqlalchemy.engine import Connection

import models.tables
from models.database import create_unpooled_engine
from models.migrations import include_object
from settings import Settings

target_metadata = models.tables.metadata


def _database_url() -> str:
    configured = context.config.attributes.get("database_url")
    return str(configured) if configured else Settings().database_url


def _run_migrations(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        include_object=include_object,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_async_migrations() -> None:
    engine = create_unpooled_engine(_database_url())
    async with engine.connect() as connection:
        await connection.run_sync(_run_migrations)
        await connection.commit()
    await engine.dispose()


def run_migrations_online() -> None:
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _run_migrations(connection)
        return
    asyncio.run(_run_async_migrations())


if context.is_offline_mode():
    raise SystemExit("Quire migrations run online only: use `quire migrate`.")
run_migrations_online()
