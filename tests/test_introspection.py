"""Introspection, GraphiQL and "Did you mean ...?" hints: on in development, off by default in
production, and introspection can be given back to admins only."""

from typing import Any

import httpx

from models.database import Database
from models.tables import Role
from resolvers.tokens import issue_access_token
from settings import Settings
from tests.conftest import client_of
from tests.factories import create_user

INTROSPECTION = "{ __schema { queryType { name } } }"
TYPO = "{ posts { nodes { titel } } }"
SECRET = "s" * 40


async def post(client: httpx.AsyncClient, query: str, **headers: str) -> dict[str, object]:
    response = await client.post("/graphql", json={"query": query}, headers=headers)
    assert response.status_code == 200, response.text
    body: dict[str, object] = response.json()
    return body


def production(settings: Settings, **overrides: object) -> dict[str, Any]:
    """Overrides that make `settings` a production profile."""
    return {"env": "production", "secret_key": SECRET, **overrides}


async def test_development_has_introspection_hints_and_graphiql(
    client: httpx.AsyncClient,
) -> None:
    body = await post(client, INTROSPECTION)
    typo = await post(client, TYPO)
    page = await client.get("/graphql", headers={"accept": "text/html"})

    assert body["data"] == {"__schema": {"queryType": {"name": "Query"}}}
    assert "Did you mean 'title'" in typo["errors"][0]["message"]  # type: ignore[index]
    assert page.status_code == 200
    assert "graphiql" in page.text


async def test_production_turns_them_off(settings: Settings, database: Database) -> None:
    async with client_of(settings, **production(settings)) as client:
        body = await post(client, INTROSPECTION)
        typename = await post(client, "{ __typename }")
        typo = await post(client, TYPO)
        enum_typo = await post(client, "{ posts(filter: {status: PUBLISHD}) { totalCount } }")
        page = await client.get("/graphql", headers={"accept": "text/html"})

    error = body["errors"][0]  # type: ignore[index]
    assert error["extensions"]["code"] == "INTROSPECTION_DISABLED"
    assert body.get("data") is None
    assert typename["data"] == {"__typename": "Query"}
    message = typo["errors"][0]["message"]  # type: ignore[index]
    assert message == "Cannot query field 'titel' on type 'Post'."
    enum_message = enum_typo["errors"][0]["message"]  # type: ignore[index]
    assert "Did you mean" not in enum_message
    assert "PUBLISHED" not in enum_message
    assert page.status_code == 404


async def test_production_can_allow_introspection_to_admins_only(
    settings: Settings, database: Database
) -> None:
    prod = settings.model_copy(update=production(settings, introspection="admins"))
    admin = await create_user(database, role=Role.ADMIN)
    editor = await create_user(database, role=Role.EDITOR)
    admin_token, _ = issue_access_token(prod, user_id=admin, role=Role.ADMIN)
    editor_token, _ = issue_access_token(prod, user_id=editor, role=Role.EDITOR)
    async with client_of(prod) as client:
        anonymous = await post(client, INTROSPECTION)
        as_editor = await post(client, INTROSPECTION, authorization=f"Bearer {editor_token}")
        as_admin = await post(client, INTROSPECTION, authorization=f"Bearer {admin_token}")

    assert anonymous["errors"][0]["extensions"]["code"] == "INTROSPECTION_DISABLED"  # type: ignore[index]
    assert as_editor["errors"][0]["extensions"]["code"] == "INTROSPECTION_DISABLED"  # type: ignore[index]
    assert as_admin["data"] == {"__schema": {"queryType": {"name": "Query"}}}


async def test_validation_errors_carry_a_code(client: httpx.AsyncClient) -> None:
    body = await post(client, TYPO)

    assert body["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"  # type: ignore[index]
