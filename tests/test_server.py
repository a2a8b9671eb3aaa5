"""`quire serve` exposed directly: what one client may hold at the HTTP layer (request head size
and time, body pauses, connections per address), tried with raw sockets against a real server;
and the drain between SIGTERM and the shutdown, under a steady stream of requests."""

import contextlib
import json
import os
import signal
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from schema.protocol import ClientLimits, trusted_networks
from tests.live import Server, migrate, serving

HEAD_TIMEOUT_SECONDS = 1.0
BODY_TIMEOUT_SECONDS = 1.0
# The server times with the event loop's clock, the test with time.monotonic(): they may differ
# by a few milliseconds at the edges.
CLOCK_SLACK = 0.05
CONNECTIONS_PER_CLIENT = 6  # above the five connections the memory test holds
HEALTHZ = b"GET /healthz HTTP/1.1\r\nHost: quire\r\n\r\n"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    directory = tmp_path_factory.mktemp("server")
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite+aiosqlite:///{directory / 'quire.db'}",
        "QUIRE_REQUEST_HEAD_TIMEOUT_SECONDS": str(HEAD_TIMEOUT_SECONDS),
        "QUIRE_REQUEST_BODY_TIMEOUT_SECONDS": str(BODY_TIMEOUT_SECONDS),
        "QUIRE_MAX_CONNECTIONS_PER_CLIENT": str(CONNECTIONS_PER_CLIENT),
        "QUIRE_RATE_LIMIT_ENABLED": "false",
    }
    migrate(env)
    with serving(env, directory) as running:
        yield running


def connect(server: Server) -> socket.socket:
    host, port = server.url.removeprefix("http://").split(":")
    return socket.create_connection((host, int(port)), timeout=10)


def read_until_closed(connection: socket.socket) -> bytes:
    received = b""
    try:
        while chunk := connection.recv(65536):
            received += chunk
    except (ConnectionResetError, TimeoutError):
        pass  # reset after the answer, or no answer at all: the caller asserts on what came
    return received


def read_response(connection: socket.socket) -> bytes:
    """One response with a content-length, on a connection that stays open."""
    received = b""
    while b"\r\n\r\n" not in received:
        received += connection.recv(65536)
    head, _, body = received.partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.lower().split(b"\r\n")
        if line.startswith(b"content-length:")
    )
    while len(body) < length:
        body += connection.recv(65536)
    return head + b"\r\n\r\n" + body


def status_and_code(response: bytes) -> tuple[int, str]:
    head, _, body = response.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    return status, json.loads(body)["errors"][0]["extensions"]["code"]


def resident_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS in /proc/<pid>/status")


def send_ignoring_close(connection: socket.socket, data: bytes) -> None:
    # The server refuses and closes while the rest is still being sent.
    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
        connection.sendall(data)


@pytest.mark.parametrize(
    "head",
    [
        b"GET /healthz HTTP/1.1\r\nHost: quire\r\nX-Pad: " + b"a" * 40_000 + b"\r\n\r\n",
        b"GET /healthz HTTP/1.1\r\nHost: quire\r\n" + b"X-Pad: aaaaaaaaaa\r\n" * 3_000 + b"\r\n",
        b"GET /healthz?" + b"q" * 40_000 + b" HTTP/1.1\r\nHost: quire\r\n\r\n",
    ],
    ids=["one-long-header", "many-headers", "long-url"],
)
def test_an_oversized_request_head_is_refused_with_431(server: Server, head: bytes) -> None:
    with connect(server) as connection:
        send_ignoring_close(connection, head)
        response = read_until_closed(connection)

    assert status_and_code(response) == (431, "REQUEST_HEADERS_TOO_LARGE")
    assert b"\r\nconnection: close\r\n" in response
    assert response.count(b"\r\nx-content-type-options: nosniff\r\n") == 1


def test_a_head_under_the_limit_is_served(server: Server) -> None:
    head = b"GET /healthz HTTP/1.1\r\nHost: quire\r\nX-Pad: " + b"a" * 30_000 + b"\r\n\r\n"

    with connect(server) as connection:
        connection.sendall(head)
        response = read_response(connection)

    assert response.startswith(b"HTTP/1.1 200 OK\r\n")


def test_unfinished_header_blocks_hold_no_memory(server: Server) -> None:
    before = resident_bytes(server.process.pid)
    block = b"GET /healthz HTTP/1.1\r\nHost: quire\r\nX-Pad: " + b"a" * (40 * 1024 * 1024)
    held = [connect(server) for _ in range(5)]
    try:
        for connection in held:
            send_ignoring_close(connection, block)  # 40 MB and never the blank line
        grown = resident_bytes(server.process.pid) - before  # all five still open
        responses = [read_until_closed(connection) for connection in held]
    finally:
        for connection in held:
            connection.close()

    assert grown < 10 * 1024 * 1024, f"the server grew by {grown / 1e6:.0f} MB"
    # A refusal may be lost to the reset that closing on unread data causes; none is served.
    assert {status_and_code(response)[0] for response in responses if response} == {431}


def test_a_trickling_head_is_answered_408_and_closed(server: Server) -> None:
    with connect(server) as connection:
        started = time.monotonic()
        connection.sendall(b"GET /healthz HTTP/1.1\r\n")
        connection.settimeout(0.3)
        response = b""
        for line in range(20):  # one header line every 0.3 s, never the blank line
            try:
                connection.sendall(b"X-Line-%d: a\r\n" % line)
                response = connection.recv(65536)
            except TimeoutError:
                continue
            except (BrokenPipeError, ConnectionResetError):
                break
            break
        elapsed = time.monotonic() - started

    assert status_and_code(response) == (408, "REQUEST_TIMEOUT")
    assert HEAD_TIMEOUT_SECONDS - CLOCK_SLACK <= elapsed < HEAD_TIMEOUT_SECONDS + 5


def test_a_silent_connection_is_closed_after_the_head_timeout(server: Server) -> None:
    with connect(server) as connection:
        started = time.monotonic()
        response = read_until_closed(connection)
        elapsed = time.monotonic() - started

    assert response == b""
    assert HEAD_TIMEOUT_SECONDS - CLOCK_SLACK <= elapsed < HEAD_TIMEOUT_SECONDS + 5


def test_a_stalled_body_is_answered_408_and_closed(server: Server) -> None:
    head = (
        b"POST /graphql HTTP/1.1\r\nHost: quire\r\nContent-Type: application/json\r\n"
        b"Content-Length: 100\r\n\r\n"
    )
    with connect(server) as connection:
        connection.sendall(head + b'{"query": ')
        started = time.monotonic()
        response = read_until_closed(connection)
        elapsed = time.monotonic() - started

    time.sleep(0.3)  # the application sees the disconnect after the 408 was sent
    assert status_and_code(response) == (408, "REQUEST_TIMEOUT")
    assert BODY_TIMEOUT_SECONDS - CLOCK_SLACK <= elapsed < BODY_TIMEOUT_SECONDS + 5
    assert "Exception in ASGI application" not in server.log.read_text()


def test_a_keep_alive_connection_is_not_cut_by_the_head_timeout(server: Server) -> None:
    with connect(server) as connection:
        connection.sendall(HEALTHZ)
        first = read_response(connection)
        time.sleep(HEAD_TIMEOUT_SECONDS + 0.5)  # idle between requests: keep-alive's business
        connection.sendall(HEALTHZ)
        second = read_response(connection)

    assert first.startswith(b"HTTP/1.1 200 OK\r\n")
    assert second.startswith(b"HTTP/1.1 200 OK\r\n")


def test_connections_per_client_address_are_capped(server: Server) -> None:
    held = [connect(server) for _ in range(CONNECTIONS_PER_CLIENT)]
    try:
        for connection in held:
            connection.sendall(HEALTHZ)  # served: each is a live keep-alive connection
            assert read_response(connection).startswith(b"HTTP/1.1 200 OK\r\n")
        with connect(server) as one_too_many:
            refused = read_until_closed(one_too_many)
        held.pop().close()
        time.sleep(0.2)
        with connect(server) as after_one_closed:
            after_one_closed.sendall(HEALTHZ)
            admitted = read_response(after_one_closed)
    finally:
        for connection in held:
            connection.close()

    assert status_and_code(refused) == (429, "TOO_MANY_CONNECTIONS")
    assert b"\r\nretry-after: 1\r\n" in refused
    assert admitted.startswith(b"HTTP/1.1 200 OK\r\n")


def test_trusted_proxies_are_not_capped_per_address() -> None:
    limits = ClientLimits(
        head_bytes=32_768,
        head_timeout_seconds=10,
        body_timeout_seconds=10,
        connections_per_address=1,
        uncapped_networks=trusted_networks("10.0.0.5, 172.30.80.0/24, /run/quire.sock"),
    )

    assert limits.caps("10.0.0.5") is False
    assert limits.caps("172.30.80.10") is False
    assert limits.caps("10.0.0.6") is True
    assert trusted_networks("*") is None


DRAIN_SECONDS = 4.0


@dataclass(frozen=True)
class Outcome:
    sent_at: float
    status: int | str  # the status code, or the transport error's name
    connection: str


def send_until(url: str, stop: threading.Event, outcomes: list[Outcome]) -> None:
    """One keep-alive client sending requests back to back."""
    with httpx.Client(trust_env=False, timeout=30) as client:
        while not stop.is_set():
            sent_at = time.monotonic()
            try:
                response = client.post(url, json={"query": "{ posts { totalCount } }"})
            except httpx.TransportError as error:
                outcomes.append(Outcome(sent_at, type(error).__name__, ""))
                continue
            outcomes.append(
                Outcome(sent_at, response.status_code, response.headers.get("connection", ""))
            )


@pytest.mark.parametrize("workers", [1, 2])
def test_sigterm_drains_without_dropping_a_request(tmp_path: Path, workers: int) -> None:
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'quire.db'}",
        "QUIRE_SHUTDOWN_DRAIN_SECONDS": str(DRAIN_SECONDS),
        "QUIRE_RATE_LIMIT_ENABLED": "false",
    }
    migrate(env)
    outcomes: list[Outcome] = []
    stop = threading.Event()
    with serving(env, tmp_path, workers=workers) as server:
        clients = [
            threading.Thread(target=send_until, args=(f"{server.url}/graphql", stop, outcomes))
            for _ in range(4)
        ]
        for client in clients:
            client.start()
        time.sleep(1.0)
        server.process.send_signal(signal.SIGTERM)
        signalled_at = time.monotonic()
        time.sleep(0.5)
        readiness = [httpx.get(f"{server.url}/readyz", trust_env=False) for _ in range(4)]
        time.sleep(1.0)  # the stream goes on while the load balancer takes this one out
        stop.set()
        for client in clients:
            client.join(timeout=30)
        code = server.process.wait(timeout=60)
        stopped_after = time.monotonic() - signalled_at

    before = [outcome for outcome in outcomes if outcome.sent_at < signalled_at]
    during = [outcome for outcome in outcomes if outcome.sent_at >= signalled_at + 0.3]
    assert len(before) > 10
    assert len(during) > 10
    assert [o.status for o in outcomes if o.status != 200] == []  # not one dropped
    assert {o.connection for o in during} == {"close"}  # clients reconnect elsewhere
    assert [(r.status_code, r.json()["status"]) for r in readiness] == [(503, "draining")] * 4
    assert code == 0, server.log.read_text()
    assert stopped_after >= DRAIN_SECONDS
