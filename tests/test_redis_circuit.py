"""A hung Redis is skipped after the first timeouts (a circuit breaker), and used again once it
answers: requests keep being served quickly meanwhile."""

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis
from redis.asyncio.connection import parse_url

from app import create_app
from models.database import Database
from resolvers.events import Event
from resolvers.persisted import PersistedQueryError, sha256_hex
from resolvers.redis_circuit import RedisBreaker, RedisCircuitOpen
from settings import Settings
from tests.conftest import REDIS_URL, client_of

QUERY = "{ posts(first: 1) { totalCount } }"
TIMEOUT = 0.5


class SwitchableRedis:
    """A TCP endpoint in front of the real Redis. Hung, it accepts connections and reads
    commands but never answers (a Redis stuck on a slow script, a half-dead network path);
    otherwise it relays both ways."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.hung = True
        self.server: asyncio.Server | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        port = self.server.sockets[0].getsockname()[1]
        return f"redis://127.0.0.1:{port}/0"

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.hung:
            while await reader.read(65536):
                pass
            writer.close()
            return
        up_reader, up_writer = await asyncio.open_connection(*self.upstream)
        relays = [self._relay(reader, up_writer), self._relay(up_reader, writer)]
        await asyncio.gather(*relays, return_exceptions=True)

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while chunk := await reader.read(65536):
                if self.hung:
                    continue
                writer.write(chunk)
                await writer.drain()
        finally:
            writer.close()

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()


@pytest.fixture
async def switchable_redis() -> AsyncIterator[SwitchableRedis]:
    upstream = parse_url(REDIS_URL)
    endpoint = SwitchableRedis((upstream.get("host", "127.0.0.1"), upstream.get("port", 6379)))
    await endpoint.start()
    yield endpoint
    await endpoint.close()


def _redis_settings(settings: Settings, url: str, **overrides: Any) -> dict[str, Any]:
    return {
        "redis_url": url,
        "redis_timeout_seconds": TIMEOUT,
        "redis_circuit_failures": 3,
        "redis_circuit_cooldown_seconds": 60.0,
        **overrides,
    }


async def _timed_queries(client: httpx.AsyncClient, count: int) -> float:
    started = time.perf_counter()
    for _ in range(count):
        response = await client.post("/graphql", json={"query": QUERY})
        assert response.json()["data"] == {"posts": {"totalCount": 0}}
    return time.perf_counter() - started


def _circuit_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "quire.redis"]


async def test_a_hung_redis_is_skipped_after_the_first_timeouts(
    settings: Settings,
    database: Database,
    switchable_redis: SwitchableRedis,
    caplog: pytest.LogCaptureFixture,
) -> None:
    overrides = _redis_settings(settings, switchable_redis.url)

    with caplog.at_level(logging.WARNING):
        async with client_of(settings, **overrides) as client:
            # The first request waits for Redis to time out, and opens the circuit.
            first = await client.post("/graphql", json={"query": QUERY})
            opened = _circuit_warnings(caplog)
            caplog.clear()
            elapsed = await _timed_queries(client, 20)
            metrics = await client.get("/metrics")

    assert first.json()["data"] == {"posts": {"totalCount": 0}}
    # One timeout per request would take 20 x 0.5 s; skipped, Redis costs nothing.
    assert elapsed < 20 * TIMEOUT / 4
    assert "quire_redis_circuit_state 2.0" in metrics.text
    assert len(opened) == 1
    assert "circuit open" in opened[0]
    # While the circuit is open, skipped commands add no warning per request.
    assert caplog.records == []


async def test_every_redis_user_fails_fast_while_the_circuit_is_open(
    settings: Settings, database: Database, switchable_redis: SwitchableRedis
) -> None:
    application = create_app(
        settings.model_copy(update=_redis_settings(settings, switchable_redis.url))
    )
    state = application.state
    try:
        await _open_the_circuit(state.redis)
        started = time.perf_counter()
        await state.rate_limiter.spend_operation("address:203.0.113.9", address="203.0.113.9")
        attempt = await state.login_throttle.admit(
            account="ada", device=None, address="203.0.113.9"
        )
        await state.login_throttle.succeeded(attempt)
        apq = {"persistedQuery": {"version": 1, "sha256Hash": sha256_hex(QUERY)}}
        with pytest.raises(PersistedQueryError, match="PersistedQueryNotFound"):
            await state.persisted.resolve(None, apq)
        with state.events.subscribe(["post_published"]) as subscription:
            await state.events.publish(Event("post_published", 7))
            delivered = subscription.queue.get_nowait()
        elapsed = time.perf_counter() - started
    finally:
        await state.login_throttle.close()
        await state.rate_limiter.close()
        await state.persisted.close()
        await state.database.dispose()

    # Six Redis round trips that would each wait 0.5 s for a hung Redis.
    assert elapsed < TIMEOUT
    # Without Redis, an event still reaches this instance's subscribers.
    assert delivered == Event("post_published", 7)


async def _open_the_circuit(redis: Redis) -> None:
    for _ in range(3):
        with contextlib.suppress(Exception):
            await redis.ping()
    with pytest.raises(RedisCircuitOpen):
        await redis.ping()


async def test_the_circuit_closes_again_when_redis_answers(
    settings: Settings,
    database: Database,
    redis_prefix: str,
    switchable_redis: SwitchableRedis,
    caplog: pytest.LogCaptureFixture,
) -> None:
    overrides = _redis_settings(
        settings,
        switchable_redis.url,
        redis_key_prefix=redis_prefix,
        redis_circuit_cooldown_seconds=0.5,
    )

    with caplog.at_level(logging.WARNING, logger="quire.redis"):
        async with client_of(settings, **overrides) as client:
            await client.post("/graphql", json={"query": QUERY})  # opens the circuit
            switchable_redis.hung = False
            await asyncio.sleep(0.6)  # the cool-down passes; the next command probes
            await client.post("/graphql", json={"query": QUERY})
            elapsed = await _timed_queries(client, 5)
            metrics = await client.get("/metrics")

    # Closed again: the rate limiter counts in Redis.
    counted = Redis.from_url(REDIS_URL)
    keys = [key async for key in counted.scan_iter(match=f"{redis_prefix}:rate*")]
    await counted.aclose()
    assert keys != []
    assert elapsed < 5 * TIMEOUT
    assert "quire_redis_circuit_state 0.0" in metrics.text
    warnings = _circuit_warnings(caplog)
    assert len(warnings) == 2
    assert "circuit open" in warnings[0]
    assert "circuit closed" in warnings[1]


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_the_breaker_opens_after_consecutive_failures_only() -> None:
    breaker = RedisBreaker(failures=3, cooldown_seconds=10, clock=Clock())
    caller = object()

    breaker.failed()
    breaker.failed()
    breaker.succeeded(caller)  # an answer resets the count
    breaker.failed()
    breaker.failed()
    breaker.admit(caller)
    breaker.failed()

    with pytest.raises(RedisCircuitOpen):
        breaker.admit(caller)
    assert breaker.state == "open"


def test_after_the_cool_down_one_caller_probes(caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    breaker = RedisBreaker(failures=1, cooldown_seconds=10, clock=clock)
    probe, other = object(), object()

    with caplog.at_level(logging.WARNING, logger="quire.redis"):
        breaker.failed()
        clock.now = 10
        breaker.admit(probe)
        breaker.admit(probe)  # the probe's own handshake and command
        with pytest.raises(RedisCircuitOpen):
            breaker.admit(other)
        breaker.failed()  # the probe failed: open for another cool-down
        clock.now = 19
        with pytest.raises(RedisCircuitOpen):
            breaker.admit(probe)
        clock.now = 20
        breaker.admit(other)
        breaker.succeeded(probe)  # an answer to a command sent before: not the probe's
        assert breaker.state == "half-open"
        breaker.succeeded(other)
        breaker.admit(probe)

    assert breaker.state == "closed"
    assert len(caplog.records) == 2
    assert "circuit open" in caplog.records[0].getMessage()
    assert "circuit closed" in caplog.records[1].getMessage()


def test_a_probe_that_never_reports_back_is_replaced_after_the_cool_down() -> None:
    clock = Clock()
    breaker = RedisBreaker(failures=1, cooldown_seconds=10, clock=clock)
    lost, next_probe = object(), object()
    breaker.failed()
    clock.now = 10
    breaker.admit(lost)  # cancelled before Redis answered

    clock.now = 20
    breaker.admit(next_probe)

    assert breaker.probe is next_probe
