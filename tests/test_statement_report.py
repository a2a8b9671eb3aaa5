"""extensions.sql: the statements an operation sent and their total time; for everyone in
development, for admins in production only when QUIRE_SQL_REPORT=admins, else for nobody;
only when the request asks for it (X-Quire-SQL-Report), and never from or into a cache."""

from typing import Any

import httpx
import pytest

from models.database import Database
from models.tables import Role
from resolvers.tokens import issue_access_token
from settings import Settings
from tests.conftest import StatementLog, client_of
from tests.factories import create_post, create_user

POSTS = "query Posts { posts(first: 5) { nodes { title tags { name } } } }"
PRODUCTION: dict[str, Any] = {
    "env": "production",
    "secret_key": "a-production-secret-of-forty-characters!!",
}


def _production(settings: Settings) -> Settings:
    return settings.model_copy(update=PRODUCTION)


async def _headers(database: Database, settings: Settings, role: Role) -> dict[str, str]:
    user_id = await create_user(database, role=role)
    token, _ = issue_access_token(settings, user_id=user_id, role=role)
    return {"Authorization": f"Bearer {token}"}


async def _extensions(client: httpx.AsyncClient, headers: dict[str, str]) -> dict[str, Any]:
    asking = {**headers, "X-Quire-SQL-Report": "1"}
    response = await client.post("/graphql", json={"query": POSTS}, headers=asking)
    body: dict[str, Any] = response.json()
    assert "errors" not in body, body
    extensions: dict[str, Any] = body.get("extensions", {})
    return extensions


# The resolver path sends the posts, then their tags; a compiled read one statement.
@pytest.mark.parametrize(("compiled", "sent"), [(False, 2), (True, 1)])
async def test_development_reports_the_statements_an_operation_sent(
    database: Database, settings: Settings, compiled: bool, sent: int
) -> None:
    author = await create_user(database)
    for _ in range(3):
        await create_post(database, author_id=author)
    log = StatementLog()
    async with client_of(settings, log=log, compiled_reads=compiled) as client:
        report = (await _extensions(client, {}))["sql"]

    assert report["statements"] == len(log) == sent
    assert report["durationMs"] > 0


async def test_production_reports_to_nobody_by_default(
    database: Database, settings: Settings
) -> None:
    admin = await _headers(database, _production(settings), Role.ADMIN)
    async with client_of(settings, **PRODUCTION) as client:
        extensions = await _extensions(client, admin)

    assert "sql" not in extensions


async def test_production_reports_to_admins_only_when_the_setting_allows(
    database: Database, settings: Settings
) -> None:
    admin = await _headers(database, _production(settings), Role.ADMIN)
    editor = await _headers(database, _production(settings), Role.EDITOR)
    async with client_of(settings, sql_report="admins", **PRODUCTION) as client:
        for_admin = await _extensions(client, admin)
        for_editor = await _extensions(client, editor)
        for_anonymous = await _extensions(client, {})

    assert for_admin["sql"]["statements"] == 1
    assert "sql" not in for_editor
    assert "sql" not in for_anonymous


async def test_development_can_turn_the_report_off(database: Database, settings: Settings) -> None:
    async with client_of(settings, sql_report="nobody") as client:
        extensions = await _extensions(client, {})

    assert "sql" not in extensions


async def test_the_report_is_given_only_when_asked_for(
    database: Database, settings: Settings
) -> None:
    async with client_of(settings) as client:
        response = await client.post("/graphql", json={"query": POSTS})

    assert "sql" not in response.json().get("extensions", {})


async def test_a_response_with_the_report_is_never_cached(
    database: Database, settings: Settings
) -> None:
    async with client_of(settings, response_cache=True) as client:
        params = {"query": POSTS}
        asking = {"X-Quire-SQL-Report": "1"}
        first = await client.get("/graphql", params=params, headers=asking)
        second = await client.get("/graphql", params=params, headers=asking)
        plain = await client.get("/graphql", params=params)

    for response in (first, second):
        assert response.headers["cache-control"] == "private, no-store"
        assert "x-quire-cache" not in response.headers
        assert "sql" in response.json()["extensions"]
    assert plain.headers["x-quire-cache"] == "miss"  # nothing was stored by the two above
    assert "sql" not in plain.json()["extensions"]
