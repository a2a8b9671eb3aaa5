"""Log-in throttling per account and per client address."""

import asyncio
from typing import Any

import httpx
from limits import parse
from limits.aio.storage import MemoryStorage

from models.database import Database
from resolvers.throttle import LoginThrottle, create_login_throttle
from settings import Settings
from tests.conftest import REDIS_URL
from tests.graphql import data, error_codes, execute

SIGN_UP = """
mutation ($input: SignUpInput!) { signUp(input: $input) { accessToken } }
"""
LOG_IN = """
mutation ($input: LogInInput!) { logIn(input: $input) { accessToken errors { code } } }
"""
PASSWORD = "correct horse battery"


async def _sign_up_ada(client: httpx.AsyncClient) -> None:
    account = {
        "username": "ada",
        "email": "ada@example.com",
        "password": PASSWORD,
        "displayName": "A",
    }
    await data(client, SIGN_UP, {"input": account})


def _login(name: str, password: str) -> dict[str, Any]:
    return {"input": {"usernameOrEmail": name, "password": password}}


async def test_repeated_failures_lock_the_account_with_a_retry_time(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    await _sign_up_ada(client)
    for _ in range(settings.login_failures_per_account):
        failed = await data(client, LOG_IN, _login("ada", "wrong password"))
        assert failed["logIn"]["errors"] == [{"code": "INVALID_CREDENTIALS"}]

    locked = await execute(client, LOG_IN, _login("ada", PASSWORD))

    assert error_codes(locked) == ["TOO_MANY_ATTEMPTS"]
    retry = locked["errors"][0]["extensions"]["retryAfterSeconds"]
    assert 0 < retry <= settings.login_failure_window_seconds
    assert f"try again in {retry} seconds" in locked["errors"][0]["message"]


async def test_a_success_resets_the_account_count(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    await _sign_up_ada(client)
    for _ in range(settings.login_failures_per_account - 1):
        await data(client, LOG_IN, _login("ada", "wrong password"))
    await data(client, LOG_IN, _login("ada", PASSWORD))

    again = await data(client, LOG_IN, _login("ada", "wrong password"))

    assert again["logIn"]["errors"] == [{"code": "INVALID_CREDENTIALS"}]


async def test_one_address_guessing_many_accounts_is_throttled(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    for number in range(settings.login_failures_per_address):
        await data(client, LOG_IN, _login(f"user{number}", "wrong password"))

    body = await execute(client, LOG_IN, _login("someone-else", "wrong password"))

    assert error_codes(body) == ["TOO_MANY_ATTEMPTS"]


async def test_failures_leave_the_window_with_time() -> None:
    throttle = LoginThrottle(
        MemoryStorage(), per_account=parse("2 per 2 second"), per_address=parse("9/minute")
    )
    await throttle.record_failure(account="ada", address=None)
    await throttle.record_failure(account="ada", address=None)

    wait = await throttle.retry_after(account="ada", address=None)
    assert wait is not None
    assert 0 < wait <= 2
    assert await throttle.retry_after(account="bob", address=None) is None
    await asyncio.sleep(wait + 0.1)
    assert await throttle.retry_after(account="ada", address=None) is None


async def test_instances_sharing_redis_count_the_same_failures(
    settings: Settings, redis_prefix: str
) -> None:
    shared = settings.model_copy(update={"redis_url": REDIS_URL, "redis_key_prefix": redis_prefix})
    one, other = create_login_throttle(shared), create_login_throttle(shared)
    try:
        for _ in range(settings.login_failures_per_account):
            await one.record_failure(account="ada", address="192.0.2.1")
        assert await other.retry_after(account="ada", address="192.0.2.9") is not None
        await other.record_success(account="ada")
        assert await one.retry_after(account="ada", address="192.0.2.9") is None
    finally:
        await one.close()
        await other.close()


async def test_an_unreachable_redis_does_not_lock_anyone_out(settings: Settings) -> None:
    down = create_login_throttle(settings.model_copy(update={"redis_url": "redis://127.0.0.1:1/0"}))
    try:
        await down.record_failure(account="ada", address=None)
        assert await down.retry_after(account="ada", address=None) is None
    finally:
        await down.close()
