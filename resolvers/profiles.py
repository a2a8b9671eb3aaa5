"""Your own account: password, profile, sessions."""

import re
from dataclasses import dataclass
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.engine import Row

from models.database import Database, begin, connect
from models.passwords import Passwords
from models.tables import users_table
from resolvers import tokens
from resolvers.accounts import (
    USER_COLUMNS,
    USERS,
    Session,
    issue_tokens,
    password_problems,
    revoke_access_tokens,
    user_by_id,
)
from resolvers.errors import Problem
from resolvers.throttle import LoginThrottle
from settings import Settings


async def log_out_everywhere(database: Database, *, user_id: int) -> int:
    """Ends every session: refresh tokens and the access tokens already issued."""
    async with begin(database.engine) as connection:
        await revoke_access_tokens(connection, user_id=user_id)
        return await tokens.revoke_all(connection, user_id=user_id)


async def change_password(
    database: Database,
    *,
    settings: Settings,
    passwords: Passwords,
    throttle: LoginThrottle,
    user_id: int,
    current_password: str,
    new_password: str,
) -> Session:
    """Change the password, end every session and start a new one for this client."""
    async with connect(database.engine) as connection:
        result = await connection.execute(
            sa.select(*USER_COLUMNS, USERS.password_hash).where(USERS.id == user_id)
        )
        user = cast("Row[Any]", result.one())
    # A stolen access token must not buy unlimited guesses at the password: the same budget
    # as logIn's for this account.
    attempt = await throttle.admit(
        account=throttle.account_key(user_id, login=user.username), device=None, address=None
    )
    if not await passwords.verify(user.password_hash, current_password):
        return Session(
            problems=[
                Problem("currentPassword", "The current password is wrong.", "INVALID_CREDENTIALS")
            ]
        )
    await throttle.succeeded(attempt)
    problems = password_problems(new_password, user.username, user.email)
    if problems:
        return Session(problems=[_renamed(problem, "newPassword") for problem in problems])
    new_hash = await passwords.hash(new_password)
    async with begin(database.engine) as connection:
        await connection.execute(
            sa.update(users_table).where(USERS.id == user_id).values(password_hash=new_hash)
        )
        await tokens.revoke_all(connection, user_id=user_id)
        await revoke_access_tokens(connection, user_id=user_id)
        refresh = await tokens.create_refresh_token(connection, settings, user_id=user_id)
        # Read again: the new session's access token carries the new token_version.
        changed = await user_by_id(connection, user_id)
        assert changed is not None
    return Session(user=changed, issued=issue_tokens(settings, changed, refresh))


def _renamed(problem: Problem, field: str) -> Problem:
    return Problem(field, problem.message, problem.code)


@dataclass(frozen=True, slots=True)
class ProfileChange:
    display_name: str | None = None
    bio: str | None = None
    avatar_url: str | None = None


BIO_LENGTH = 2_000
AVATAR_URL = re.compile(r"https://[^\s]{1,490}")


def profile_problems(change: ProfileChange) -> list[Problem]:
    problems = []
    if change.display_name is not None and not 1 <= len(change.display_name.strip()) <= 100:
        problems.append(Problem("displayName", "Use 1 to 100 characters.", "DISPLAY_NAME_INVALID"))
    if change.bio is not None and len(change.bio) > BIO_LENGTH:
        problems.append(Problem("bio", f"Use at most {BIO_LENGTH} characters.", "BIO_TOO_LONG"))
    if change.avatar_url and not AVATAR_URL.fullmatch(change.avatar_url):
        problems.append(
            Problem(
                "avatarUrl",
                "Use an https:// address of at most 500 characters.",
                "AVATAR_URL_INVALID",
            )
        )
    return problems


async def update_profile(
    database: Database, *, user_id: int, change: ProfileChange
) -> tuple[Row[Any] | None, list[Problem]]:
    problems = profile_problems(change)
    if problems:
        return None, problems
    values: dict[str, Any] = {}
    if change.display_name is not None:
        values["display_name"] = change.display_name.strip()
    if change.bio is not None:
        values["bio"] = change.bio.strip()
    if change.avatar_url is not None:
        values["avatar_url"] = change.avatar_url or None
    async with begin(database.engine) as connection:
        if values:
            await connection.execute(
                sa.update(users_table).where(USERS.id == user_id).values(**values)
            )
        user = await user_by_id(connection, user_id)
    return user, []
