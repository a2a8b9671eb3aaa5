"""The HTTP surface: POST and GET queries, the playground page, health."""

import httpx
import pytest

from models.database import Database
from tests.factories import create_post, create_user

QUERY = "{ posts(first: 1) { nodes { title } } }"


async def test_get_runs_a_query(client: httpx.AsyncClient, database: Database) -> None:
    await create_post(database, author_id=await create_user(database), title="Cached")

    response = await client.get("/graphql", params={"query": QUERY})

    assert response.status_code == 200
    assert response.json()["data"] == {"posts": {"nodes": [{"title": "Cached"}]}}


async def test_browser_get_serves_the_playground(client: httpx.AsyncClient) -> None:
    response = await client.get("/graphql", headers={"accept": "text/html"})

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "graphiql" in response.text.lower()


async def test_syntax_error_is_reported_not_masked(client: httpx.AsyncClient) -> None:
    response = await client.post("/graphql", json={"query": "{ posts(first: 1) { "})

    # application/json responses keep 200 for request errors (GraphQL over HTTP, legacy JSON).
    assert response.status_code == 200
    assert response.json()["errors"][0]["message"].startswith("Syntax Error")
    assert response.json()["errors"][0]["extensions"] == {"code": "GRAPHQL_PARSE_FAILED"}


TWO_OPERATIONS = "query First { __typename } query Second { apiLimits { maxDepth } }"


@pytest.mark.parametrize("method", ["GET", "POST"])
async def test_several_operations_without_an_operation_name_are_a_request_error(
    client: httpx.AsyncClient, method: str
) -> None:
    response = await client.request(
        method,
        "/graphql",
        params={"query": TWO_OPERATIONS} if method == "GET" else None,
        json={"query": TWO_OPERATIONS} if method == "POST" else None,
    )

    assert response.json()["data"] is None
    assert [e["extensions"]["code"] for e in response.json()["errors"]] == [
        "OPERATION_NAME_REQUIRED"
    ]


async def test_the_operation_name_picks_one_of_several(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/graphql", json={"query": TWO_OPERATIONS, "operationName": "Second"}
    )

    assert response.json()["data"] == {"apiLimits": {"maxDepth": 12}}


async def test_healthz(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz")

    assert response.json() == {"status": "ok"}


GRAPHQL_RESPONSE = "application/graphql-response+json"


@pytest.mark.parametrize(
    ("query", "status"),
    [
        ("{ __typename }", 200),
        ("{ posts(", 400),  # syntax error: never executed
        ("{ nope }", 400),  # validation error: never executed
        ("{ posts(first: 500) { nodes { title } } }", 200),  # executed; a field error
    ],
)
async def test_graphql_response_json_uses_status_codes(
    client: httpx.AsyncClient, database: Database, query: str, status: int
) -> None:
    response = await client.post(
        "/graphql", json={"query": query}, headers={"accept": GRAPHQL_RESPONSE}
    )

    assert response.status_code == status
    assert response.headers["content-type"] == GRAPHQL_RESPONSE


async def test_plain_json_clients_keep_200_for_request_errors(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/graphql", json={"query": "{ nope }"}, headers={"accept": "application/json"}
    )

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
