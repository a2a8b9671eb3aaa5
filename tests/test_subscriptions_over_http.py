"""A subscription sent over HTTP without asking for a stream is refused before it runs, with
400 and a stable code, on every path (POST, GET, persisted queries, batches), and nothing is
logged as an error. Streams over HTTP: tests/test_subscription_streams.py."""

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
    "message": "Subscriptions stream over a WebSocket (graphql-transport-ws on /graphql) or "
    "over HTTP when the request asks for a stream: send Accept: "
    "multipart/mixed;subscriptionSpec=1.0 or Accept: text/event-stream.",
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


async def test_when_a_stream_is_accepted_but_json_preferred(
    client: httpx.AsyncClient, errors_logged: pytest.LogCaptureFixture
) -> None:
    """urql accepts streams after JSON on every request: that is no request for a stream."""
    response = await client.post(
        "/graphql",
        json={"query": SUBSCRIPTION, "variables": VARIABLES},
        headers={"accept": 'application/json, multipart/mixed;subscriptionSpec="1.0"'},
    )

    assert response.status_code == 400
    assert response.headers["content-type"] == "application/json"
    assert _refusal(response.json()) == [OVER_HTTP]
    assert errors_logged.records == []
