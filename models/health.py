"""Readiness: can this instance serve? The database answers, its schema is at the newest
migration, and Redis answers when it is configured. Each check is bounded in time.

The database is required: without it no request can be answered. Redis is not: rate limits,
persisted queries and events fail open or fall back without it, so an instance whose Redis is
down still serves and is only degraded."""

import asyncio
from dataclasses import dataclass

import sqlalchemy as sa
from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlalchemy.exc import SQLAlchemyError

from models.database import Database, connect
from models.database_problems import DatabaseProblem, database_problem

CHECK_TIMEOUT_SECONDS = 2.0


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    ok: bool
    detail: str
    # A failed required check means "do not send traffic here"; a failed optional one means
    # "serving, degraded" (every instance shares Redis: failing them all would stop the service).
    required: bool = True


@dataclass(frozen=True, slots=True)
class DatabaseState:
    revision: str | None
    problem: DatabaseProblem | None


async def probe_database(database: Database) -> DatabaseState:
    """Connects (bounded in time) and reads the migration the database is at."""
    try:
        async with asyncio.timeout(CHECK_TIMEOUT_SECONDS), connect(database.reader) as connection:
            await connection.execute(sa.text("SELECT 1"))
            has_versions = await connection.run_sync(
                lambda sync: sa.inspect(sync).has_table("alembic_version")
            )
            current = (
                await connection.scalar(sa.text("SELECT version_num FROM alembic_version"))
                if has_versions
                else None
            )
    except (TimeoutError, SQLAlchemyError, OSError) as error:
        return DatabaseState(None, database_problem(error, database_url=database.engine.url))
    return DatabaseState(current, None)


async def check_database(database: Database, head: str | None) -> list[Check]:
    state = await probe_database(database)
    if state.problem is not None:
        # The summary only: driver messages and the advice carry host names and user names.
        return [Check("database", False, state.problem.summary)]
    migrated = state.revision == head
    detail = (
        f"at {state.revision}"
        if migrated
        else f"at {state.revision or 'nothing'}, newest is {head}"
    )
    return [Check("database", True, "reachable"), Check("migrations", migrated, detail)]


async def database_advice(database: Database, head: str | None) -> str | None:
    """What an operator should do before this database can serve, in one line; None if
    nothing."""
    state = await probe_database(database)
    if state.problem is not None:
        return state.problem.advice
    if state.revision != head:
        return (
            f"The database is at migration {state.revision or 'nothing'}, the code needs {head}: "
            "run `make migrate` (or .venv/bin/quire migrate)."
        )
    return None


async def check_redis(redis: Redis | None) -> list[Check]:
    if redis is None:
        return []
    try:
        async with asyncio.timeout(CHECK_TIMEOUT_SECONDS):
            await redis.ping()
    except (TimeoutError, RedisError, OSError) as error:
        return [Check("redis", False, f"unreachable ({type(error).__name__})", required=False)]
    return [Check("redis", True, "reachable", required=False)]


async def readiness(database: Database, redis: Redis | None, head: str | None) -> list[Check]:
    database_checks, redis_checks = await asyncio.gather(
        check_database(database, head), check_redis(redis)
    )
    return [*database_checks, *redis_checks]


def readiness_status(checks: list[Check]) -> str:
    """ "ready", "degraded" (an optional dependency failed; still ready) or "not ready"."""
    if not all(check.ok for check in checks if check.required):
        return "not ready"
    return "ready" if all(check.ok for check in checks) else "degraded"
