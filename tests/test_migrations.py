"""Migrations are the only way the schema changes: they must match the models and reverse."""

from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection

from models.database import Database, create_unpooled_engine
from models.migrations import alembic_config, include_object
from models.tables import metadata


def _differences(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(
        connection, opts={"compare_type": True, "include_object": include_object}
    )
    return list(compare_metadata(context, metadata))


async def test_migrated_database_matches_the_models(database: Database) -> None:
    async with database.engine.connect() as connection:
        differences = await connection.run_sync(_differences)

    assert differences == []


@pytest.mark.usefixtures("database")
async def test_migrations_downgrade_to_base_and_upgrade_again(database_url: str) -> None:
    config = alembic_config(database_url)
    engine = create_unpooled_engine(database_url)

    async with engine.connect() as connection:
        await connection.run_sync(_downgrade_and_upgrade, config)
        await connection.commit()
    await engine.dispose()


def _downgrade_and_upgrade(connection: Connection, config: Any) -> None:
    config.attributes["connection"] = connection
    command.downgrade(config, "base")
    command.upgrade(config, "head")
