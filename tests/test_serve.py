"""`quire serve`: on SIGTERM an instance stops accepting connections,
finishes the requests in flight, disposes its pool and exits; with several workers, /metrics
adds up all of them."""

import os
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

import httpx
import pytest

from tests.live import VENV_BIN, free_port, migrate, serving
from tests.wsclient import graphql_socket

LOG_IN = """mutation ($input: LogInInput!) {
  logIn(input: $input) { accessToken errors { code } } }"""
PASSWORD = "a slow but correct password"


@pytest.mark.parametrize("workers", [1, 2])
def test_sigterm_lets_the_request_in_flight_finish(tmp_path: Path, workers: int) -> None:
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'quire.db'}",
        # A log-in then takes over a second of argon2 work: a request surely in flight.
        "QUIRE_ARGON2_TIME_COST": "30",
        "QUIRE_ADMIN_PASSWORD": PASSWORD,
        "QUIRE_RATE_LIMIT_ENABLED": "false",
        # No drain period: the listening socket closes at once (tests/test_server.py drains).
        "QUIRE_SHUTDOWN_DRAIN_SECONDS": "0",
    }
    migrate(env)
    subprocess.run(  # noqa: S603 - this venv's quire
        [str(VENV_BIN / "quire"), "create-admin", "--username", "ada", "--email", "a@example.com"],
        env=env,
        check=True,
        capture_output=True,
    )
    responses: list[httpx.Response] = []

    with serving(env, tmp_path, workers=workers) as server:

        def log_in() -> None:
            variables = {"input": {"usernameOrEmail": "ada", "password": PASSWORD}}
            responses.append(
                httpx.post(
                    f"{server.url}/graphql",
                    json={"query": LOG_IN, "variables": variables},
                    timeout=30,
                    trust_env=False,
                )
            )

        in_flight = threading.Thread(target=log_in)
        in_flight.start()
        time.sleep(0.5)
        server.process.send_signal(signal.SIGTERM)
        time.sleep(0.3)
        with pytest.raises(httpx.TransportError):
            httpx.get(f"{server.url}/healthz", timeout=2, trust_env=False)
        in_flight.join(timeout=30)
        code = server.process.wait(timeout=30)

    assert len(responses) == 1, server.log.read_text()
    assert responses[0].status_code == 200
    assert responses[0].json()["data"]["logIn"]["accessToken"]
    assert code == 0, server.log.read_text()
    log = server.log.read_text()
    assert "mutation anonymous ok" in log  # the access line of the finished log-in
    assert log.index("Shutting down") < log.index("mutation anonymous ok")
    assert "Application shutdown complete" in log  # the lifespan disposed of the pool


def test_metrics_add_up_every_worker(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'quire.db'}",
        "QUIRE_RATE_LIMIT_ENABLED": "false",
    }
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    migrate(env)
    with serving(env, tmp_path, workers=2) as server:
        for _ in range(12):
            # A new connection each time, so that the kernel spreads them over both workers;
            # each scrape (also a new connection) then lands on either of them.
            httpx.post(
                f"{server.url}/graphql",
                json={"query": "{ posts { totalCount } }"},
                trust_env=False,
            )
        scrapes = [httpx.get(f"{server.url}/metrics", trust_env=False).text for _ in range(4)]

    line = 'quire_http_requests_total{method="POST",route="/graphql",status="200"} 12.0'
    assert all(line in scrape for scrape in scrapes), scrapes[0]


async def test_sigterm_closes_subscription_sockets_cleanly(tmp_path: Path) -> None:
    env = {**os.environ, "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'quire.db'}"}
    migrate(env)
    with serving(env, tmp_path) as server:
        url = server.url.replace("http://", "ws://") + "/graphql"
        async with graphql_socket(url) as socket:
            await socket.subscribe("1", "subscription { postPublished { title } }")
            server.process.send_signal(signal.SIGTERM)
            code, _reason = await socket.closed(seconds=10)
        exit_code = server.process.wait(timeout=30)

    assert code in (1001, 1012)  # going away / service restart: reconnect elsewhere
    assert exit_code == 0, server.log.read_text()


def test_a_port_in_use_stops_quire_serve_with_a_hint(tmp_path: Path) -> None:
    env = {**os.environ, "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'quire.db'}"}
    with socket.socket() as other_server:
        other_server.bind(("127.0.0.1", 0))
        other_server.listen()
        port = other_server.getsockname()[1]

        result = subprocess.run(  # noqa: S603 - this venv's quire
            [str(VENV_BIN / "quire"), "serve"],
            env={**env, "HOST": "127.0.0.1", "PORT": str(port)},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == (
        f"Port {port} is in use (127.0.0.1:{port}): stop the other server, or set another "
        f"port, e.g. PORT={port + 1} make run (or PORT=... quire serve)."
    )


def test_serve_says_where_the_playground_is_and_what_the_database_needs(tmp_path: Path) -> None:
    closed_port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": f"postgresql+asyncpg://postgres@127.0.0.1:{closed_port}/quire",
        "QUIRE_ENV": "development",
    }

    with serving(env, tmp_path) as server:
        port = server.url.rsplit(":", 1)[1]
        deadline = time.monotonic() + 10
        while "Playground" not in server.log.read_text() and time.monotonic() < deadline:
            time.sleep(0.1)
        log = server.log.read_text()

    assert (
        f"WARNING quire.server Nothing accepts connections at 127.0.0.1:{closed_port}: start "
        "PostgreSQL, or fix DATABASE_URL. Serving anyway; /readyz answers 503 until it is fixed."
    ) in log
    assert (
        f"INFO    quire.server Playground: http://127.0.0.1:{port}/graphql (/ leads there)" in log
    )
