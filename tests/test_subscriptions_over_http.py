"""A subscription sent over HTTP is refused before it runs, with 400 and a stable code, on
every path (POST, GET, persisted queries, batches), and nothing is logged as an error."""

import json
import logging
from typing import Any

import httpx
import pytest

from models.database import Database
from resolvers.persisted import sha256_hex
from settings import Settings
from tests.conftest import client_of

SUBSCRIPTION = "subscription ($tag: String) { postPublished(tag: $tag) { title } }"
VARIABLES = {"tag": "python"}
QUERY = "{ posts(first: 1) { totalCount } }"
OVER_HTTP = {
    "message": "Subscriptions run over a WebSocket: connect to /graphql with the "
    "graphql-transport-ws protocol and send this operation there.",
    "extensions": {"code": "SUBSCRIPTION_OVER_HTTP"},
}


def _refusal(body: dict[str, Any]) -> list[dict[str, Any]]:
    return [{key: error[key] for key in ("message", "extensions")} for error in body["errors"]]


@pytest.fixture
def errors_logged(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.ERROR)
    return caplog


async def test_over_post(
    client: httpx.AsyncClient, errors_logged: pytest.LogCaptureFixture
) -> None:
    response = await client.post("/graphql", json={"query": SUBSCRIPTION, "variables": VARIABLES})

    assert response.status_code == 400
    assert response.json()["data"] is None
    assert _refusal(response.json()) == [OVER_HTTP]
    assert errors_logged.records == []


async def test_over_get(client: httpx.AsyncClient, errors_logged: pytest.LogCaptureFixture) -> None:
    response = await client.get(
        "/graphql",
        params={"query": SUBSCRIPTION, "variables": json.dumps(VARIABLES)},
        headers={"accept": "application/graphql-response+json"},
    )

    assert response.status_code == 400
    assert response.headers["content-type"] == "application/graphql-response+json"
    assert _refusal(response.json()) == [OVER_HTTP]
    assert errors_logged.records == []


async def test_as_an_automatic_persisted_query(
    client: httpx.AsyncClient, errors_logged: pytest.LogCaptureFixture
) -> None:
    extensions = {"persistedQuery": {"version": 1, "sha256Hash": sha256_hex(SUBSCRIPTION)}}

    registering = await client.post(
        "/graphql", json={"query": SUBSCRIPTION, "variables": VARIABLES, "extensions": extensions}
    )
    by_hash = await client.post("/graphql", json={"extensions": extensions})

    assert registering.status_code == 400
    assert _refusal(registering.json()) == [OVER_HTTP]
    # A refused document is not registered.
    assert by_hash.json()["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"
    assert errors_logged.records == []


async def test_in_a_batch(
    settings: Settings, database: Database, errors_logged: pytest.LogCaptureFixture
) -> None:
    batch = [{"query": QUERY}, {"query": SUBSCRIPTION, "variables": VARIABLES}]
    async with client_of(settings, max_batch_operations=5) as client:
        response = await client.post("/graphql", json=batch)

    assert response.status_code == 400
    query, subscription = response.json()
    assert query["data"] == {"posts": {"totalCount": 0}}
    assert subscription["data"] is None
    assert _refusal(subscription) == [OVER_HTTP]
    assert errors_logged.records == []


async def test_even_when_multipart_streaming_is_asked_for(
    client: httpx.AsyncClient, errors_logged: pytest.LogCaptureFixture
) -> None:
    response = await client.post(
        "/graphql",
        json={"query": SUBSCRIPTION, "variables": VARIABLES},
        headers={"accept": 'multipart/mixed;subscriptionSpec="1.0", application/json'},
    )

    assert response.status_code == 400
    assert response.headers["content-type"] == "application/json"
    assert _refusal(response.json()) == [OVER_HTTP]
    assert errors_logged.records == []
