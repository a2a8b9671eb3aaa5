"""Log-in throttling: too many failures for one account or from one address within a window
refuse further attempts until the oldest failure leaves the window (a moving window, with the
`limits` library).

Failures are counted in this process's memory, or in Redis when REDIS_URL is set, so that
every instance counts the same failures: a guesser gains nothing by spreading attempts over
instances. Accounts are keyed by a hash of the login, so no username or email is written to
Redis. If Redis fails, log-ins are not throttled (and a warning is logged) rather than refused.
"""

import hashlib
import logging
import time

from limits import RateLimitItem, parse
from limits.aio.storage import Storage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.errors import StorageError
from redis.asyncio import Redis

from resolvers.rate_limits import close_storage, limits_storage
from resolvers.redis_circuit import failure_log_level
from settings import Settings

LOGGER = logging.getLogger("quire.throttle")


class LoginThrottle:
    def __init__(
        self, storage: Storage, *, per_account: RateLimitItem, per_address: RateLimitItem
    ) -> None:
        self.storage = storage
        self.strategy = MovingWindowRateLimiter(storage)
        self.per_account, self.per_address = per_account, per_address

    def _keys(self, account: str, address: str | None) -> list[tuple[RateLimitItem, str]]:
        digest = hashlib.sha256(account.encode()).hexdigest()[:32]
        keys = [(self.per_account, f"account:{digest}")]
        if address is not None:
            keys.append((self.per_address, f"address:{address}"))
        return keys

    async def retry_after(self, *, account: str, address: str | None) -> float | None:
        """Seconds until another attempt is allowed; None if one is allowed now."""
        waits: list[float] = []
        try:
            for item, key in self._keys(account, address):
                if not await self.strategy.test(item, key):
                    stats = await self.strategy.get_window_stats(item, key)
                    waits.append(max(0.0, stats.reset_time - time.time()))
        except StorageError as error:
            level = failure_log_level(error.storage_error)
            LOGGER.log(level, "log-in throttle storage unavailable: %s", type(error.storage_error))
            return None
        return max(waits) if waits else None

    async def record_failure(self, *, account: str, address: str | None) -> None:
        try:
            for item, key in self._keys(account, address):
                await self.strategy.hit(item, key)
        except StorageError as error:
            level = failure_log_level(error.storage_error)
            LOGGER.log(level, "log-in throttle storage unavailable: %s", type(error.storage_error))

    async def record_success(self, *, account: str) -> None:
        item, key = self._keys(account, None)[0]
        try:
            await self.strategy.clear(item, key)
        except StorageError as error:
            level = failure_log_level(error.storage_error)
            LOGGER.log(level, "log-in throttle storage unavailable: %s", type(error.storage_error))

    async def clear(self) -> None:
        await self.storage.reset()

    async def close(self) -> None:
        await close_storage(self.storage)


def create_login_throttle(settings: Settings, redis: Redis | None = None) -> LoginThrottle:
    window = settings.login_failure_window_seconds
    return LoginThrottle(
        limits_storage(settings, "login", redis),
        per_account=parse(f"{settings.login_failures_per_account} per {window} second"),
        per_address=parse(f"{settings.login_failures_per_address} per {window} second"),
    )
