"""Operators and admins: create accounts with any role, change roles, deactivate."""

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from models.database import Database, begin, connect
from models.passwords import Passwords
from models.tables import Role, users_table
from resolvers import tokens
from resolvers.accounts import (
    USERS,
    SignUp,
    checked_sign_up,
    insert_user,
    user_by_id,
)
from resolvers.errors import Problem


async def create_user_with_role(
    database: Database, *, passwords: Passwords, sign_up: SignUp, role: Role
) -> tuple[int | None, list[Problem]]:
    """For operators (`quire create-admin`): the sign-up rules, any role, no session."""
    sign_up, problems = await checked_sign_up(database, sign_up)
    if problems:
        return None, problems
    password_hash = await passwords.hash(sign_up.password)
    async with begin(database.engine) as connection:
        user_id = await insert_user(
            connection, sign_up=sign_up, role=role, password_hash=password_hash
        )
    return user_id, []


async def administer_user(
    database: Database,
    *,
    user_id: int,
    role: Role | None = None,
    active: bool | None = None,
) -> tuple[Row[Any] | None, bool]:
    """Change a user's role or deactivate them: the user, and whether anything changed.
    A change revokes the user's access tokens (they carry the old role and state);
    deactivation also ends every session."""
    values: dict[str, Any] = {}
    if role is not None:
        values["role"] = role
    if active is not None:
        values["is_active"] = active
    async with begin(database.engine) as connection:
        changed = bool(values) and await _change(connection, user_id=user_id, values=values)
        if active is False:
            await tokens.revoke_all(connection, user_id=user_id)
        return await user_by_id(connection, user_id), changed


async def _change(connection: AsyncConnection, *, user_id: int, values: dict[str, Any]) -> bool:
    """Writes only a real change, so that setting the same role again keeps the sessions."""
    differs = sa.or_(*(USERS[name] != value for name, value in values.items()))
    result = await connection.execute(
        sa.update(users_table)
        .where(USERS.id == user_id, differs)
        .values(**values, token_version=USERS.token_version + 1)
    )
    return bool(result.rowcount == 1)


async def account_by_id(database: Database, user_id: int) -> Row[Any] | None:
    """Any user, deactivated ones included: for admins and the user themself."""
    async with connect(database.reader) as connection:
        return await user_by_id(connection, user_id)
