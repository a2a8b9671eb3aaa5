"""A database that cannot be used is described in one line that says what to do, from the
real errors of real connection attempts."""

from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from models.database import Database, create_database
from models.database_problems import DatabaseProblem, database_problem
from models.health import database_advice
from models.migrations import head_revision
from settings import Settings
from tests.conftest import POSTGRES_ADMIN_DSN
from tests.live import free_port


async def _problem_of(url: str) -> DatabaseProblem:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as connection:
            await connection.execute(sa.text("SELECT 1"))
    except Exception as error:  # whatever the driver raises is the input
        return database_problem(error, database_url=url)
    finally:
        await engine.dispose()
    pytest.fail(f"{url} connected")


def _postgresql(database: str, *, port: int | None = None) -> str:
    url = sa.engine.make_url(POSTGRES_ADMIN_DSN).set(
        drivername="postgresql+asyncpg", database=database
    )
    if port is not None:
        url = url.set(port=port)
    return url.render_as_string(hide_password=False)


async def test_a_missing_postgresql_database_says_how_to_create_it() -> None:
    problem = await _problem_of(_postgresql("quire_no_such_database"))

    assert problem.summary == "database does not exist"
    assert 'has no database "quire_no_such_database": create it (createdb' in problem.advice


async def test_nothing_listening_says_to_start_postgresql() -> None:
    problem = await _problem_of(_postgresql("quire", port=free_port()))

    assert problem.summary == "connection refused"
    assert problem.advice.endswith("start PostgreSQL, or fix DATABASE_URL.")


async def test_a_sqlite_file_in_a_missing_folder_names_the_folder(tmp_path: Path) -> None:
    problem = await _problem_of(f"sqlite+aiosqlite:///{tmp_path / 'missing' / 'quire.db'}")

    assert problem.summary == "file cannot be opened"
    assert problem.advice == (
        f"The SQLite file's directory {tmp_path / 'missing'} does not exist: create it or fix "
        "DATABASE_URL."
    )


def test_the_summary_names_no_host_user_or_database() -> None:
    url = "postgresql+asyncpg://secretuser:pw@db.internal:5432/secretdb"

    problem = database_problem(ConnectionRefusedError(), database_url=url)

    assert problem.summary == "connection refused"
    assert "db.internal" not in problem.summary
    assert "pw" not in problem.advice


async def test_a_database_without_migrations_is_told_to_migrate(
    settings: Settings, tmp_path: Path
) -> None:
    database = create_database(
        settings.model_copy(update={"database_url": f"sqlite+aiosqlite:///{tmp_path / 'q.db'}"})
    )
    try:
        advice = await database_advice(database, head_revision())
    finally:
        await database.dispose()

    assert advice == (
        f"The database is at migration nothing, the code needs {head_revision()}: run "
        "`make migrate` (or .venv/bin/quire migrate)."
    )


async def test_a_migrated_database_needs_nothing(database: Database) -> None:
    assert await database_advice(database, head_revision()) is None
