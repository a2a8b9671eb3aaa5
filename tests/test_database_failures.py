"""When the database fails: a token that cannot be checked gets the masked error with its
request id (HTTP and WebSocket); connections reset by PostgreSQL are detected before use and
reads are retried once, otherwise clients get a retryable code; no email reaches the logs."""

import asyncio
import logging
import os
import traceback
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from websockets.asyncio.client import connect
from websockets.typing import Subprotocol

from app import create_app
from models.database import Database, begin
from models.tables import Role, posts_table, users_table
from resolvers.tokens import issue_access_token
from settings import Settings
from tests.conftest import POSTGRES_ADMIN_DSN, StatementLog, client_of
from tests.factories import create_post, create_user
from tests.live import Server, serving
from tests.wsclient import LEGACY_WS, TRANSPORT_WS, Socket

COUNT = "{ posts { totalCount } }"
ME = "{ me { username } }"
CREATE_POST = """mutation ($input: CreatePostInput!) {
  createPost(input: $input) { post { id } errors { code } } }"""
LOG_IN = """mutation ($input: LogInInput!) { logIn(input: $input) { accessToken } }"""
EMAIL = "hidden.person@example.com"


def _unreachable(settings: Settings, tmp_path: Path) -> str:
    """A database URL of the same backend that cannot be opened."""
    if settings.is_sqlite:
        return f"sqlite+aiosqlite:///{tmp_path / 'missing' / 'quire.db'}"
    url = sa.engine.make_url(settings.database_url)
    return url.set(database=f"quire_missing_{uuid.uuid4().hex[:8]}").render_as_string(False)


def _bearer(settings: Settings, user_id: int = 1) -> dict[str, str]:
    token, _ = issue_access_token(settings, user_id=user_id, role=Role.READER)
    return {"authorization": f"Bearer {token}", "x-request-id": "trace-12"}


# --- a bearer token checked against a failing database (item 12) ---------------------------


async def test_a_token_that_cannot_be_checked_gets_the_masked_error_with_its_request_id(
    settings: Settings, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    unreachable = _unreachable(settings, tmp_path)

    with caplog.at_level(logging.ERROR, logger="quire.errors"):
        async with client_of(settings, database_url=unreachable) as client:
            posted = await client.post("/graphql", json={"query": ME}, headers=_bearer(settings))
            got = await client.get("/graphql", params={"query": ME}, headers=_bearer(settings))

    masked = {
        "errors": [
            {
                "message": "Internal server error",
                "extensions": {"code": "INTERNAL_SERVER_ERROR", "requestId": "trace-12"},
            }
        ]
    }
    assert (posted.status_code, posted.json()) == (500, masked)
    assert (got.status_code, got.json()) == (500, masked)
    assert posted.headers["x-request-id"] == "trace-12"
    assert unreachable.rsplit("/", 1)[1] not in posted.text
    logged = [record for record in caplog.records if "trace-12" in record.getMessage()]
    assert len(logged) == 2
    assert logged[0].exc_info is not None


async def test_a_token_checked_while_the_database_refuses_connections_gets_a_retryable_503(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    if settings.is_sqlite:
        pytest.skip("a server that refuses connections: PostgreSQL")
    closed_port = "postgresql+asyncpg://quire@127.0.0.1:1/quire"

    with caplog.at_level(logging.ERROR, logger="quire.errors"):
        async with client_of(settings, database_url=closed_port) as client:
            response = await client.post("/graphql", json={"query": ME}, headers=_bearer(settings))

    assert response.status_code == 503
    assert response.headers["retry-after"] == "1"
    assert response.json()["errors"][0]["extensions"] == {
        "code": "SERVICE_UNAVAILABLE",
        "requestId": "trace-12",
    }


@pytest.fixture
def server_without_database(tmp_path: Path) -> Iterator[Server]:
    """A live server whose database cannot be opened (it still starts and answers /healthz)."""
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'missing' / 'quire.db'}",
        "QUIRE_RATE_LIMIT_ENABLED": "false",
    }
    env.pop("REDIS_URL", None)
    with serving(env, tmp_path) as server:
        yield server


async def test_a_websocket_whose_token_cannot_be_checked_is_closed_as_a_server_error(
    server_without_database: Server,
) -> None:
    url = server_without_database.url.replace("http://", "ws://") + "/graphql"
    settings = Settings(_env_file=None)
    payload = {"authorization": _bearer(settings)["authorization"]}
    headers = {"x-request-id": "trace-ws"}

    async with connect(
        url,
        subprotocols=[Subprotocol(TRANSPORT_WS)],
        additional_headers=headers,
    ) as connection:
        socket = Socket(connection, TRANSPORT_WS)
        await socket.send({"type": "connection_init", "payload": payload})
        in_connection_init = await socket.closed()
    async with connect(
        url,
        subprotocols=[Subprotocol(TRANSPORT_WS)],
        additional_headers={**headers, **payload},
    ) as connection:
        in_header = await Socket(connection, TRANSPORT_WS).closed()

    async with connect(
        url, subprotocols=[Subprotocol(LEGACY_WS)], additional_headers=headers
    ) as connection:
        legacy = Socket(connection, LEGACY_WS)
        await legacy.send({"type": "connection_init", "payload": payload})
        in_legacy_init = await legacy.closed()

    assert in_connection_init == (1011, "Internal server error (request trace-ws)")
    assert in_legacy_init == (1011, "Internal server error (request trace-ws)")
    assert in_header == (1011, "Internal server error (request trace-ws)")
    log = server_without_database.log.read_text()
    assert log.count("error before the operation ran (request trace-ws)") == 3
    assert "Exception in ASGI application" not in log


# --- PostgreSQL connection resets (item 14) ------------------------------------------------


async def _terminate_connections(database_url: str) -> int:
    """pg_terminate_backend for every connection to the test database (the app's pool)."""
    name = sa.engine.make_url(database_url).database
    admin = await asyncpg.connect(POSTGRES_ADMIN_DSN)
    try:
        terminated = await admin.fetch(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = $1 AND pid <> pg_backend_pid()",
            name,
        )
    finally:
        await admin.close()
    return len(terminated)


def _postgresql_only(database: Database) -> None:
    if database.is_sqlite:
        pytest.skip("connection resets: PostgreSQL")


async def test_requests_after_every_connection_was_reset_succeed(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    _postgresql_only(database)
    reader = await create_user(database, username="reader", role=Role.READER)
    await create_post(database, author_id=await create_user(database))
    await client.post("/graphql", json={"query": COUNT}, headers=_bearer(settings, reader))

    assert await _terminate_connections(settings.database_url) >= 1
    # The pool drops the connections PostgreSQL closed; a read the driver had not seen
    # closed yet is retried once.
    me = await client.post("/graphql", json={"query": ME}, headers=_bearer(settings, reader))
    counted = await client.post("/graphql", json={"query": COUNT})

    assert counted.json()["data"] == {"posts": {"totalCount": 1}}
    assert me.json()["data"] == {"me": {"username": "reader"}}


async def test_connections_the_server_closed_are_dropped_before_use(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    """Writes are never retried, so a pooled connection PostgreSQL closed must be dropped
    before a statement is sent on it."""
    _postgresql_only(database)
    await client.post("/graphql", json={"query": COUNT})
    await client.post("/graphql", json={"query": COUNT})

    assert await _terminate_connections(settings.database_url) >= 1
    await asyncio.sleep(0.2)  # the server's close reaches the pooled connections
    async with database.engine.begin() as connection:
        written = await connection.execute(sa.update(posts_table).values(title=posts_table.c.title))

    assert written.rowcount == 0


class ResetBefore:
    """Makes PostgreSQL terminate the app's connection just before a chosen statement runs
    (a reset in the middle of a request, after the pool's pre-ping), `times` times."""

    def __init__(self, engine: Engine, *, before: str, after: str | None = None, times: int = 1):
        self.engine, self.before, self.after, self.times = engine, before, after, times
        self.armed = after is None
        self.resets = 0

    def __call__(self, _conn: Any, cursor: Any, statement: str, *_args: Any) -> None:
        if self.after is not None and statement.startswith(self.after):
            self.armed = True
            return
        if self.armed and self.resets < self.times and statement.startswith(self.before):
            self.resets += 1
            cursor.execute("SELECT pg_terminate_backend(pg_backend_pid())")

    def __enter__(self) -> "ResetBefore":
        sa.event.listen(self.engine, "before_cursor_execute", self)
        return self

    def __exit__(self, *_exc: object) -> None:
        sa.event.remove(self.engine, "before_cursor_execute", self)


async def _resolver_path(settings: Settings) -> Any:
    """An app whose reads run on the resolver path (its statements are the ones reset)."""
    return create_app(settings.model_copy(update={"compiled_reads": False}))


async def test_a_read_whose_connection_is_reset_is_retried_once(
    settings: Settings, database: Database
) -> None:
    _postgresql_only(database)
    await create_post(database, author_id=await create_user(database))
    application = await _resolver_path(settings)
    engine = application.state.database.engine.sync_engine

    with ResetBefore(engine, before="SELECT count(") as reset:
        async with _client(application) as client:
            response = await client.post("/graphql", json={"query": COUNT})
    await application.state.database.dispose()

    assert reset.resets == 1
    assert response.json()["data"] == {"posts": {"totalCount": 1}}
    assert "errors" not in response.json()


async def test_a_compiled_read_whose_connection_is_reset_is_retried_once(
    client: httpx.AsyncClient, database: Database, settings: Settings, statements: StatementLog
) -> None:
    _postgresql_only(database)
    reader = await create_user(database, role=Role.READER)
    await create_post(database, author_id=await create_user(database))
    before = len(statements)

    # Signed in: an anonymous public read stays on the resolver path (its cache tags).
    with ResetBefore(database.engine.sync_engine, before='SELECT (\'{"posts"') as reset:
        response = await client.post(
            "/graphql", json={"query": COUNT}, headers=_bearer(settings, reader)
        )

    assert reset.resets == 1
    assert response.json()["data"] == {"posts": {"totalCount": 1}}
    # The compiled statement twice (one reset, one retry) after the token's user lookup; no
    # resolver-path statement.
    sent = statements.statements[before:]
    assert len([statement for statement in sent if statement.startswith("SELECT ('{")]) == 2
    assert not any(statement.startswith("SELECT count(") for statement in sent)


def _client(application: Any) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=application)
    return httpx.AsyncClient(transport=transport, base_url="http://quire.test")


async def test_a_read_that_keeps_losing_its_connection_gets_a_retryable_503(
    settings: Settings, database: Database, caplog: pytest.LogCaptureFixture
) -> None:
    _postgresql_only(database)
    application = await _resolver_path(settings)
    engine = application.state.database.engine.sync_engine

    with (
        caplog.at_level(logging.ERROR, logger="quire.errors"),
        ResetBefore(engine, before="SELECT count(", times=2),
    ):
        async with _client(application) as client:
            response = await client.post(
                "/graphql", json={"query": COUNT}, headers={"x-request-id": "trace-14"}
            )
    await application.state.database.dispose()

    assert response.status_code == 503
    assert response.headers["retry-after"] == "1"
    error = response.json()["errors"][0]
    assert error["message"] == "The database cannot be reached right now; retry in a moment."
    assert error["extensions"] == {"code": "SERVICE_UNAVAILABLE", "requestId": "trace-14"}
    assert response.json()["data"] is None


async def test_a_write_cut_off_by_a_reset_gets_a_retryable_code_and_writes_nothing(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    _postgresql_only(database)
    author = await create_user(database, role=Role.AUTHOR)
    headers = {"authorization": _bearer(settings, author)["authorization"]}
    draft = {"title": "Cut off", "body": "Half a post.", "tags": ["resets"]}

    # The post row is inserted, then the connection dies before the transaction commits.
    with ResetBefore(database.engine.sync_engine, after="INSERT INTO posts", before="") as reset:
        response = await client.post(
            "/graphql",
            json={"query": CREATE_POST, "variables": {"input": draft}},
            headers=headers,
        )

    assert reset.resets == 1
    assert response.status_code == 503
    assert response.json()["data"] is None
    assert [e["extensions"]["code"] for e in response.json()["errors"]] == ["SERVICE_UNAVAILABLE"]
    async with database.engine.connect() as connection:
        assert await connection.scalar(sa.select(sa.func.count()).select_from(posts_table)) == 0


# --- no email in the logs (item 16) --------------------------------------------------------


async def test_a_failed_statement_names_no_parameter_and_no_row_value(database: Database) -> None:
    await create_user(database, username="hidden", role=Role.READER, email=EMAIL)
    twin: dict[str, Any] = {"username": "twin", "email": EMAIL, "display_name": "T"}
    twin.update(role=Role.READER, created_at=sa.func.now())

    with pytest.raises(IntegrityError) as raised:
        async with begin(database.engine) as connection:
            await connection.execute(sa.insert(users_table).values(twin))

    shown = "".join(traceback.format_exception(raised.value))
    assert "users" in shown  # the error still says what failed...
    assert EMAIL not in shown  # ...but not with which values


async def test_a_database_error_with_an_email_leaves_no_email_in_the_logs(
    client: httpx.AsyncClient, database: Database, caplog: pytest.LogCaptureFixture
) -> None:
    def broken_log_in(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> Any:
        # The log-in statement fails in the database, with the email among its parameters.
        if "users.email =" in statement:
            return statement.replace("users.email =", "users.no_such_column ="), parameters
        return statement, parameters

    engine = database.engine.sync_engine
    sa.event.listen(engine, "before_cursor_execute", broken_log_in, retval=True)
    try:
        with caplog.at_level(logging.INFO):
            response = await client.post(
                "/graphql",
                json={
                    "query": LOG_IN,
                    "variables": {"input": {"usernameOrEmail": EMAIL, "password": "x" * 12}},
                },
            )
    finally:
        sa.event.remove(engine, "before_cursor_execute", broken_log_in)

    assert [e["extensions"]["code"] for e in response.json()["errors"]] == ["INTERNAL_SERVER_ERROR"]
    assert "no_such_column" in caplog.text  # the failure was logged in full...
    assert EMAIL not in caplog.text  # ...without the email
