"""Running Alembic programmatically, configured from pyproject.toml."""

import asyncio
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy.exc import SQLAlchemyError

from models.database import Database, create_unpooled_engine
from models.database_problems import find_database_problem
from models.health import probe_database

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def alembic_config(database_url: str) -> Config:
    config = Config(toml_file=str(PROJECT_ROOT / "pyproject.toml"))
    config.attributes["database_url"] = database_url
    return config


def upgrade(database_url: str, *, revision: str = "head") -> None:
    command.upgrade(alembic_config(database_url), revision)


class DatabaseUnusable(Exception):
    """The database cannot be reached or opened; the message says what to do."""


def migrate(database_url: str, *, revision: str = "head") -> str:
    """`quire migrate`: upgrades and says in one line what happened. A database that cannot
    be used raises DatabaseUnusable with advice instead of Alembic's traceback."""
    before = _revision(database_url)
    try:
        upgrade(database_url, revision=revision)
    except (SQLAlchemyError, OSError) as error:
        problem = find_database_problem(error, database_url=database_url)
        if problem is None:
            raise
        raise DatabaseUnusable(problem.advice) from None
    after = _revision(database_url)
    if before == after:
        return f"The database is already at migration {after}: nothing to do."
    return f"Migrated the database from {before or 'nothing'} to {after}."


def _revision(database_url: str) -> str | None:
    async def probe() -> str | None:
        engine = create_unpooled_engine(database_url)
        database = Database(
            engine=engine, reader=engine.execution_options(isolation_level="AUTOCOMMIT")
        )
        try:
            state = await probe_database(database)
        finally:
            await engine.dispose()
        if state.problem is not None:
            raise DatabaseUnusable(state.problem.advice)
        return state.revision

    return asyncio.run(probe())


def include_object(
    object: object, name: str | None, type_: str, reflected: bool, compare_to: object
) -> bool:
    """Search structures live only in migration 0002 (FTS5 tables, tsvector column, GIN index);
    autogenerate must not try to drop them."""
    if type_ == "table" and name is not None and name.startswith("posts_fts"):
        return False
    return name not in {"search_vector", "ix_posts_search_vector"}


def head_revision() -> str | None:
    """The newest migration in migrations/versions (what `quire migrate` upgrades to)."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config("")).get_current_head()
