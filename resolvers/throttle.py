"""Password-guessing throttle for logIn and changePassword that hands guessers no lock-out
(OWASP's "device cookies" and progressive delays).

- A client that logged in to the account before sends the device token it got then (see
  resolvers/device_tokens.py) and spends from a failure budget of its own: nobody else's
  failures, for the account or from its address, stop it.
- Every other client spends from the account's budget: a few failures per window are free,
  then each failure makes the next attempt wait, doubling up to a cap. A guesser is slowed to
  a crawl; the owner on a new client waits a minute at worst instead of being locked out.
  Such clients at one address also share a failure budget, which known devices never spend.
- Accounts are keyed by user id, so the username and the email are one budget. A login that
  names no account is keyed by a keyed hash of it and throttled alike, so that the answers
  tell a guesser nothing about which accounts exist, and no login is written to Redis.

Every attempt is counted when it is admitted, before the password is checked, so concurrent
guesses cannot slip through together; a success gives back what it spent. Counters are fixed
windows in the `limits` storage: this process's memory, or Redis when REDIS_URL is set, so that
every instance counts the same failures. If the storage fails, attempts are let through (and a
warning is logged) rather than refused.
"""

import hashlib
import hmac
import logging
import math
import time
from dataclasses import dataclass
from typing import Self

from limits.aio.storage import Storage
from limits.errors import StorageError
from redis.asyncio import Redis

from resolvers.errors import TooManyAttemptsError
from resolvers.rate_limits import address_group, close_storage, limits_storage
from resolvers.redis_circuit import failure_log_level
from settings import Settings

LOGGER = logging.getLogger("quire.throttle")


@dataclass(frozen=True, slots=True)
class ThrottleRules:
    free_failures: int
    failures_per_device: int
    failures_per_address: int
    window_seconds: int
    first_delay_seconds: int
    longest_delay_seconds: int

    @classmethod
    def from_settings(cls, settings: Settings) -> Self:
        return cls(
            free_failures=settings.login_failures_per_account,
            failures_per_device=settings.login_failures_per_device,
            failures_per_address=settings.login_failures_per_address,
            window_seconds=settings.login_failure_window_seconds,
            first_delay_seconds=settings.login_delay_first_seconds,
            longest_delay_seconds=settings.login_delay_longest_seconds,
        )

    def delay_after(self, failures: int) -> int:
        """Whole seconds the next attempt waits after `failures` failures in the window
        (whole, because Redis expires keys in seconds)."""
        beyond = failures - self.free_failures
        if beyond <= 0:
            return 0
        doubled = self.first_delay_seconds << min(beyond - 1, 32)  # x 2 per failure
        return min(doubled, self.longest_delay_seconds)


@dataclass(frozen=True, slots=True)
class Attempt:
    """The counters an admitted attempt spent, settled once the password is checked."""

    account: str
    device: str | None = None
    address: str | None = None


class LoginThrottle:
    def __init__(self, storage: Storage, *, rules: ThrottleRules, secret: bytes) -> None:
        self.storage = storage
        self.rules = rules
        self.secret = secret

    def account_key(self, user_id: int | None, *, login: str) -> str:
        if user_id is not None:
            return f"account:{user_id}"
        digest = hmac.new(self.secret, login.encode(), hashlib.sha256).hexdigest()[:32]
        return f"login:{digest}"

    async def admit(self, *, account: str, device: str | None, address: str | None) -> Attempt:
        """Counts an attempt as a failure before the password is checked; raises
        TooManyAttemptsError when it must wait. `device` is the id of a device token valid
        for this account, None for an unknown client."""
        try:
            if device is not None:
                key = f"device:{device}"
                await self._spend(key, self.rules.failures_per_device, budget="device")
                return Attempt(account=account, device=key)
            return await self._admit_unknown_client(account, address)
        except StorageError as error:
            _warn(error)
            return Attempt(account=account)

    async def succeeded(self, attempt: Attempt) -> None:
        """The password was right: forgive the failures of the budget the attempt spent."""
        try:
            if attempt.device is not None:
                await self.storage.clear(attempt.device)
                return
            await self.storage.clear(attempt.account)
            await self.storage.clear(_gate(attempt.account))
            if attempt.address is not None:
                await self._give_back(attempt.address)
        except StorageError as error:
            _warn(error)

    async def _admit_unknown_client(self, account: str, address: str | None) -> Attempt:
        gate = _gate(account)
        if await self.storage.get(gate) > 0:
            raise await self._refusal(gate, budget="account")
        address_key = None if address is None else f"address:{address_group(address)}"
        if address_key is not None:
            await self._spend(address_key, self.rules.failures_per_address, budget="address")
        try:
            await self._pass_gate(account)
        except TooManyAttemptsError:
            if address_key is not None:
                await self._give_back(address_key)
            raise
        return Attempt(account=account, address=address_key)

    async def _pass_gate(self, account: str) -> None:
        """Counts the attempt; beyond the free failures it closes the gate behind itself for
        the next delay. Of concurrent attempts only the first to close it gets through."""
        failures = await self.storage.incr(account, self.rules.window_seconds)
        delay = self.rules.delay_after(failures)
        if delay and await self.storage.incr(_gate(account), delay) > 1:
            await self._give_back(account)
            raise await self._refusal(_gate(account), budget="account")

    async def _spend(self, key: str, limit: int, *, budget: str) -> None:
        if await self.storage.incr(key, self.rules.window_seconds) > limit:
            await self._give_back(key)
            raise await self._refusal(key, budget=budget)

    async def _give_back(self, key: str) -> None:
        # limits' storages have no portable decrement; an increment by -1 is one.
        await self.storage.incr(key, self.rules.window_seconds, amount=-1)

    async def _refusal(self, key: str, *, budget: str) -> TooManyAttemptsError:
        seconds = max(1, math.ceil(await self.storage.get_expiry(key) - time.time()))
        return TooManyAttemptsError(
            f"Too many failed password attempts: try again in {seconds} seconds.",
            budget=budget,
            retryAfter=seconds,
            # The name this extension had first; kept for existing clients.
            retryAfterSeconds=seconds,
        )

    async def clear(self) -> None:
        await self.storage.reset()

    async def close(self) -> None:
        await close_storage(self.storage)


def _gate(account: str) -> str:
    return f"wait:{account}"


def _warn(error: StorageError) -> None:
    # Quiet while the Redis circuit is open: the breaker warned once already.
    level = failure_log_level(error.storage_error)
    LOGGER.log(level, "log-in throttle storage unavailable: %s", type(error.storage_error))


def create_login_throttle(settings: Settings, redis: Redis | None = None) -> LoginThrottle:
    # A key of its own for hashing logins, so that the secret key itself hashes nothing.
    secret = hmac.new(settings.secret_key.encode(), b"quire login throttle", "sha256").digest()
    return LoginThrottle(
        limits_storage(settings, "login", redis),
        rules=ThrottleRules.from_settings(settings),
        secret=secret,
    )
