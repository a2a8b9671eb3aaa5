"""Log-in throttling: too many failures for one account or from one address within a window
refuse further attempts until the oldest failure leaves the window.

Kept in this process's memory; several instances each count their own share (a shared store
comes with Redis).
"""

import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field

MAX_TRACKED_KEYS = 100_000


@dataclass
class FailureWindow:
    limit: int
    window_seconds: float
    clock: Callable[[], float] = time.monotonic
    _failures: OrderedDict[str, deque[float]] = field(default_factory=OrderedDict)

    def retry_after(self, key: str) -> float | None:
        """Seconds until another attempt is allowed; None if one is allowed now."""
        failures = self._recent(key)
        if len(failures) < self.limit:
            return None
        return max(0.0, failures[0] + self.window_seconds - self.clock())

    def record(self, key: str) -> None:
        failures = self._recent(key)
        failures.append(self.clock())
        self._failures[key] = failures
        self._failures.move_to_end(key)
        while len(self._failures) > MAX_TRACKED_KEYS:
            self._failures.popitem(last=False)

    def reset(self, key: str) -> None:
        self._failures.pop(key, None)

    def clear(self) -> None:
        self._failures.clear()

    def _recent(self, key: str) -> deque[float]:
        failures = self._failures.get(key, deque())
        horizon = self.clock() - self.window_seconds
        while failures and failures[0] <= horizon:
            failures.popleft()
        return failures


@dataclass
class LoginThrottle:
    per_account: FailureWindow
    per_address: FailureWindow

    def retry_after(self, *, account: str, address: str | None) -> float | None:
        waits = [self.per_account.retry_after(account)]
        if address is not None:
            waits.append(self.per_address.retry_after(address))
        found = [wait for wait in waits if wait is not None]
        return max(found) if found else None

    def record_failure(self, *, account: str, address: str | None) -> None:
        self.per_account.record(account)
        if address is not None:
            self.per_address.record(address)

    def record_success(self, *, account: str) -> None:
        self.per_account.reset(account)

    def clear(self) -> None:
        self.per_account.clear()
        self.per_address.clear()
