"""Operations: readiness, Prometheus metrics and their allow-list, structured logs with the
request id, one access line per operation, and no secrets in the logs."""

import json
import logging
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from models.database import Database
from models.migrations import head_revision
from models.tables import Role
from resolvers.observability import QUIET_LOGGERS, configure_logging, operation_label
from resolvers.tokens import issue_access_token
from settings import Settings
from tests.conftest import REDIS_URL, client_of
from tests.factories import create_post, create_user

HEAD = head_revision()

FEED = "query Feed { posts(first: 5) { nodes { title tags { name } author { username } } } }"


async def test_ready_when_the_database_is_migrated(client: httpx.AsyncClient) -> None:
    response = await client.get("/readyz")

    assert response.status_code == 200
    assert response.json() == {
        "status": "ready",
        "checks": {
            "database": {"ok": True, "detail": "reachable"},
            "migrations": {"ok": True, "detail": f"at {HEAD}"},
        },
    }


async def test_not_ready_before_migrations(settings: Settings, tmp_path: Path) -> None:
    empty = f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}"
    async with client_of(settings, database_url=empty) as client:
        response = await client.get("/readyz")
        alive = await client.get("/healthz")

    assert response.status_code == 503
    assert response.json()["checks"]["migrations"] == {
        "ok": False,
        "detail": f"at nothing, newest is {HEAD}",
    }
    assert alive.status_code == 200


async def test_redis_is_checked_when_configured(
    settings: Settings, database: Database, redis_prefix: str
) -> None:
    async with client_of(settings, redis_url=REDIS_URL, redis_key_prefix=redis_prefix) as up:
        ready = await up.get("/readyz")

    assert ready.status_code == 200
    assert ready.json()["status"] == "ready"
    assert ready.json()["checks"]["redis"] == {"ok": True, "detail": "reachable"}


async def test_redis_down_is_degraded_but_still_ready(
    settings: Settings, database: Database
) -> None:
    async with client_of(settings, redis_url="redis://127.0.0.1:1/0") as down:
        degraded = await down.get("/readyz")
        query = await down.post("/graphql", json={"query": "{ posts { totalCount } }"})

    # Every instance shares one Redis: reporting them all not ready would drain the service,
    # while each keeps serving without Redis.
    assert degraded.status_code == 200
    assert degraded.json() == {
        "status": "degraded",
        "checks": {
            "database": {"ok": True, "detail": "reachable"},
            "migrations": {"ok": True, "detail": f"at {HEAD}"},
            "redis": {"ok": False, "detail": "unreachable (ConnectionError)"},
        },
    }
    assert query.json()["data"] == {"posts": {"totalCount": 0}}


async def test_database_down_is_not_ready_even_with_redis_up(
    settings: Settings, tmp_path: Path, redis_prefix: str
) -> None:
    missing = f"sqlite+aiosqlite:///{tmp_path / 'no-such-folder' / 'quire.db'}"
    async with client_of(
        settings, database_url=missing, redis_url=REDIS_URL, redis_key_prefix=redis_prefix
    ) as client:
        response = await client.get("/readyz")

    assert response.status_code == 503
    assert response.json()["status"] == "not ready"
    assert response.json()["checks"]["database"] == {
        "ok": False,
        "detail": "file cannot be opened",
    }
    assert response.json()["checks"]["redis"] == {"ok": True, "detail": "reachable"}


async def test_metrics_cover_http_graphql_sql_loaders_cost_and_pool(
    client: httpx.AsyncClient, database: Database
) -> None:
    author = await create_user(database, role=Role.AUTHOR)
    await create_post(database, author_id=author)
    await client.post("/graphql", json={"query": FEED, "operationName": "Feed"})
    await client.post("/graphql", json={"query": '{ node(id: "UG9zdDox") { id } }'})

    response = await client.get("/metrics")

    assert response.status_code == 200
    text = response.text
    assert 'quire_http_requests_total{method="POST",route="/graphql",status="200"}' in text
    assert 'quire_graphql_operations_total{operation="Feed",outcome="ok",type="query"}' in text
    assert 'quire_graphql_sql_statements_count{operation="Feed"}' in text
    assert 'quire_graphql_query_cost_count{operation="Feed"}' in text
    assert 'quire_graphql_operation_duration_seconds_bucket{le="0.005",operation="Feed"}' in text
    assert 'quire_dataloader_batch_size_count{loader="by_id"}' in text
    assert "quire_db_pool_connections_in_use" in text
    assert "# TYPE quire_rate_limit_rejections_total counter" in text  # counted: test_rate_limits
    assert "# TYPE quire_websocket_connections gauge" in text


async def test_metrics_answer_only_allowed_networks(app: Any, database: Database) -> None:
    transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 4000))
    async with httpx.AsyncClient(transport=transport, base_url="http://quire.test") as outsider:
        refused = await outsider.get("/metrics")

    assert refused.status_code == 404
    assert "quire_" not in refused.text


async def test_metrics_networks_come_from_settings(settings: Settings, database: Database) -> None:
    async with client_of(settings, metrics_allow="10.0.0.0/8") as client:
        assert (await client.get("/metrics")).status_code == 404  # 127.0.0.1 not listed
    with pytest.raises(ValueError, match="metrics_allow"):
        Settings(metrics_allow="not-a-network", _env_file=None)


def test_operation_names_are_bounded_labels() -> None:
    assert operation_label(None) == "anonymous"
    assert operation_label("Feed") == "Feed"
    assert operation_label("a" * 65) == "other"
    assert operation_label("drop table; --") == "other"


@pytest.fixture
def json_logs(settings: Settings) -> Iterator[Any]:
    """Production logging (JSON lines on stderr, everything from DEBUG up), configured when the
    test calls it (so that the handler writes to the test's captured stderr); pytest's own
    handlers come back afterwards."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    quiet = {name: logging.getLogger(name).level for name in QUIET_LOGGERS}
    yield lambda: configure_logging(
        settings.model_copy(update={"log_format": "json", "log_level": "DEBUG"})
    )
    root.handlers[:] = handlers
    root.setLevel(level)
    for name, previous in quiet.items():
        logging.getLogger(name).setLevel(previous)


def _lines(captured: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in captured.splitlines() if line.startswith("{")]


async def test_one_access_line_per_operation_with_the_request_id(
    client: httpx.AsyncClient,
    database: Database,
    settings: Settings,
    json_logs: Any,
    capsys: pytest.CaptureFixture[str],
) -> None:
    json_logs()
    reader = await create_user(database, role=Role.READER)
    token, _ = issue_access_token(settings, user_id=reader, role=Role.READER)
    capsys.readouterr()

    await client.post(
        "/graphql",
        json={"query": FEED, "operationName": "Feed"},
        headers={"x-request-id": "trace-me-42", "authorization": f"Bearer {token}"},
    )
    await client.post("/graphql", json={"query": "{ nope }"}, headers={"x-request-id": "r2"})

    lines = _lines(capsys.readouterr().err)
    access = [line for line in lines if line["logger"] == "quire.access"]
    assert len(access) == 2
    feed, refused = access
    assert feed["request_id"] == "trace-me-42"
    assert feed["operation"] == "Feed"
    assert feed["operation_type"] == "query"
    assert feed["outcome"] == "ok"
    assert feed["user_id"] == reader
    assert feed["sql_statements"] >= 1
    # posts, nodes, 5 x (post, title, tags 1 + 10 x (tag, name), author 2)
    assert feed["cost"] == 1 + 1 + 5 * (1 + 1 + (1 + 10 * 2) + 2)
    assert feed["duration_ms"] > 0
    assert refused["request_id"] == "r2"
    assert refused["outcome"] == "refused"
    assert refused["error_codes"] == ["GRAPHQL_VALIDATION_FAILED"]
    # Every line written during the requests carries the id of its request.
    assert all(line["request_id"] in ("trace-me-42", "r2") for line in lines)


def test_json_lines_outside_requests_carry_no_colours_and_no_null_request_id(
    json_logs: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    json_logs()
    capsys.readouterr()

    # What uvicorn logs on start-up: a message with a coloured twin for terminals (on a logger
    # of the test's own: other tests' servers reconfigure uvicorn's).
    logging.getLogger("quire.test_startup").info(
        "Uvicorn running on %s",
        "http://127.0.0.1:8000",
        extra={"color_message": "Uvicorn running on \x1b[1m%s\x1b[0m"},
    )

    [line] = _lines(capsys.readouterr().err)
    assert line == {
        "time": line["time"],
        "level": "INFO",
        "logger": "quire.test_startup",
        "message": "Uvicorn running on http://127.0.0.1:8000",
    }


async def test_no_passwords_tokens_or_emails_in_the_logs(
    client: httpx.AsyncClient, json_logs: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    json_logs()
    password, email = "correct horse battery staple", "secret.person@example.com"
    sign_up = """mutation ($input: SignUpInput!) {
      signUp(input: $input) { accessToken refreshToken errors { code } } }"""
    signed = await client.post(
        "/graphql",
        json={
            "query": sign_up,
            "variables": {
                "input": {
                    "username": "secretperson",
                    "email": email,
                    "password": password,
                    "displayName": "S",
                }
            },
        },
    )
    tokens = signed.json()["data"]["signUp"]
    log_in = """mutation ($input: LogInInput!) { logIn(input: $input) { accessToken } }"""
    await client.post(
        "/graphql",
        json={
            "query": log_in,
            "variables": {"input": {"usernameOrEmail": email, "password": "wrong " + password}},
        },
    )
    await client.post(
        "/graphql",
        json={"query": "{ me { email } }"},
        headers={"authorization": f"Bearer {tokens['accessToken']}"},
    )

    logged = capsys.readouterr().err
    assert "quire.access" in logged  # the operations were logged...
    for secret in (password, email, tokens["accessToken"], tokens["refreshToken"]):
        assert secret not in logged  # ...without their secrets


def test_quire_check_reports_each_dependency(tmp_path: Path) -> None:
    quire = str(Path(sys.executable).parent / "quire")
    env = {"DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'check.db'}", "PATH": "/usr/bin"}

    before = subprocess.run(  # noqa: S603 - this venv's quire
        [quire, "check"], env=env, capture_output=True, text=True, check=False
    )
    subprocess.run([quire, "migrate"], env=env, capture_output=True, check=True)  # noqa: S603
    after = subprocess.run(  # noqa: S603
        [quire, "check"], env=env, capture_output=True, text=True, check=False
    )
    bad = subprocess.run(  # noqa: S603
        [quire, "check"],
        env={**env, "QUIRE_RATE_LIMIT_COST": "lots"},
        capture_output=True,
        text=True,
        check=False,
    )

    assert before.returncode == 1
    assert f"migrations: FAILED (at nothing, newest is {HEAD})" in before.stdout
    assert after.returncode == 0, after.stdout + after.stderr
    assert "database: ok (reachable)" in after.stdout
    assert bad.returncode == 1
    assert "rate_limit_cost" in bad.stderr


def test_quire_check_reports_redis_down(tmp_path: Path) -> None:
    quire = str(Path(sys.executable).parent / "quire")
    env = {"DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'check.db'}", "PATH": "/usr/bin"}
    subprocess.run([quire, "migrate"], env=env, capture_output=True, check=True)  # noqa: S603

    # /readyz stays 200 (degraded) without Redis; `quire check` is for the operator: it says
    # what is broken and fails.
    down = subprocess.run(  # noqa: S603 - this venv's quire
        [quire, "check"],
        env={**env, "REDIS_URL": "redis://127.0.0.1:1/0"},
        capture_output=True,
        text=True,
        check=False,
    )

    assert down.returncode == 1
    assert "database: ok (reachable)" in down.stdout
    assert "redis: FAILED (unreachable (ConnectionError))" in down.stdout


def test_forwarded_headers_are_believed_only_from_configured_proxies() -> None:
    from schema.workers import uvicorn_config

    default = uvicorn_config(Settings(_env_file=None), "app:app")
    proxied = uvicorn_config(
        Settings(forwarded_allow_ips="10.0.0.5", graceful_shutdown_seconds=7, _env_file=None),
        "app:app",
    )

    assert default.proxy_headers is False
    assert (proxied.proxy_headers, proxied.forwarded_allow_ips) == (True, "10.0.0.5")
    assert proxied.timeout_graceful_shutdown == 7
    assert default.server_header is False
