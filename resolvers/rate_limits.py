"""Per-client rate limits on operations and on summed query cost, with the `limits` library.

Every operation spends 1 from the client's operation budget and its static cost (see
schema/limits.py) from its cost budget, both in fixed windows (like GitHub's hourly points), so
a client learns exactly when its budget comes back. The client is the user when authenticated,
the address otherwise. Every operation also spends 1 from its address's budget, shared by all
the users and anonymous clients there, so that accounts made for the purpose do not multiply
what one address may send; and each account created spends from the address's sign-ups.
Storage is this process's memory by default and Redis when REDIS_URL is set, so that every
instance spends from one budget. If Redis fails, requests are let through
(and logged): an outage of the limiter must not become an outage of the API.
"""

import ipaddress
import logging
import math
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from limits import RateLimitItem, parse
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import FixedWindowRateLimiter
from limits.errors import StorageError
from redis.asyncio import Redis

from resolvers.errors import QuireError
from resolvers.redis_circuit import RedisBreaker, create_redis, failure_log_level
from resolvers.visibility import Viewer
from settings import Settings

LOGGER = logging.getLogger("quire.rate_limits")


class RateLimitedError(QuireError):
    code = "RATE_LIMITED"


@dataclass(frozen=True, slots=True)
class Budget:
    """What is left of one budget in the current window."""

    limit: int
    remaining: int
    reset_at: float  # seconds since the epoch

    @property
    def reset_time(self) -> datetime:
        """When the window ends, to the whole second (rounded up: never before it does)."""
        return datetime.fromtimestamp(math.ceil(self.reset_at), tz=UTC)


@dataclass(frozen=True, slots=True)
class Spending:
    operations: Budget
    cost: Budget


# What a refusal says each budget counts.
COUNTED = {
    "operations": "operations",
    "cost": "query cost",
    "address": "operations from one address",
    "signUps": "sign-ups from one address",
}


def address_group(address: str | None) -> str:
    """What an address budget counts: an IPv4 address itself, an IPv6 address's /64 network
    (one subscriber holds a whole /64 and could otherwise rotate through 2^64 budgets)."""
    if not address:
        return "unknown"
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(parsed, ipaddress.IPv6Address) and parsed.ipv4_mapped is None:
        return str(ipaddress.ip_network(f"{parsed}/64", strict=False))
    return str(parsed.ipv4_mapped if isinstance(parsed, ipaddress.IPv6Address) else parsed)


def client_key(viewer: Viewer, client_address: str | None) -> str:
    if viewer.user_id is not None:
        return f"user:{viewer.user_id}"
    return f"address:{address_group(client_address)}"


def address_key(client_address: str | None) -> str:
    # Not `address:`: an anonymous client's own budget has that key, and equal limits would
    # make the two budgets one counter.
    return f"everyone-at:{address_group(client_address)}"


def limits_storage(settings: Settings, purpose: str, redis: Redis | None = None) -> Storage:
    """Counters for the `limits` library: in this process's memory, or in Redis (under
    `<prefix>:<purpose>`) when REDIS_URL is set, through the process's one connection pool
    and circuit breaker (`redis`; a pool of its own when not given). Storage errors are
    wrapped in StorageError, which callers treat as "let it through"."""
    if not settings.redis_url:
        return MemoryStorage(wrap_exceptions=True)
    client = redis or create_redis(settings, RedisBreaker.from_settings(settings))
    # limits hands `connection_pool` to redis-py (its options are typed as plain values).
    shared: dict[str, Any] = {"connection_pool": client.connection_pool}
    return RedisStorage(
        # limits names its asyncio Redis storage `async+redis://` (or `async+rediss://`).
        f"async+{settings.redis_url}",
        implementation="redispy",
        key_prefix=f"{settings.redis_key_prefix}:{purpose}",
        wrap_exceptions=True,
        **shared,
    )


async def close_storage(storage: Storage) -> None:
    """Closes a Redis storage's connections (the counters stay in Redis). Its pool may be the
    process's shared one: storages close when the process shuts down, like the pool."""
    if isinstance(storage, RedisStorage):
        client = getattr(storage.bridge, "storage", None)
        if client is not None:
            await client.aclose()
            await client.connection_pool.disconnect()


class RateLimiter:
    def __init__(
        self,
        storage: Storage,
        *,
        operations: RateLimitItem,
        cost: RateLimitItem,
        address_operations: RateLimitItem,
        sign_ups: RateLimitItem,
    ) -> None:
        self.storage = storage
        self.strategy = FixedWindowRateLimiter(storage)
        self.operations = operations
        self.cost = cost
        self.address_operations = address_operations
        self.sign_ups = sign_ups

    async def spend_operation(self, client: str, count: int = 1, *, address: str | None) -> None:
        """Spend `count` operations (a batch spends one per operation) from the client's
        budget and from its address's; refuse when they do not fit in either."""
        if not await self._hit(self.operations, client, count):
            raise await self._refusal(self.operations, client, "operations", requested=count)
        every_client = address_key(address)
        if not await self._hit(self.address_operations, every_client, count):
            raise await self._refusal(
                self.address_operations, every_client, "address", requested=count
            )

    async def spend_sign_up(self, address: str | None) -> None:
        """Spend one account creation from the address's budget; refuse when it is spent."""
        key = address_key(address)
        if not await self._hit(self.sign_ups, key, 1):
            raise await self._refusal(self.sign_ups, key, "signUps")

    async def spend_cost(self, client: str, cost: int) -> Spending | None:
        """Spend an operation's cost; refuse when it does not fit in what is left. Returns
        both budgets as they stand afterwards (None when the storage cannot say)."""
        if cost > 0 and not await self._hit(self.cost, client, cost):
            raise await self._refusal(self.cost, client, "cost", requested=cost)
        return await self.spending(client)

    async def spending(self, client: str) -> Spending | None:
        try:
            operations = await self.strategy.get_window_stats(self.operations, client)
            cost = await self.strategy.get_window_stats(self.cost, client)
        except StorageError as error:
            level = failure_log_level(error.storage_error)
            LOGGER.log(level, "rate-limit storage unavailable: %s", type(error.storage_error))
            return None
        return Spending(
            operations=Budget(self.operations.amount, operations.remaining, operations.reset_time),
            cost=Budget(self.cost.amount, cost.remaining, cost.reset_time),
        )

    async def _hit(self, item: RateLimitItem, client: str, cost: int) -> bool:
        try:
            return await self.strategy.hit(item, client, cost=cost)
        except StorageError as error:
            level = failure_log_level(error.storage_error)
            LOGGER.log(level, "rate-limit storage unavailable: %s", type(error.storage_error))
            return True

    async def _refusal(
        self, item: RateLimitItem, client: str, budget: str, requested: int | None = None
    ) -> RateLimitedError:
        try:
            stats = await self.strategy.get_window_stats(item, client)
            reset_at = stats.reset_time
        except StorageError:
            reset_at = time.time() + item.get_expiry()
        retry_after = max(1, math.ceil(reset_at - time.time()))
        what = COUNTED[budget]
        extra = {"requested": requested} if requested is not None else {}
        return RateLimitedError(
            f"Rate limit exceeded: at most {item.amount} {what} per {_window(item)}; "
            f"retry in {retry_after} seconds.",
            budget=budget,
            limit=item.amount,
            retryAfter=retry_after,
            **extra,
        )

    async def close(self) -> None:
        await close_storage(self.storage)


def _window(item: RateLimitItem) -> str:
    name = item.GRANULARITY.name
    return name if item.multiples == 1 else f"{item.multiples} {name}s"


def create_rate_limiter(settings: Settings, redis: Redis | None = None) -> RateLimiter | None:
    if not settings.rate_limit_enabled:
        return None
    return RateLimiter(
        limits_storage(settings, "rate", redis),
        operations=parse(settings.rate_limit_operations),
        cost=parse(settings.rate_limit_cost),
        address_operations=parse(settings.rate_limit_address_operations),
        sign_ups=parse(settings.rate_limit_sign_ups),
    )
