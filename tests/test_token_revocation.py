"""Access tokens are revoked, not merely left to expire: logOutEverywhere, changePassword, a
role change and deactivation refuse every access token issued before (over HTTP here; over
the WebSocket in test_websockets.py), and the tokens issued afterwards work."""

import base64
from typing import Any

import httpx
import jwt

from models.database import Database
from models.tables import Role
from resolvers.tokens import issue_access_token
from settings import Settings
from tests.factories import create_user
from tests.graphql import data

SIGN_UP = """mutation ($input: SignUpInput!) {
  signUp(input: $input) { accessToken refreshToken errors { code } } }"""
LOG_IN = """mutation ($input: LogInInput!) { logIn(input: $input) { accessToken } }"""
REFRESH = """mutation ($token: String!) { refreshToken(refreshToken: $token) { accessToken } }"""
CHANGE_PASSWORD = """mutation ($current: String!, $new: String!) {
  changePassword(currentPassword: $current, newPassword: $new) {
    accessToken errors { code } } }"""
LOG_OUT_EVERYWHERE = "mutation { logOutEverywhere }"
SET_ROLE = (
    """mutation ($id: ID!, $role: Role!) { setUserRole(userId: $id, role: $role) { role } }"""
)
ME = "query { me { username role } }"
REVOKED = {
    "message": "This access token was revoked (the account's password, role or sessions "
    "changed): refresh it, or log in again.",
    "extensions": {"code": "UNAUTHENTICATED"},
}
ADA = {
    "username": "ada",
    "email": "ada@example.com",
    "password": "correct horse battery",
    "displayName": "Ada Lovelace",
}


async def _as(
    client: httpx.AsyncClient, token: str, query: str, **variables: Any
) -> dict[str, Any]:
    response = await client.post(
        "/graphql",
        json={"query": query, "variables": variables},
        headers={"authorization": f"Bearer {token}"},
    )
    body: dict[str, Any] = response.json()
    return body


def _refusal(body: dict[str, Any]) -> list[dict[str, Any]]:
    return [{key: error[key] for key in ("message", "extensions")} for error in body["errors"]]


async def _sign_up(client: httpx.AsyncClient) -> dict[str, Any]:
    session: dict[str, Any] = (await data(client, SIGN_UP, {"input": ADA}))["signUp"]
    return session


async def _log_in(client: httpx.AsyncClient, password: str = ADA["password"]) -> str:
    result = await data(client, LOG_IN, {"input": {"usernameOrEmail": "ada", "password": password}})
    token: str = result["logIn"]["accessToken"]
    return token


def _gid(user_id: int) -> str:
    return base64.b64encode(f"Author:{user_id}".encode()).decode()


async def test_log_out_everywhere_revokes_the_access_tokens(
    client: httpx.AsyncClient, database: Database
) -> None:
    first = (await _sign_up(client))["accessToken"]
    second = await _log_in(client)

    ended = await _as(client, first, LOG_OUT_EVERYWHERE)

    assert ended["data"] == {"logOutEverywhere": 2}
    for token in (first, second):
        assert _refusal(await _as(client, token, ME)) == [REVOKED]


async def test_change_password_revokes_older_access_tokens_and_its_own_work(
    client: httpx.AsyncClient, database: Database
) -> None:
    first = (await _sign_up(client))["accessToken"]
    second = await _log_in(client)
    new = "a much better passphrase"

    changed = await _as(client, first, CHANGE_PASSWORD, current=ADA["password"], new=new)
    issued = changed["data"]["changePassword"]["accessToken"]
    after = await _log_in(client, new)

    assert changed["data"]["changePassword"]["errors"] == []
    for token in (first, second):
        assert _refusal(await _as(client, token, ME)) == [REVOKED]
    for token in (issued, after):
        assert (await _as(client, token, ME))["data"] == {
            "me": {"username": "ada", "role": "READER"}
        }


async def test_a_refused_password_change_revokes_nothing(
    client: httpx.AsyncClient, database: Database
) -> None:
    token = (await _sign_up(client))["accessToken"]

    refused = await _as(client, token, CHANGE_PASSWORD, current="wrong password!", new="x" * 12)

    assert refused["data"]["changePassword"] == {
        "accessToken": None,
        "errors": [{"code": "INVALID_CREDENTIALS"}],
    }
    assert (await _as(client, token, ME))["data"]["me"]["username"] == "ada"


async def test_a_role_change_revokes_the_users_access_tokens_and_a_refresh_carries_the_new_role(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    session = await _sign_up(client)
    admin = await create_user(database, role=Role.ADMIN)
    admin_token, _ = issue_access_token(settings, user_id=admin, role=Role.ADMIN)
    ada = jwt.decode(session["accessToken"], options={"verify_signature": False})["sub"]

    changed = await _as(client, admin_token, SET_ROLE, id=_gid(int(ada)), role="AUTHOR")
    refreshed = await data(client, REFRESH, {"token": session["refreshToken"]})

    assert changed["data"] == {"setUserRole": {"role": "AUTHOR"}}
    assert _refusal(await _as(client, session["accessToken"], ME)) == [REVOKED]
    fresh = refreshed["refreshToken"]["accessToken"]
    assert (await _as(client, fresh, ME))["data"] == {"me": {"username": "ada", "role": "AUTHOR"}}


async def test_setting_the_same_role_again_keeps_the_users_access_tokens(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    session = await _sign_up(client)
    admin = await create_user(database, role=Role.ADMIN)
    admin_token, _ = issue_access_token(settings, user_id=admin, role=Role.ADMIN)
    ada = jwt.decode(session["accessToken"], options={"verify_signature": False})["sub"]

    unchanged = await _as(client, admin_token, SET_ROLE, id=_gid(int(ada)), role="READER")

    assert unchanged["data"] == {"setUserRole": {"role": "READER"}}
    assert (await _as(client, session["accessToken"], ME))["data"]["me"]["role"] == "READER"
