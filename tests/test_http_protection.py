"""HTTP protections: security headers, no cross-site form posts, request size limit."""

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from models.database import Database
from models.tables import users_table
from settings import Settings
from tests.conftest import client_of

SIGN_UP = (
    'mutation { signUp(input: {username: "csrf", email: "csrf@example.com", '
    'password: "a long passphrase", displayName: "C"}) { accessToken } }'
)


@pytest.mark.parametrize(
    ("method", "path", "headers"),
    [
        ("GET", "/healthz", {}),
        ("GET", "/graphql", {"accept": "text/html"}),
        ("POST", "/graphql", {"content-type": "application/json"}),
    ],
)
async def test_every_response_carries_security_headers(
    client: httpx.AsyncClient, method: str, path: str, headers: dict[str, str]
) -> None:
    content = json.dumps({"query": "{ __typename }"}) if method == "POST" else None

    response = await client.request(method, path, headers=headers, content=content)

    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert "script-src 'self';" in response.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    assert "strict-transport-security" not in response.headers
    assert "server" not in response.headers


async def test_hsts_only_over_https(app: Any) -> None:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="https://quire.test") as client:
        response = await client.get("/healthz")

    assert response.headers["strict-transport-security"].startswith("max-age=")


@pytest.mark.parametrize(
    ("content_type", "content"),
    [
        ("text/plain", json.dumps({"query": SIGN_UP})),
        ("application/x-www-form-urlencoded", "query=" + SIGN_UP),
        ("multipart/form-data; boundary=x", "--x\r\n\r\n" + SIGN_UP + "\r\n--x--"),
    ],
)
async def test_cross_site_form_content_types_are_refused(
    client: httpx.AsyncClient, database: Database, content_type: str, content: str
) -> None:
    response = await client.post(
        "/graphql", content=content, headers={"content-type": content_type}
    )

    assert response.status_code == 415
    assert response.json()["errors"][0]["extensions"]["code"] == "UNSUPPORTED_MEDIA_TYPE"
    async with database.engine.connect() as connection:
        assert await connection.scalar(sa.select(sa.func.count()).select_from(users_table)) == 0


async def test_oversized_body_is_refused(client: httpx.AsyncClient, settings: Settings) -> None:
    padding = "x" * settings.max_request_bytes
    body = json.dumps({"query": "{ __typename }", "variables": {"pad": padding}})

    response = await client.post(
        "/graphql", content=body, headers={"content-type": "application/json"}
    )

    assert response.status_code == 413
    assert response.json()["errors"][0]["extensions"]["code"] == "REQUEST_TOO_LARGE"


async def test_oversized_chunked_body_is_refused(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"query": "{ __typename }", "variables": {"pad": "'
        for _ in range(settings.max_request_bytes // 10_000 + 1):
            yield b"x" * 10_000
        yield b'"}}'

    response = await client.post(
        "/graphql", content=chunks(), headers={"content-type": "application/json"}
    )

    assert response.status_code == 413


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"{not json", "Unable to parse request body as JSON"),
        (b'{"query": "\xff\xfe"}', "Unable to parse request body as JSON"),
        (
            b'{"query": "{ __typename }", "variables": ' + b"[" * 5000 + b"]" * 5000 + b"}",
            "Unable to parse",
        ),
        (b'{"query": 5}', "`query` must be a string"),
        (b'{"query": "{ __typename }", "variables": "x"}', "`variables` must be an object"),
        (
            b'{"query": "query A { __typename }", "operationName": "B"}',
            'Unknown operation named "B"',
        ),
        (b"{}", "No GraphQL query found"),
    ],
    ids=[
        "invalid-json",
        "invalid-utf8",
        "deep-json",
        "query-type",
        "variables-type",
        "operation",
        "empty",
    ],
)
async def test_malformed_requests_get_a_400_with_a_graphql_error_body(
    client: httpx.AsyncClient, content: bytes, message: str
) -> None:
    response = await client.post(
        "/graphql", content=content, headers={"content-type": "application/json"}
    )

    assert response.status_code == 400
    error = response.json()["errors"][0]
    assert message in error["message"]
    assert error["extensions"]["code"] == "BAD_REQUEST"


async def test_mutation_over_get_is_405(client: httpx.AsyncClient, database: Database) -> None:
    response = await client.get("/graphql", params={"query": SIGN_UP})

    assert response.status_code == 405
    assert response.headers["allow"] == "POST"
    assert response.json()["errors"][0]["extensions"]["code"] == "METHOD_NOT_ALLOWED"
    assert response.json()["errors"][0]["message"] == (
        "Mutations are not allowed over GET; send them with POST."
    )
    async with database.engine.connect() as connection:
        assert await connection.scalar(sa.select(sa.func.count()).select_from(users_table)) == 0


async def test_cors_allows_listed_origins_with_credentials(client: httpx.AsyncClient) -> None:
    origin = "http://localhost:3000"

    preflight = await client.options(
        "/graphql",
        headers={
            "origin": origin,
            "access-control-request-method": "POST",
            "access-control-request-headers": "authorization, content-type",
        },
    )
    actual = await client.post(
        "/graphql", json={"query": "{ __typename }"}, headers={"origin": origin}
    )

    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == origin
    assert preflight.headers["access-control-allow-credentials"] == "true"
    assert actual.headers["access-control-allow-origin"] == origin


CLIENT_HEADERS = (
    "apollographql-client-name, apollographql-client-version, apollo-require-preflight, "
    "x-apollo-operation-name, x-request-id, content-type, authorization"
)


def _preflight(headers: str) -> dict[str, str]:
    return {
        "origin": "http://localhost:3000",
        "access-control-request-method": "POST",
        "access-control-request-headers": headers,
    }


async def test_cors_allows_the_headers_of_common_clients(client: httpx.AsyncClient) -> None:
    preflight = await client.options("/graphql", headers=_preflight(CLIENT_HEADERS))

    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == "http://localhost:3000"


async def test_cors_allowed_headers_are_a_setting(settings: Settings, database: Database) -> None:
    async with client_of(settings, cors_allow_headers="content-type,x-team") as client:
        custom = await client.options("/graphql", headers=_preflight("x-team"))
        apollo = await client.options("/graphql", headers=_preflight("apollographql-client-name"))

    assert custom.status_code == 200
    assert apollo.status_code == 400


async def test_cors_never_reflects_an_unlisted_origin(client: httpx.AsyncClient) -> None:
    evil = "https://evil.example"

    preflight = await client.options(
        "/graphql", headers={"origin": evil, "access-control-request-method": "POST"}
    )
    actual = await client.post(
        "/graphql", json={"query": "{ __typename }"}, headers={"origin": evil}
    )

    assert preflight.status_code == 400
    assert "access-control-allow-origin" not in preflight.headers
    assert "access-control-allow-origin" not in actual.headers


def test_production_allows_no_origin_unless_configured() -> None:
    secret = "s" * 32
    assert Settings(env="production", secret_key=secret, _env_file=None).allowed_origins == []
    configured = Settings(
        env="production",
        secret_key=secret,
        cors_origins="https://app.example, https://admin.example",
        _env_file=None,
    )
    assert configured.allowed_origins == ["https://app.example", "https://admin.example"]


SECURITY_HEADER_NAMES = (
    "x-content-type-options",
    "referrer-policy",
    "x-frame-options",
    "content-security-policy",
)


@pytest.mark.parametrize(
    ("content_type", "body_bytes", "status"),
    [("application/json", 0, 200), ("text/plain", 0, 415), ("application/json", None, 413)],
    ids=["graphql", "unsupported-media-type", "too-large"],
)
async def test_each_security_header_is_sent_exactly_once(
    client: httpx.AsyncClient,
    settings: Settings,
    content_type: str,
    body_bytes: int | None,
    status: int,
) -> None:
    padding = "x" * (settings.max_request_bytes if body_bytes is None else body_bytes)
    content = json.dumps({"query": "{ __typename }", "variables": {"pad": padding}})

    response = await client.post(
        "/graphql", content=content, headers={"content-type": content_type}
    )

    assert response.status_code == status
    counts = {name: len(response.headers.get_list(name)) for name in SECURITY_HEADER_NAMES}
    assert counts == dict.fromkeys(SECURITY_HEADER_NAMES, 1)
