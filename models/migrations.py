"""Running Alembic programmatically, configured from pyproject.toml."""

from pathlib import Path

from alembic import command
from alembic.config import Config

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def alembic_config(database_url: str) -> Config:
    config = Config(toml_file=str(PROJECT_ROOT / "pyproject.toml"))
    config.attributes["database_url"] = database_url
    return config


def upgrade(database_url: str, *, revision: str = "head") -> None:
    command.upgrade(alembic_config(database_url), revision)


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
