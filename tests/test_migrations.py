"""Migrations are the only way the schema changes: they must match the models and reverse."""

from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection

from models.database import Database, create_unpooled_engine
from models.migrations import (
    DatabaseUnusable,
    alembic_config,
    head_revision,
    include_object,
    migrate,
)
from models.tables import metadata
from tests.conftest import POSTGRES_ADMIN_DSN


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


def test_migrate_says_what_it_did(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'quire.db'}"

    first = migrate(url)
    again = migrate(url)

    assert first == f"Migrated the database from nothing to {head_revision()}."
    assert again == f"The database is already at migration {head_revision()}: nothing to do."


def test_migrate_a_missing_postgresql_database_says_how_to_create_it() -> None:
    url = sa.engine.make_url(POSTGRES_ADMIN_DSN).set(
        drivername="postgresql+asyncpg", database="quire_never_created"
    )

    with pytest.raises(DatabaseUnusable) as refused:
        migrate(url.render_as_string(hide_password=False))

    assert 'has no database "quire_never_created": create it (createdb' in str(refused.value)
