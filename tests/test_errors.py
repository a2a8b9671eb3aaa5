"""Unexpected errors are masked for clients and logged in full, tied by the request id."""

import asyncio
import logging

import httpx
import pytest
import sqlalchemy as sa

from app import create_app
from models.database import Database
from resolvers import posts
from schema import compiled_reads
from settings import Settings
from tests.conftest import client_of
from tests.graphql import error_codes

QUERY = "{ posts { nodes { title } } }"


async def _explode(*_args: object, **_kwargs: object) -> None:
    raise RuntimeError('relation "secret_table" does not exist; password=hunter2')


async def test_unexpected_error_is_masked_and_logged_with_the_request_id(
    settings: Settings,
    database: Database,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setattr(posts, "list_posts", _explode)

    with caplog.at_level(logging.ERROR, logger="quire.errors"):
        # The resolver path's own failure (a compiled read would not call list_posts).
        async with client_of(settings, compiled_reads=False) as client:
            response = await client.post(
                "/graphql", json={"query": QUERY}, headers={"X-Request-ID": "trace-42"}
            )

    error = response.json()["errors"][0]
    assert error["message"] == "Internal server error"
    assert error["extensions"] == {"code": "INTERNAL_SERVER_ERROR", "requestId": "trace-42"}
    assert "secret" not in response.text
    assert response.headers["x-request-id"] == "trace-42"
    logged = caplog.records[-1]
    assert "trace-42" in logged.getMessage()
    assert logged.exc_info is not None
    assert "secret_table" in str(logged.exc_info[1])


async def test_a_failing_compiled_read_is_answered_by_the_resolver_path(
    settings: Settings,
    database: Database,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setattr(compiled_reads, "fetch_all", _explode)

    with caplog.at_level(logging.WARNING, logger="quire.compiled"):
        async with client_of(settings, response_cache=False) as client:
            response = await client.post("/graphql", json={"query": QUERY})

    assert response.json()["data"] == {"posts": {"nodes": []}}
    assert [record.getMessage() for record in caplog.records] == [
        "compiled read failed; answering on the resolver path"
    ]
    assert caplog.records[0].exc_info is not None


async def test_request_id_is_generated_when_absent_or_unsafe(client: httpx.AsyncClient) -> None:
    plain = await client.get("/healthz")
    unsafe = await client.get("/healthz", headers={"X-Request-ID": "bad id\r\nX-Evil: 1"})

    assert len(plain.headers["x-request-id"]) == 32
    assert unsafe.headers["x-request-id"] != "bad id\r\nX-Evil: 1"
    assert len(unsafe.headers["x-request-id"]) == 32


async def test_expected_refusals_keep_their_message_and_are_not_logged(
    client: httpx.AsyncClient, database: Database, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="quire.errors"):
        response = await client.post(
            "/graphql", json={"query": "{ posts(first: 500) { nodes { title } } }"}
        )

    assert error_codes(response.json()) == ["BAD_USER_INPUT"]
    assert response.json()["errors"][0]["message"] == "first must be between 0 and 100."
    assert caplog.records == []


async def test_slow_requests_are_stopped_with_a_timeout_error(
    settings: Settings, database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def crawl(*_args: object, **_kwargs: object) -> None:
        await asyncio.sleep(5)

    # Both paths: the resolver path's list, and the compiled read's one statement.
    monkeypatch.setattr(posts, "list_posts", crawl)
    monkeypatch.setattr(compiled_reads, "fetch_all", crawl)
    for compiled in (False, True):
        update = {
            "request_timeout_seconds": 0.05,
            "compiled_reads": compiled,
            "response_cache": False,
        }
        impatient = create_app(settings.model_copy(update=update))
        transport = httpx.ASGITransport(app=impatient)

        async with httpx.AsyncClient(transport=transport, base_url="http://quire.test") as client:
            response = await client.post("/graphql", json={"query": QUERY})
        await impatient.state.database.dispose()

        assert response.status_code == 504
        assert response.json()["errors"][0]["extensions"]["code"] == "REQUEST_TIMEOUT"


async def test_a_write_stopped_by_the_timeout_leaves_nothing_behind(
    settings: Settings, database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    from models.tables import Role, posts_table
    from resolvers import post_writes
    from resolvers.tokens import issue_access_token
    from tests.factories import create_user

    async def stall(*_args: object, **_kwargs: object) -> None:
        await asyncio.sleep(5)

    # The post row is inserted, then the transaction stalls before it can commit.
    monkeypatch.setattr(post_writes, "_set_tags", stall)
    author = await create_user(database, role=Role.AUTHOR)
    token, _ = issue_access_token(settings, user_id=author, role=Role.AUTHOR)
    impatient = create_app(settings.model_copy(update={"request_timeout_seconds": 0.2}))
    transport = httpx.ASGITransport(app=impatient)
    mutation = 'mutation { createPost(input: {title: "T", body: "B"}) { post { id } } }'

    async with httpx.AsyncClient(transport=transport, base_url="http://quire.test") as client:
        response = await client.post(
            "/graphql", json={"query": mutation}, headers={"Authorization": f"Bearer {token}"}
        )
    await impatient.state.database.dispose()

    assert response.status_code == 504
    async with database.engine.connect() as connection:
        assert await connection.scalar(sa.select(sa.func.count()).select_from(posts_table)) == 0
