"""The `quire` command says in one line what it did, or what is wrong and what to do: never
silence on success, never a traceback for a database that cannot be used."""

import os
import subprocess
from pathlib import Path

import sqlalchemy as sa

from models.migrations import head_revision
from tests.conftest import POSTGRES_ADMIN_DSN
from tests.live import VENV_BIN, free_port

ADMIN = sa.engine.make_url(POSTGRES_ADMIN_DSN)
MISSING_DATABASE = ADMIN.set(
    drivername="postgresql+asyncpg", database="quire_cli_never_created"
).render_as_string(hide_password=False)
HOW_TO_CREATE_IT = (
    f'PostgreSQL at {ADMIN.host}:{ADMIN.port or 5432} has no database "quire_cli_never_created": '
    f"create it (createdb -h {ADMIN.host} -U {ADMIN.username} quire_cli_never_created) or fix "
    "DATABASE_URL."
)


def _quire(*arguments: str, database_url: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - this venv's quire
        [str(VENV_BIN / "quire"), *arguments],
        env={**os.environ, "DATABASE_URL": database_url},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_migrate_says_what_it_migrated(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'quire.db'}"

    first = _quire("migrate", database_url=url)
    again = _quire("migrate", database_url=url)

    assert first.stdout == f"Migrated the database from nothing to {head_revision()}.\n"
    assert (
        again.stdout == f"The database is already at migration {head_revision()}: nothing to do.\n"
    )


def test_migrate_a_missing_database_is_one_line_that_says_how_to_create_it() -> None:
    result = _quire("migrate", database_url=MISSING_DATABASE)

    assert result.returncode == 1
    assert result.stderr.splitlines() == [HOW_TO_CREATE_IT]


def test_seed_with_postgresql_down_is_one_line() -> None:
    url = f"postgresql+asyncpg://postgres@127.0.0.1:{free_port()}/quire"

    result = _quire("seed", database_url=url)

    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"Nothing accepts connections at {url.split('@')[1].split('/')[0]}: start PostgreSQL, "
        "or fix DATABASE_URL."
    ]


def test_check_names_a_missing_database_and_what_to_do() -> None:
    result = _quire("check", database_url=MISSING_DATABASE)

    assert result.returncode == 1
    assert result.stdout.splitlines()[1:] == [
        "database: FAILED (database does not exist)",
        HOW_TO_CREATE_IT,
    ]


def test_export_schema_says_what_it_wrote(tmp_path: Path) -> None:
    output = tmp_path / "schema.graphql"
    url = f"sqlite+aiosqlite:///{tmp_path / 'quire.db'}"

    written = _quire("export-schema", "--output", str(output), database_url=url)
    unchanged = _quire("export-schema", "--output", str(output), database_url=url)

    lines = output.read_text().count("\n")
    assert written.stdout == f"{output}: written ({lines} lines)\n"
    assert unchanged.stdout == f"{output}: unchanged ({lines} lines)\n"
