"""Sign-up, log-in, tokens and sessions."""

from datetime import timedelta
from typing import Any

import httpx
import jwt
import pytest
import sqlalchemy as sa
from pydantic import ValidationError

from models.columns import utc_now
from models.database import Database
from models.tables import users_table
from settings import Settings
from tests.conftest import StatementLog
from tests.graphql import data, error_codes, execute

SIGN_UP = """
mutation SignUp($input: SignUpInput!) {
  signUp(input: $input) {
    user { username email role displayName }
    accessToken refreshToken accessTokenExpiresAt
    errors { field code message }
  }
}
"""

LOG_IN = """
mutation LogIn($input: LogInInput!) {
  logIn(input: $input) { user { username } accessToken refreshToken errors { field code message } }
}
"""

REFRESH = """
mutation Refresh($token: String!) {
  refreshToken(refreshToken: $token) { accessToken refreshToken user { username } }
}
"""

LOG_OUT = "mutation LogOut($token: String!) { logOut(refreshToken: $token) }"
ME = "{ me { username email role } }"
PUBLIC = "{ posts { totalCount } }"

ADA = {
    "username": "ada",
    "email": "ada@example.com",
    "password": "correct horse battery",
    "displayName": "Ada Lovelace",
}


async def _sign_up(client: httpx.AsyncClient, **overrides: str) -> dict[str, Any]:
    result = await data(client, SIGN_UP, {"input": {**ADA, **overrides}})
    payload: dict[str, Any] = result["signUp"]
    return payload


async def _as(client: httpx.AsyncClient, token: str, query: str) -> dict[str, Any]:
    response = await client.post(
        "/graphql", json={"query": query}, headers={"Authorization": f"Bearer {token}"}
    )
    body: dict[str, Any] = response.json()
    return body


async def _users(database: Database) -> int:
    async with database.engine.connect() as connection:
        return int(
            await connection.scalar(sa.select(sa.func.count()).select_from(users_table)) or 0
        )


async def test_sign_up_creates_a_reader_and_a_session(
    client: httpx.AsyncClient, database: Database
) -> None:
    payload = await _sign_up(client, username="Ada", email="ADA@example.com")

    assert payload["errors"] == []
    assert payload["user"] == {
        "username": "ada",
        "email": "ada@example.com",
        "role": "READER",
        "displayName": "Ada Lovelace",
    }
    me = await _as(client, payload["accessToken"], ME)
    assert me["data"] == {"me": {"username": "ada", "email": "ada@example.com", "role": "READER"}}


async def test_password_is_stored_as_an_argon2id_hash(
    client: httpx.AsyncClient, database: Database
) -> None:
    await _sign_up(client)

    async with database.engine.connect() as connection:
        stored = str(await connection.scalar(sa.select(users_table.c.password_hash)))

    assert stored.startswith("$argon2id$")
    assert ADA["password"] not in stored


@pytest.mark.parametrize(
    ("overrides", "field", "code"),
    [
        ({"password": "short"}, "password", "PASSWORD_LENGTH"),
        ({"password": "x" * 257}, "password", "PASSWORD_LENGTH"),
        (
            {"username": "ada_lovelace", "password": "ada_lovelace"},
            "password",
            "PASSWORD_IS_IDENTITY",
        ),
        ({"password": "ADA@example.com"}, "password", "PASSWORD_IS_IDENTITY"),
        ({"username": "no spaces!"}, "username", "USERNAME_INVALID"),
        ({"email": "not-an-email"}, "email", "EMAIL_INVALID"),
        ({"displayName": "   "}, "displayName", "DISPLAY_NAME_INVALID"),
    ],
)
async def test_invalid_sign_up_is_refused_and_writes_nothing(
    client: httpx.AsyncClient,
    database: Database,
    overrides: dict[str, str],
    field: str,
    code: str,
) -> None:
    payload = await _sign_up(client, **overrides)

    assert [(error["field"], error["code"]) for error in payload["errors"]] == [(field, code)]
    assert payload["accessToken"] is None
    assert await _users(database) == 0


async def test_taken_username_and_email_are_refused(
    client: httpx.AsyncClient, database: Database
) -> None:
    await _sign_up(client)

    payload = await _sign_up(client, username="ADA", email="Ada@Example.com")

    assert {error["code"] for error in payload["errors"]} == {"USERNAME_TAKEN", "EMAIL_TAKEN"}
    assert await _users(database) == 1


async def test_log_in_by_username_or_email(client: httpx.AsyncClient, database: Database) -> None:
    await _sign_up(client)

    for login in ("ada", "ADA@example.com"):
        result = await data(
            client, LOG_IN, {"input": {"usernameOrEmail": login, "password": ADA["password"]}}
        )

        assert result["logIn"]["user"] == {"username": "ada"}
        assert result["logIn"]["accessToken"]


async def test_wrong_password_and_unknown_user_are_indistinguishable(
    client: httpx.AsyncClient, database: Database
) -> None:
    await _sign_up(client)

    wrong = await data(
        client, LOG_IN, {"input": {"usernameOrEmail": "ada", "password": "wrong password"}}
    )
    unknown = await data(
        client, LOG_IN, {"input": {"usernameOrEmail": "bob", "password": "wrong password"}}
    )

    assert wrong == unknown
    assert wrong["logIn"]["errors"] == [
        {
            "field": None,
            "code": "INVALID_CREDENTIALS",
            "message": "The username or password is wrong.",
        }
    ]
    assert wrong["logIn"]["accessToken"] is None


async def test_deactivated_user_cannot_log_in_and_tokens_stop_working(
    client: httpx.AsyncClient, database: Database
) -> None:
    session = await _sign_up(client)
    async with database.engine.begin() as connection:
        await connection.execute(sa.update(users_table).values(is_active=False))

    login = await data(
        client, LOG_IN, {"input": {"usernameOrEmail": "ada", "password": ADA["password"]}}
    )
    me = await _as(client, session["accessToken"], ME)
    refreshed = await execute(client, REFRESH, {"token": session["refreshToken"]})

    assert login["logIn"]["errors"][0]["code"] == "INVALID_CREDENTIALS"
    assert error_codes(me) == ["UNAUTHENTICATED"]
    assert error_codes(refreshed) == ["UNAUTHENTICATED"]


async def test_me_is_null_without_a_token(client: httpx.AsyncClient, database: Database) -> None:
    body = await execute(client, ME)

    assert body == {"data": {"me": None}, "extensions": body["extensions"]}


async def test_me_with_a_bad_token_is_refused(
    client: httpx.AsyncClient, database: Database
) -> None:
    response = await client.post(
        "/graphql", json={"query": ME}, headers={"Authorization": "Bearer not.a.token"}
    )

    assert error_codes(response.json()) == ["UNAUTHENTICATED"]


def _token(settings: Settings, **claims: Any) -> str:
    now = utc_now()
    payload = {
        "sub": "1",
        "role": "READER",
        "iat": now,
        "exp": now + timedelta(minutes=5),
        "jti": "x",
        "iss": settings.jwt_issuer,
        "aud": settings.jwt_audience,
        **claims,
    }
    return jwt.encode(payload, settings.secret_key, algorithm="HS256")


async def test_expired_token_refuses_the_operation_with_token_expired(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    expired = _token(settings, exp=utc_now() - timedelta(seconds=1))

    body = await _as(client, expired, PUBLIC)

    assert error_codes(body) == ["TOKEN_EXPIRED"]
    assert body["data"] is None


@pytest.mark.parametrize(
    "make_token",
    [
        lambda s: jwt.encode({"sub": "1"}, "another secret that is long enough", algorithm="HS256"),
        lambda s: _token(s, aud="someone-else"),
        lambda s: _token(s, iss="someone-else"),
        lambda s: jwt.encode({"sub": "1", "role": "ADMIN"}, "", algorithm="none"),
        lambda s: "not.a.jwt",
    ],
    ids=["forged", "audience", "issuer", "alg-none", "malformed"],
)
async def test_bad_tokens_are_unauthenticated(
    client: httpx.AsyncClient, database: Database, settings: Settings, make_token: Any
) -> None:
    body = await _as(client, make_token(settings), PUBLIC)

    assert error_codes(body) == ["UNAUTHENTICATED"]


async def test_authorization_header_must_be_bearer(
    client: httpx.AsyncClient, database: Database
) -> None:
    response = await client.post(
        "/graphql", json={"query": PUBLIC}, headers={"Authorization": "Basic abc"}
    )

    assert error_codes(response.json()) == ["UNAUTHENTICATED"]


async def test_refresh_token_rotates_and_works_once(
    client: httpx.AsyncClient, database: Database
) -> None:
    session = await _sign_up(client)

    rotated = await data(client, REFRESH, {"token": session["refreshToken"]})
    reused = await execute(client, REFRESH, {"token": session["refreshToken"]})

    assert rotated["refreshToken"]["user"] == {"username": "ada"}
    assert rotated["refreshToken"]["refreshToken"] != session["refreshToken"]
    assert error_codes(reused) == ["UNAUTHENTICATED"]


async def test_reusing_a_rotated_token_revokes_the_whole_family(
    client: httpx.AsyncClient, database: Database
) -> None:
    session = await _sign_up(client)
    rotated = await data(client, REFRESH, {"token": session["refreshToken"]})

    await execute(client, REFRESH, {"token": session["refreshToken"]})
    successor = await execute(client, REFRESH, {"token": rotated["refreshToken"]["refreshToken"]})

    assert error_codes(successor) == ["UNAUTHENTICATED"]


async def test_log_out_revokes_the_session_only(
    client: httpx.AsyncClient, database: Database
) -> None:
    first = await _sign_up(client)
    second = await data(
        client, LOG_IN, {"input": {"usernameOrEmail": "ada", "password": ADA["password"]}}
    )

    assert (await data(client, LOG_OUT, {"token": first["refreshToken"]})) == {"logOut": True}
    assert error_codes(await execute(client, REFRESH, {"token": first["refreshToken"]})) == [
        "UNAUTHENTICATED"
    ]
    assert (await data(client, REFRESH, {"token": second["logIn"]["refreshToken"]}))["refreshToken"]


def test_production_refuses_the_default_secret() -> None:
    with pytest.raises(ValidationError, match="QUIRE_SECRET_KEY"):
        Settings(env="production", _env_file=None)

    with pytest.raises(ValidationError, match="QUIRE_SECRET_KEY"):
        Settings(env="production", secret_key="short", _env_file=None)

    assert Settings(env="production", secret_key="s" * 32, _env_file=None).env == "production"


CHANGE_PASSWORD = """
mutation ($current: String!, $new: String!) {
  changePassword(currentPassword: $current, newPassword: $new) {
    accessToken refreshToken errors { field code }
  }
}
"""
UPDATE_PROFILE = """
mutation ($input: UpdateProfileInput!) {
  updateProfile(input: $input) { user { displayName bio avatarUrl } errors { field code } }
}
"""
MY_POSTS = "{ me { posts { totalCount nodes { title status } } } }"


async def _as_vars(
    client: httpx.AsyncClient, token: str, query: str, variables: dict[str, Any]
) -> dict[str, Any]:
    response = await client.post(
        "/graphql",
        json={"query": query, "variables": variables},
        headers={"Authorization": f"Bearer {token}"},
    )
    body: dict[str, Any] = response.json()
    return body


async def test_change_password_ends_other_sessions(
    client: httpx.AsyncClient, database: Database
) -> None:
    first = await _sign_up(client)
    new = "a much better passphrase"

    changed = await _as_vars(
        client, first["accessToken"], CHANGE_PASSWORD, {"current": ADA["password"], "new": new}
    )
    old_session = await execute(client, REFRESH, {"token": first["refreshToken"]})
    old_password = await data(
        client, LOG_IN, {"input": {"usernameOrEmail": "ada", "password": ADA["password"]}}
    )
    new_password = await data(
        client, LOG_IN, {"input": {"usernameOrEmail": "ada", "password": new}}
    )

    assert changed["data"]["changePassword"]["errors"] == []
    assert error_codes(old_session) == ["UNAUTHENTICATED"]
    assert old_password["logIn"]["errors"][0]["code"] == "INVALID_CREDENTIALS"
    assert new_password["logIn"]["accessToken"]
    fresh = changed["data"]["changePassword"]["refreshToken"]
    assert (await data(client, REFRESH, {"token": fresh}))["refreshToken"]["accessToken"]


@pytest.mark.parametrize(
    ("current", "new", "field", "code"),
    [
        ("wrong password!", "a much better passphrase", "currentPassword", "INVALID_CREDENTIALS"),
        (ADA["password"], "short", "newPassword", "PASSWORD_LENGTH"),
        (ADA["password"], "ada@example.com", "newPassword", "PASSWORD_IS_IDENTITY"),
    ],
)
async def test_change_password_refusals_change_nothing(
    client: httpx.AsyncClient, database: Database, current: str, new: str, field: str, code: str
) -> None:
    session = await _sign_up(client)

    result = await _as_vars(
        client, session["accessToken"], CHANGE_PASSWORD, {"current": current, "new": new}
    )

    assert result["data"]["changePassword"]["errors"] == [{"field": field, "code": code}]
    assert (await data(client, REFRESH, {"token": session["refreshToken"]}))["refreshToken"]


async def test_log_out_everywhere_revokes_every_session(
    client: httpx.AsyncClient, database: Database
) -> None:
    first = await _sign_up(client)
    second = await data(
        client, LOG_IN, {"input": {"usernameOrEmail": "ada", "password": ADA["password"]}}
    )

    result = await _as(client, first["accessToken"], "mutation { logOutEverywhere }")

    assert result["data"] == {"logOutEverywhere": 2}
    for token in (first["refreshToken"], second["logIn"]["refreshToken"]):
        assert error_codes(await execute(client, REFRESH, {"token": token})) == ["UNAUTHENTICATED"]


async def test_update_profile_validates_and_saves(
    client: httpx.AsyncClient, database: Database
) -> None:
    session = await _sign_up(client)
    token = session["accessToken"]

    bad = await _as_vars(
        client, token, UPDATE_PROFILE, {"input": {"avatarUrl": "javascript:alert(1)"}}
    )
    good = await _as_vars(
        client,
        token,
        UPDATE_PROFILE,
        {
            "input": {
                "displayName": " Countess ",
                "bio": "Notes.",
                "avatarUrl": "https://x.test/a.png",
            }
        },
    )

    assert bad["data"]["updateProfile"] == {
        "user": None,
        "errors": [{"field": "avatarUrl", "code": "AVATAR_URL_INVALID"}],
    }
    assert good["data"]["updateProfile"]["user"] == {
        "displayName": "Countess",
        "bio": "Notes.",
        "avatarUrl": "https://x.test/a.png",
    }


async def test_me_lists_my_drafts(client: httpx.AsyncClient, database: Database) -> None:
    from models.tables import PostStatus, Role
    from tests.factories import create_post

    session = await _sign_up(client)
    async with database.engine.begin() as connection:
        await connection.execute(sa.update(users_table).values(role=Role.AUTHOR))
        user_id = int(await connection.scalar(sa.select(users_table.c.id)) or 0)
    await create_post(database, author_id=user_id, title="Mine", status=PostStatus.DRAFT)

    result = await _as(client, session["accessToken"], MY_POSTS)

    assert result["data"] == {
        "me": {"posts": {"totalCount": 1, "nodes": [{"title": "Mine", "status": "DRAFT"}]}}
    }


def test_asymmetric_tokens_sign_with_the_private_key_and_verify_with_the_public() -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    from models.tables import Role
    from resolvers.errors import UnauthenticatedError
    from resolvers.tokens import issue_access_token, read_access_token

    key = ec.generate_private_key(ec.SECP256R1())
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    settings = Settings(
        jwt_algorithm="ES256", jwt_private_key=private, jwt_public_key=public, _env_file=None
    )
    hs_settings = Settings(_env_file=None)

    token, _ = issue_access_token(settings, user_id=7, role=Role.EDITOR)

    assert read_access_token(settings, token).user_id == 7
    with pytest.raises(UnauthenticatedError):
        read_access_token(hs_settings, token)  # the algorithm is pinned
    with pytest.raises(ValidationError, match="QUIRE_JWT_PRIVATE_KEY"):
        Settings(jwt_algorithm="RS256", _env_file=None)


async def test_session_mutations_work_with_an_expired_token_attached(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    session = await _sign_up(client)
    expired = _token(settings, exp=utc_now() - timedelta(seconds=1))

    response = await client.post(
        "/graphql",
        json={"query": REFRESH, "variables": {"token": session["refreshToken"]}},
        headers={"Authorization": f"Bearer {expired}"},
    )
    mixed = await _as(client, expired, "mutation { logOutEverywhere }")

    assert response.json()["data"]["refreshToken"]["accessToken"]
    assert error_codes(mixed) == ["TOKEN_EXPIRED"]


@pytest.mark.parametrize(
    ("change", "field", "code"),
    [
        ({"displayName": "  "}, "displayName", "DISPLAY_NAME_INVALID"),
        ({"bio": "b" * 2_001}, "bio", "BIO_TOO_LONG"),
        ({"avatarUrl": "http://plain.test/a.png"}, "avatarUrl", "AVATAR_URL_INVALID"),
    ],
)
async def test_invalid_profile_changes_change_nothing(
    client: httpx.AsyncClient, database: Database, change: dict[str, str], field: str, code: str
) -> None:
    session = await _sign_up(client)

    result = await _as_vars(client, session["accessToken"], UPDATE_PROFILE, {"input": change})

    assert result["data"]["updateProfile"]["errors"] == [{"field": field, "code": code}]
    async with database.engine.connect() as connection:
        row = (await connection.execute(sa.select(users_table))).one()
    assert (row.display_name, row.bio, row.avatar_url) == ("Ada Lovelace", "", None)


async def test_a_login_longer_than_any_account_is_refused_without_a_lookup(
    client: httpx.AsyncClient, database: Database, statements: StatementLog
) -> None:
    variables = {"input": {"usernameOrEmail": "a" * 100_000, "password": ADA["password"]}}

    result = await data(client, LOG_IN, variables)

    assert result["logIn"]["errors"][0]["code"] == "INVALID_CREDENTIALS"
    assert not [s for s in statements.statements if "FROM users" in s]
