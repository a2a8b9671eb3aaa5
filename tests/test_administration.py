"""Admins: roles, deactivation, and the create-admin command."""

import base64
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from models.database import Database
from models.tables import Role, users_table
from resolvers.tokens import issue_access_token
from settings import Settings
from tests.factories import create_user

SET_ROLE = """
mutation ($id: ID!, $role: Role!) { setUserRole(userId: $id, role: $role) { username role email } }
"""
SET_ACTIVE = """
mutation ($id: ID!, $active: Boolean!) { setUserActive(userId: $id, active: $active) { username } }
"""
PROJECT = Path(__file__).resolve().parent.parent


def _gid(user_id: int) -> str:
    return base64.b64encode(f"Author:{user_id}".encode()).decode()


async def _run(
    client: httpx.AsyncClient,
    settings: Settings,
    caller: tuple[int, Role] | None,
    query: str,
    variables: dict[str, Any],
) -> dict[str, Any]:
    headers = {}
    if caller is not None:
        token, _ = issue_access_token(settings, user_id=caller[0], role=caller[1])
        headers["Authorization"] = f"Bearer {token}"
    response = await client.post(
        "/graphql", json={"query": query, "variables": variables}, headers=headers
    )
    body: dict[str, Any] = response.json()
    return body


def _codes(body: dict[str, Any]) -> list[str]:
    return [error["extensions"]["code"] for error in body.get("errors", [])]


async def _role(database: Database, user_id: int) -> str:
    async with database.engine.connect() as connection:
        return str(
            await connection.scalar(
                sa.select(users_table.c.role).where(users_table.c.id == user_id)
            )
        )


@pytest.mark.parametrize(
    ("caller_role", "expected"),
    [
        (Role.ADMIN, None),
        (Role.EDITOR, "FORBIDDEN"),
        (Role.READER, "FORBIDDEN"),
        (None, "UNAUTHENTICATED"),
    ],
)
async def test_only_admins_change_roles(
    client: httpx.AsyncClient,
    database: Database,
    settings: Settings,
    caller_role: Role | None,
    expected: str | None,
) -> None:
    target = await create_user(database, username="target", role=Role.READER)
    caller = (
        None
        if caller_role is None
        else (await create_user(database, role=caller_role), caller_role)
    )

    body = await _run(client, settings, caller, SET_ROLE, {"id": _gid(target), "role": "AUTHOR"})

    if expected is None:
        assert body["data"]["setUserRole"] == {
            "username": "target",
            "role": "AUTHOR",
            "email": "target@example.com",
        }
        assert await _role(database, target) == "AUTHOR"
    else:
        assert _codes(body) == [expected]
        assert await _role(database, target) == "READER"


async def test_admin_cannot_demote_themselves(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    admin = await create_user(database, role=Role.ADMIN)

    body = await _run(
        client, settings, (admin, Role.ADMIN), SET_ROLE, {"id": _gid(admin), "role": "READER"}
    )

    assert _codes(body) == ["FORBIDDEN"]
    assert await _role(database, admin) == "ADMIN"


async def test_deactivation_ends_the_users_access(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    admin = await create_user(database, role=Role.ADMIN)
    target = await create_user(database, role=Role.AUTHOR)

    await _run(
        client, settings, (admin, Role.ADMIN), SET_ACTIVE, {"id": _gid(target), "active": False}
    )
    as_target = await _run(client, settings, (target, Role.AUTHOR), "{ me { username } }", {})

    assert _codes(as_target) == ["UNAUTHENTICATED"]


def _create_admin(
    database_url: str, password: str, username: str
) -> subprocess.CompletedProcess[str]:
    environment = {
        **os.environ,
        "DATABASE_URL": database_url,
        "QUIRE_ADMIN_PASSWORD": password,
        "QUIRE_ARGON2_TIME_COST": "1",
        "QUIRE_ARGON2_MEMORY_COST_KIB": "8",
        "QUIRE_ARGON2_PARALLELISM": "1",
    }
    return subprocess.run(  # noqa: S603
        [
            sys.executable,
            "cli.py",
            "create-admin",
            "--username",
            username,
            "--email",
            f"{username}@example.com",
        ],
        cwd=PROJECT,
        env=environment,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


async def test_create_admin_command(database: Database, database_url: str) -> None:
    created = _create_admin(database_url, "a long admin passphrase", "root_admin")
    refused = _create_admin(database_url, "short", "other_admin")

    assert created.returncode == 0, created.stderr
    assert "created admin root_admin" in created.stdout
    async with database.engine.connect() as connection:
        roles = (
            await connection.execute(sa.select(users_table.c.username, users_table.c.role))
        ).all()
    assert [(name, str(role)) for name, role in roles] == [("root_admin", "ADMIN")]
    assert refused.returncode != 0
    assert "password: Use between 10 and 256 characters." in refused.stderr


USER = "query ($id: ID!) { user(id: $id) { username email } }"


@pytest.mark.parametrize(
    ("who", "expected"),
    [("admin", None), ("self", None), ("editor", "FORBIDDEN"), ("anonymous", "UNAUTHENTICATED")],
)
async def test_account_emails_are_for_the_user_and_admins(
    client: httpx.AsyncClient,
    database: Database,
    settings: Settings,
    who: str,
    expected: str | None,
) -> None:
    target = await create_user(database, username="target", role=Role.READER)
    callers: dict[str, tuple[int, Role] | None] = {
        "admin": (await create_user(database, role=Role.ADMIN), Role.ADMIN),
        "self": (target, Role.READER),
        "editor": (await create_user(database, role=Role.EDITOR), Role.EDITOR),
        "anonymous": None,
    }

    body = await _run(client, settings, callers[who], USER, {"id": _gid(target)})

    if expected is None:
        assert body["data"] == {"user": {"username": "target", "email": "target@example.com"}}
    else:
        assert _codes(body) == [expected]
        assert body["data"] == {"user": None}
