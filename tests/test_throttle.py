"""Password-guessing throttle: known devices keep their own budget, unknown clients get
progressive delays per account (username and email alike) and share a budget per address,
changePassword spends from the account's budget, and Redis shares it all between instances."""

import asyncio
from typing import Any

import httpx
import pytest

from models.database import Database
from resolvers.errors import TooManyAttemptsError
from resolvers.throttle import ThrottleRules, create_login_throttle
from settings import Settings
from tests.conftest import REDIS_URL
from tests.graphql import data, error_codes, execute

SIGN_UP = """
mutation ($input: SignUpInput!) { signUp(input: $input) { accessToken deviceToken } }
"""
LOG_IN = """
mutation ($input: LogInInput!) {
  logIn(input: $input) { accessToken deviceToken errors { code } }
}
"""
CHANGE_PASSWORD = """
mutation ($current: String!, $new: String!) {
  changePassword(currentPassword: $current, newPassword: $new) { accessToken errors { code } }
}
"""
PASSWORD = "correct horse battery"
WRONG = {
    "logIn": {"accessToken": None, "deviceToken": None, "errors": [{"code": "INVALID_CREDENTIALS"}]}
}
RULES = ThrottleRules(
    free_failures=2,
    failures_per_device=3,
    failures_per_address=100,
    window_seconds=60,
    first_delay_seconds=1,
    longest_delay_seconds=8,
)


async def _sign_up(client: httpx.AsyncClient, name: str = "ada") -> dict[str, Any]:
    account = {
        "username": name,
        "email": f"{name}@example.com",
        "password": PASSWORD,
        "displayName": name.title(),
    }
    signed: dict[str, Any] = (await data(client, SIGN_UP, {"input": account}))["signUp"]
    return signed


def _login(name: str, password: str, device_token: str | None = None) -> dict[str, Any]:
    return {"input": {"usernameOrEmail": name, "password": password, "deviceToken": device_token}}


async def _device_token(client: httpx.AsyncClient, name: str = "ada") -> str:
    logged_in = await data(client, LOG_IN, _login(name, PASSWORD))
    token: str = logged_in["logIn"]["deviceToken"]
    return token


async def _fail(client: httpx.AsyncClient, name: str, times: int, token: str | None = None) -> None:
    for _ in range(times):
        assert await data(client, LOG_IN, _login(name, "wrong password", token)) == WRONG


def _refusal(body: dict[str, Any]) -> dict[str, Any]:
    assert error_codes(body) == ["TOO_MANY_ATTEMPTS"], body
    assert body["data"] is None
    extensions: dict[str, Any] = body["errors"][0]["extensions"]
    return extensions


async def test_strangers_failures_delay_unknown_clients_but_not_the_owners_device(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    await _sign_up(client)
    token = await _device_token(client)
    await _fail(client, "ada", settings.login_failures_per_account + 1)

    stranger = await execute(client, LOG_IN, _login("ada", PASSWORD))
    owner = await data(client, LOG_IN, _login("ada", PASSWORD, token))

    assert _refusal(stranger)["budget"] == "account"
    assert owner["logIn"]["errors"] == []
    assert owner["logIn"]["accessToken"]
    assert owner["logIn"]["deviceToken"]


async def test_a_device_token_of_another_account_counts_as_no_device(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    await _sign_up(client, "ada")
    await _sign_up(client, "mallory")
    mallorys = await _device_token(client, "mallory")

    await _fail(client, "ada", settings.login_failures_per_account + 1, mallorys)
    refused = await execute(client, LOG_IN, _login("ada", PASSWORD, mallorys))

    assert _refusal(refused)["budget"] == "account"


async def test_device_tokens_from_before_log_out_everywhere_count_as_no_device(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    """Someone who once knew the password cannot stockpile device tokens to keep guessing
    after the owner ended every session."""
    await _sign_up(client)
    stockpiled = await _device_token(client)
    session = (await data(client, LOG_IN, _login("ada", PASSWORD)))["logIn"]
    await client.post(
        "/graphql",
        json={"query": "mutation { logOutEverywhere }"},
        headers={"Authorization": f"Bearer {session['accessToken']}"},
    )

    await _fail(client, "ada", settings.login_failures_per_account + 1, stockpiled)
    refused = await execute(client, LOG_IN, _login("ada", PASSWORD, stockpiled))

    assert _refusal(refused)["budget"] == "account"


async def test_a_known_device_has_a_failure_budget_of_its_own(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    await _sign_up(client)
    token = await _device_token(client)
    await _fail(client, "ada", settings.login_failures_per_device, token)

    refused = await execute(client, LOG_IN, _login("ada", PASSWORD, token))
    elsewhere = await data(client, LOG_IN, _login("ada", PASSWORD))

    extensions = _refusal(refused)
    assert extensions["budget"] == "device"
    assert 0 < extensions["retryAfter"] <= settings.login_failure_window_seconds
    assert extensions["retryAfterSeconds"] == extensions["retryAfter"]
    assert elsewhere["logIn"]["errors"] == []


async def test_the_username_and_the_email_share_one_budget(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    await _sign_up(client)
    for number in range(settings.login_failures_per_account + 1):
        await _fail(client, "ada" if number % 2 else "ADA@example.com", 1)

    by_name = await execute(client, LOG_IN, _login("ada", PASSWORD))
    by_email = await execute(client, LOG_IN, _login("ada@example.com", PASSWORD))

    assert (
        _refusal(by_name)
        == _refusal(by_email)
        == {
            "code": "TOO_MANY_ATTEMPTS",
            "budget": "account",
            "retryAfter": 1,
            "retryAfterSeconds": 1,
        }
    )
    assert by_name["errors"][0]["message"] == (
        "Too many failed password attempts: try again in 1 seconds."
    )


async def test_unknown_logins_are_throttled_exactly_like_accounts(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    await _sign_up(client)
    answers: dict[str, list[Any]] = {"ada": [], "nobody": []}
    for name, seen in answers.items():
        for _ in range(settings.login_failures_per_account + 2):
            body = await execute(client, LOG_IN, _login(name, "wrong password"))
            seen.append(body.get("errors") or body["data"])

    assert answers["ada"] == answers["nobody"]
    assert answers["ada"][-1][0]["extensions"]["code"] == "TOO_MANY_ATTEMPTS"


async def test_each_failure_beyond_the_free_ones_doubles_the_wait(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    await _sign_up(client)
    await _fail(client, "ada", settings.login_failures_per_account + 1)
    first = _refusal(await execute(client, LOG_IN, _login("ada", PASSWORD)))
    await asyncio.sleep(first["retryAfter"] + 0.05)
    await _fail(client, "ada", 1)
    second = _refusal(await execute(client, LOG_IN, _login("ada", PASSWORD)))
    await asyncio.sleep(second["retryAfter"] + 0.05)

    after_the_wait = await data(client, LOG_IN, _login("ada", PASSWORD))

    assert (first["retryAfter"], second["retryAfter"]) == (1, 2)
    assert after_the_wait["logIn"]["errors"] == []


def test_delays_double_up_to_the_longest() -> None:
    delays = [RULES.delay_after(failures) for failures in range(1, 10)]

    assert delays == [0, 0, 1, 2, 4, 8, 8, 8, 8]


async def test_concurrent_guesses_pass_the_gate_one_at_a_time(
    settings: Settings, redis_prefix: str
) -> None:
    # On Redis, where concurrent attempts really interleave between the check and the count.
    shared = settings.model_copy(update={"redis_url": REDIS_URL, "redis_key_prefix": redis_prefix})
    throttle = create_login_throttle(shared)

    async def admitted() -> bool:
        try:
            await throttle.admit(account="account:1", device=None, address=None)
        except TooManyAttemptsError:
            return False
        return True

    try:
        outcomes = await asyncio.gather(*(admitted() for _ in range(20)))
    finally:
        await throttle.close()

    assert outcomes.count(True) == shared.login_failures_per_account + 1


async def test_a_success_forgives_the_failures(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    await _sign_up(client)
    await _fail(client, "ada", settings.login_failures_per_account)
    await data(client, LOG_IN, _login("ada", PASSWORD))
    await _fail(client, "ada", settings.login_failures_per_account)

    again = await data(client, LOG_IN, _login("ada", "wrong password"))

    assert again == WRONG


async def test_unknown_clients_at_one_address_share_a_budget_that_known_devices_skip(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    await _sign_up(client)
    token = await _device_token(client)
    for number in range(settings.login_failures_per_address):
        await _fail(client, f"user{number}", 1)

    stranger = await execute(client, LOG_IN, _login("someone-else", "wrong password"))
    owner = await data(client, LOG_IN, _login("ada", PASSWORD, token))

    assert _refusal(stranger)["budget"] == "address"
    assert owner["logIn"]["errors"] == []


async def test_change_password_spends_from_the_accounts_budget(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    session = await _sign_up(client)
    headers = {"authorization": f"Bearer {session['accessToken']}"}
    wrong = {"current": "wrong password", "new": "a much better passphrase"}
    right = {"current": PASSWORD, "new": "a much better passphrase"}
    for _ in range(settings.login_failures_per_account + 1):
        response = await client.post(
            "/graphql", json={"query": CHANGE_PASSWORD, "variables": wrong}, headers=headers
        )
        assert response.json()["data"]["changePassword"]["errors"] == [
            {"code": "INVALID_CREDENTIALS"}
        ]

    refused = await client.post(
        "/graphql", json={"query": CHANGE_PASSWORD, "variables": right}, headers=headers
    )
    log_in = await execute(client, LOG_IN, _login("ada", PASSWORD))

    assert error_codes(refused.json()) == ["TOO_MANY_ATTEMPTS"]
    assert refused.json()["errors"][0]["extensions"]["budget"] == "account"
    assert error_codes(log_in) == ["TOO_MANY_ATTEMPTS"]  # the same budget
    await asyncio.sleep(refused.json()["errors"][0]["extensions"]["retryAfter"] + 0.05)
    assert await data(client, LOG_IN, _login("ada", PASSWORD))  # the password did not change


async def test_instances_sharing_redis_count_the_same_failures(
    settings: Settings, redis_prefix: str
) -> None:
    shared = settings.model_copy(
        update={
            "redis_url": REDIS_URL,
            "redis_key_prefix": redis_prefix,
            "login_failures_per_device": 2,
        }
    )
    one, other = create_login_throttle(shared), create_login_throttle(shared)
    try:
        for _ in range(shared.login_failures_per_account + 1):
            await one.admit(account="account:1", device=None, address="192.0.2.1")
        with pytest.raises(TooManyAttemptsError) as delayed:
            await other.admit(account="account:1", device=None, address="192.0.2.9")
        for _ in range(2):
            await one.admit(account="account:1", device="d1", address="192.0.2.1")
        with pytest.raises(TooManyAttemptsError) as device_spent:
            await other.admit(account="account:1", device="d1", address="192.0.2.1")
        known = await other.admit(account="account:1", device="d2", address="192.0.2.1")
        await other.succeeded(known)
    finally:
        await one.close()
        await other.close()

    assert delayed.value.extensions["budget"] == "account"
    assert delayed.value.extensions["retryAfter"] == 1
    assert device_spent.value.extensions["budget"] == "device"


async def test_an_unreachable_redis_does_not_throttle_anyone(settings: Settings) -> None:
    down = create_login_throttle(settings.model_copy(update={"redis_url": "redis://127.0.0.1:1/0"}))
    try:
        for _ in range(settings.login_failures_per_account + 3):
            attempt = await down.admit(account="account:1", device=None, address="192.0.2.1")
        await down.succeeded(attempt)
    finally:
        await down.close()
