"""Log-in throttling per account and per client address."""

from typing import Any

import httpx

from models.database import Database
from resolvers.throttle import FailureWindow
from settings import Settings
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


def test_failures_leave_the_window_with_time() -> None:
    now = [1000.0]
    window = FailureWindow(limit=2, window_seconds=60, clock=lambda: now[0])
    window.record("ada")
    now[0] += 30
    window.record("ada")

    assert window.retry_after("ada") == 30
    now[0] += 31
    assert window.retry_after("ada") is None
    assert window.retry_after("bob") is None
