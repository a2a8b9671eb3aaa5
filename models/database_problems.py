"""Why the database cannot be used, in one line that says what to do about it.

`database_problem` classifies the exception of a failed connect by its type (never by a driver's
message text). `summary` is safe for HTTP (/readyz): no host, user or database name. `advice`
is for the operator's shell (`quire migrate`, `quire check`, the start-up log) and names the
place from DATABASE_URL, without its password.
"""

import os
import socket
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import sqlalchemy as sa
from sqlalchemy.engine import URL


@dataclass(frozen=True, slots=True)
class DatabaseProblem:
    summary: str
    advice: str


def _causes(error: BaseException) -> list[BaseException]:
    """The error, the driver error SQLAlchemy wraps, and their causes."""
    chain: list[BaseException] = []
    current: BaseException | None = error
    while current is not None and current not in chain and len(chain) < 10:
        chain.append(current)
        wrapped = getattr(current, "orig", None)
        current = wrapped if isinstance(wrapped, BaseException) else current.__cause__
    return chain


def _where(url: URL) -> str:
    return f"{url.host or 'localhost'}:{url.port or 5432}"


def _postgresql_problem(error: BaseException, url: URL) -> DatabaseProblem | None:
    where, name, user = _where(url), url.database or "postgres", url.username or "postgres"
    if isinstance(error, asyncpg.InvalidCatalogNameError):
        return DatabaseProblem(
            "database does not exist",
            f'PostgreSQL at {where} has no database "{name}": create it '
            f"(createdb -h {url.host or 'localhost'} -U {user} {name}) or fix DATABASE_URL.",
        )
    if isinstance(
        error, asyncpg.InvalidAuthorizationSpecificationError | asyncpg.InvalidPasswordError
    ):
        return DatabaseProblem(
            "credentials refused",
            f'PostgreSQL at {where} refused user "{user}": fix the user or password in '
            "DATABASE_URL.",
        )
    if isinstance(error, socket.gaierror):
        return DatabaseProblem(
            "host not found",
            f'The database host "{url.host}" cannot be resolved: fix DATABASE_URL.',
        )
    if isinstance(error, TimeoutError):
        return DatabaseProblem(
            "connection timed out",
            f"PostgreSQL at {where} did not answer in time: check that it runs and that this "
            "machine may reach it.",
        )
    if isinstance(error, OSError):
        return DatabaseProblem(
            "connection refused",
            f"Nothing accepts connections at {where}: start PostgreSQL, or fix DATABASE_URL.",
        )
    return None


def _sqlite_problem(url: URL) -> DatabaseProblem | None:
    directory = Path(url.database or ".").resolve().parent
    if not directory.is_dir():
        return DatabaseProblem(
            "file cannot be opened",
            f"The SQLite file's directory {directory} does not exist: create it or fix "
            "DATABASE_URL.",
        )
    if not os.access(directory, os.W_OK):
        return DatabaseProblem(
            "file cannot be opened",
            f"The SQLite file's directory {directory} is not writable: fix its permissions or "
            "DATABASE_URL.",
        )
    return None


def find_database_problem(
    error: BaseException, *, database_url: str | URL
) -> DatabaseProblem | None:
    """The problem with reaching the database that `error` shows; None when it shows another
    kind of failure (a bug, a failing statement), which deserves its traceback."""
    url = sa.engine.make_url(database_url)
    if url.get_backend_name() == "sqlite":
        return _sqlite_problem(url)
    found = (_postgresql_problem(cause, url) for cause in _causes(error))
    return next((p for p in found if p is not None), None)


def database_problem(error: BaseException, *, database_url: str | URL) -> DatabaseProblem:
    problem = find_database_problem(error, database_url=database_url)
    return problem or DatabaseProblem(
        f"unreachable ({type(error).__name__})",
        f"The database failed ({type(error).__name__}): check DATABASE_URL and that the server "
        "runs.",
    )
