"""A circuit breaker in front of Redis: after consecutive failures or timeouts, Redis is skipped
for a cool-down, then one command probes it again.

Redis is a soft dependency (rate-limit counters, log-in throttle, persisted queries, the event
bus): each of them already lets a request through when Redis fails. What a failing Redis still
costs is time: a Redis that accepts connections and never answers made every command wait for
its socket timeout, several times per request. While the circuit is open, commands fail at once
with RedisCircuitOpen (a RedisError, so every user's existing fallback applies).

The breaker sits in the connection class of the one connection pool every Redis user shares,
so no user can forget it: every command is admitted before it is sent, and every answer (or
failure to answer) is recorded.
"""

import logging
import time
from collections.abc import Callable
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.connection import (
    AbstractConnection,
    Connection,
    ConnectionPool,
    SSLConnection,
    UnixDomainSocketConnection,
    parse_url,
)
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from resolvers.observability import REDIS_CIRCUIT
from settings import Settings

LOGGER = logging.getLogger("quire.redis")

# What says "Redis did not answer" (as opposed to an answer that is an error).
UNREACHABLE = (RedisConnectionError, RedisTimeoutError, OSError, TimeoutError)


class RedisCircuitOpen(RedisError):
    """Redis is being skipped after repeated failures. Not a ConnectionError on purpose:
    redis-py retries those, which would wait for Redis all over again."""


def failure_log_level(error: BaseException) -> int:
    """How loudly a Redis user reports a failed command: a warning, but a debug line while the
    circuit is open (the breaker warned once; a line per skipped command would flood)."""
    return logging.DEBUG if isinstance(error, RedisCircuitOpen) else logging.WARNING


class RedisBreaker:
    """Closed: every command goes to Redis. Open: none does, until the cool-down has passed;
    then one connection probes (half-open), and its first answer closes the circuit while a
    failure opens it again for another cool-down."""

    def __init__(
        self,
        *,
        failures: int,
        cooldown_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.threshold, self.cooldown, self.clock = failures, cooldown_seconds, clock
        self.failures = 0
        self.state = "closed"
        self.retry_at = 0.0
        self.probe: object | None = None
        REDIS_CIRCUIT.set(0)

    @classmethod
    def from_settings(cls, settings: Settings) -> "RedisBreaker":
        return cls(
            failures=settings.redis_circuit_failures,
            cooldown_seconds=settings.redis_circuit_cooldown_seconds,
        )

    def admit(self, caller: object) -> None:
        """Raises RedisCircuitOpen unless `caller` (a connection) may talk to Redis now."""
        if self.state == "closed" or self.probe is caller:
            return
        if self.clock() < self.retry_at:
            raise RedisCircuitOpen("Redis is skipped after repeated failures; retrying soon.")
        # The cool-down has passed (or the last probe never reported back): this caller probes.
        self.state, self.probe = "half-open", caller
        self.retry_at = self.clock() + self.cooldown
        REDIS_CIRCUIT.set(1)

    def succeeded(self, caller: object) -> None:
        if self.state == "closed":
            self.failures = 0
        elif caller is self.probe:
            # Only the probe's answer counts: a command sent before the circuit opened, or a
            # subscriber's message, says little about whether Redis answers commands now.
            self.state, self.probe, self.failures = "closed", None, 0
            REDIS_CIRCUIT.set(0)
            LOGGER.warning("Redis answers again: circuit closed, Redis is used again")

    def failed(self) -> None:
        self.failures += 1
        if self.state == "half-open" or (
            self.state == "closed" and self.failures >= self.threshold
        ):
            self._open()

    def _open(self) -> None:
        if self.state == "closed":
            LOGGER.warning(
                "Redis failed %d times in a row: circuit open, Redis is skipped for %g s "
                "at a time (rate limits, log-in throttle and persisted queries fall back)",
                self.failures,
                self.cooldown,
            )
        self.state, self.probe = "open", None
        self.retry_at = self.clock() + self.cooldown
        REDIS_CIRCUIT.set(2)


class _Guarded(AbstractConnection):
    """Admits every connection attempt and command through the breaker, and records whether
    Redis answered."""

    def __init__(self, *args: Any, breaker: RedisBreaker, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.breaker = breaker

    async def connect_check_health(self, *args: Any, **kwargs: Any) -> None:
        # Admitted here rather than in _connect, whose errors redis-py wraps in a
        # ConnectionError that it retries.
        if not self.is_connected:
            self.breaker.admit(self)
        await super().connect_check_health(*args, **kwargs)

    async def _connect(self) -> None:
        try:
            # Each concrete class (TCP, TLS, Unix socket) has its own _connect, untyped.
            await super()._connect()  # type: ignore[safe-super,no-untyped-call]
        except UNREACHABLE:
            self.breaker.failed()
            raise

    async def send_packed_command(self, *args: Any, **kwargs: Any) -> None:
        self.breaker.admit(self)
        await super().send_packed_command(*args, **kwargs)

    async def read_response(self, *args: Any, **kwargs: Any) -> Any:
        try:
            response = await super().read_response(*args, **kwargs)
        except UNREACHABLE:
            self.breaker.failed()
            raise
        self.breaker.succeeded(self)
        return response


class GuardedConnection(_Guarded, Connection):
    pass


class GuardedSSLConnection(_Guarded, SSLConnection):
    pass


class GuardedUnixConnection(_Guarded, UnixDomainSocketConnection):
    pass


GUARDED: dict[type[AbstractConnection], type[AbstractConnection]] = {
    Connection: GuardedConnection,
    SSLConnection: GuardedSSLConnection,
    UnixDomainSocketConnection: GuardedUnixConnection,
}


def create_redis(settings: Settings, breaker: RedisBreaker) -> Redis:
    """One client (a connection pool) per process for everything Quire keeps in Redis."""
    assert settings.redis_url is not None, "create_redis needs QUIRE_REDIS_URL"
    options: dict[str, Any] = dict(parse_url(settings.redis_url))
    plain: type[AbstractConnection] = options.pop("connection_class", Connection)
    pool = ConnectionPool(
        connection_class=GUARDED[plain],
        breaker=breaker,
        socket_timeout=settings.redis_timeout_seconds,
        socket_connect_timeout=settings.redis_timeout_seconds,
        **options,
    )
    return Redis.from_pool(pool)
