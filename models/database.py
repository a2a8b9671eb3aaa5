"""The async engine and session factory, configured from settings."""

import asyncio
import base64
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import event
from sqlalchemy.engine import ExceptionContext, Row
from sqlalchemy.exc import DBAPIError, DisconnectionError
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    create_async_engine,
)
from sqlalchemy.pool import NullPool
from sqlalchemy.sql import Executable

from settings import Settings

T = TypeVar("T")


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
        """Closes the pool once its connections are back (within a bound). A connection
        checked in after the pool was disposed goes back to a pool nobody closes, and is
        dropped unclosed: checkouts and check-ins that outlived their cancelled callers
        (connect()) and reads still running finish first."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + DISPOSE_GRACE_SECONDS
        while (left := deadline - loop.time()) > 0:
            if _DETACHED:
                await asyncio.wait(set(_DETACHED), timeout=left)
            elif _checked_out(self.engine) > 0:
                await asyncio.sleep(0.01)
            else:
                break
        await self.engine.dispose()


DISPOSE_GRACE_SECONDS = 5.0


def _checked_out(engine: AsyncEngine) -> int:
    checked_out = getattr(engine.pool, "checkedout", None)
    return int(checked_out()) if callable(checked_out) else 0


def _base64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def _base64url(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def _enable_sqlite_integrity(dbapi_connection: Any, _record: Any) -> None:
    # SQLite has no base64: compiled reads (resolvers/json_sql.py) build global IDs and cursors
    # with these; and cursors' text and doubles as Python's json.dumps writes them.
    dbapi_connection.create_function("quire_base64", 1, _base64, deterministic=True)
    dbapi_connection.create_function("quire_base64url", 1, _base64url, deterministic=True)
    dbapi_connection.create_function("quire_json", 1, json.dumps, deterministic=True)
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


def _without_row_values(context: ExceptionContext) -> None:
    """PostgreSQL's DETAIL quotes the values of the row at fault (`Key (email)=(...) already
    exists`), and asyncpg writes it into the message of the error that SQLAlchemy chains,
    so into every traceback, log line and trace span; the constraint's name says enough."""
    error: BaseException | None = context.original_exception
    while error is not None:
        if getattr(error, "detail", None) is not None:
            setattr(error, "detail", None)  # noqa: B010 - any driver's error type
        error = error.__cause__


def _secretive(engine: AsyncEngine) -> AsyncEngine:
    event.listen(engine.sync_engine, "handle_error", _without_row_values)
    return engine


def create_engine(settings: Settings) -> AsyncEngine:
    engine = create_async_engine(
        settings.database_url,
        echo=settings.database_echo,
        # Parameters carry emails and password hashes: never in logs or error messages.
        hide_parameters=True,
        pool_size=settings.database_pool_size,
        max_overflow=settings.database_max_overflow,
        pool_timeout=settings.database_pool_timeout_seconds,
        **({} if settings.is_sqlite else _postgresql_options(settings)),
    )
    if settings.is_sqlite:
        event.listen(engine.sync_engine, "connect", _enable_sqlite_integrity)
    else:
        event.listen(engine.sync_engine.pool, "checkout", _discard_closed)
    return _secretive(engine)


def _postgresql_options(settings: Settings) -> dict[str, Any]:
    # Old connections are replaced before a firewall forgets them silently (a query would
    # then hang instead of failing); closed ones are dropped at checkout (_discard_closed).
    return {
        "pool_recycle": settings.database_pool_recycle_seconds,
        "connect_args": {
            "server_settings": {
                "application_name": "quire",
                "plan_cache_mode": settings.database_plan_cache_mode,
            }
        },
    }


def _discard_closed(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
    """A connection PostgreSQL closed while it sat in the pool (a restart, a failover, an
    idle timeout, pg_terminate_backend) is replaced at checkout. asyncpg already knows it is
    closed, so this costs no round trip: pool_pre_ping's ping cost about 0.3 ms of CPU and a
    round trip on every request. A reset the driver has not seen yet fails the statement, and
    reads are retried once (read_retrying)."""
    if dbapi_connection.driver_connection.is_closed():
        raise DisconnectionError("the server closed this connection")


def create_database(settings: Settings) -> Database:
    engine = create_engine(settings)
    return Database(
        engine=engine,
        reader=engine.execution_options(isolation_level="AUTOCOMMIT"),
    )


def create_unpooled_engine(url: str) -> AsyncEngine:
    """For one-shot tools (migrations, seeding) that should leave no idle connection behind."""
    engine = create_async_engine(url, poolclass=NullPool, hide_parameters=True)
    if engine.dialect.name == "sqlite":
        event.listen(engine.sync_engine, "connect", _enable_sqlite_integrity)
    return _secretive(engine)


# Checkouts and check-ins finishing after their caller was cancelled (see connect()).
_DETACHED: set["asyncio.Task[Any]"] = set()


async def _uncancellable(awaitable: Awaitable[T]) -> T:
    """Awaits `awaitable` to its end even if the caller is cancelled meanwhile: the caller
    still sees the CancelledError, the work finishes in the background."""
    task = asyncio.ensure_future(awaitable)
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        _DETACHED.add(task)
        task.add_done_callback(_DETACHED.discard)
        raise


@asynccontextmanager
async def connect(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """`engine.connect()`, safe against cancellation. graphql-core cancels the sibling
    resolvers of a field that failed, and a request time limit cancels whatever runs; a
    cancellation landing while SQLAlchemy checks a connection out (setting its isolation level)
    or checks it back in would leave it outside the pool. Both steps run to their end, and a
    connection checked out for a caller that is gone is returned at once."""
    connection = engine.connect()
    checkout = asyncio.ensure_future(connection.start())
    try:
        await asyncio.shield(checkout)
    except asyncio.CancelledError:
        _DETACHED.add(checkout)

        def give_back(task: "asyncio.Task[Any]") -> None:
            _DETACHED.discard(task)
            if not task.cancelled() and task.exception() is None:
                closing = asyncio.ensure_future(connection.close())
                _DETACHED.add(closing)
                closing.add_done_callback(_DETACHED.discard)

        checkout.add_done_callback(give_back)
        raise
    try:
        yield connection
    finally:
        await _uncancellable(connection.close())


@asynccontextmanager
async def begin(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """A transaction on a connection from connect(): committed when the block ends, rolled
    back when it raises (a cancellation included)."""
    async with connect(engine) as connection, connection.begin():
        yield connection


def connection_lost(error: BaseException) -> bool:
    """The database dropped or refused the connection (a restart, a failover, a reset, an
    unreachable host): worth retrying later, unlike an error in the statement."""
    if isinstance(error, DBAPIError):
        return error.connection_invalidated
    return isinstance(error, OSError)


async def read_retrying(read: Callable[[], Awaitable[T]]) -> T:
    """Runs `read` once more, on a fresh connection, when its connection turned out dead
    (SQLAlchemy then discards the pool's older connections too). Only for reads: running one
    twice is harmless, a write might have committed before the connection died."""
    try:
        return await read()
    except (DBAPIError, OSError) as error:
        if not connection_lost(error):
            raise
    return await read()


async def fetch_all(
    database: Database, statement: Executable, parameters: dict[str, Any] | None = None
) -> Sequence[Row[Any]]:
    """Run one read statement on a short-lived pooled connection (retried once if the
    connection was lost)."""

    async def read() -> Sequence[Row[Any]]:
        async with connect(database.reader) as connection:
            result = await connection.execute(statement, parameters)
            return result.all()

    return await read_retrying(read)
