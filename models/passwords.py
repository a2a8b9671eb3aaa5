"""Password hashing with argon2id. Hashing blocks for tens of milliseconds by design, so it
runs in a worker thread, never on the event loop."""

from dataclasses import dataclass

from anyio import to_thread
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from settings import Settings


@dataclass(frozen=True, slots=True)
class Passwords:
    hasher: PasswordHasher
    # Verified when the account does not exist, so that a log-in for an unknown user costs
    # what one with a wrong password costs.
    dummy_hash: str

    async def hash(self, password: str) -> str:
        return await to_thread.run_sync(self.hasher.hash, password)

    async def verify(self, password_hash: str | None, password: str) -> bool:
        return await to_thread.run_sync(self._verify, password_hash, password)

    def needs_rehash(self, password_hash: str) -> bool:
        return self.hasher.check_needs_rehash(password_hash)

    def _verify(self, password_hash: str | None, password: str) -> bool:
        try:
            return self.hasher.verify(password_hash or self.dummy_hash, password) and (
                password_hash is not None
            )
        except (VerificationError, InvalidHashError):
            return False


def create_passwords(settings: Settings) -> Passwords:
    hasher = PasswordHasher(
        time_cost=settings.argon2_time_cost,
        memory_cost=settings.argon2_memory_cost_kib,
        parallelism=settings.argon2_parallelism,
    )
    return Passwords(hasher=hasher, dummy_hash=hasher.hash("dummy password for timing"))
