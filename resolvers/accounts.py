"""Accounts: sign-up, log-in, session refresh and log-out. Expected refusals (a taken name, a
short password, wrong credentials) come back as problems; auth faults are raised."""

import re
from dataclasses import dataclass, field
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.engine import Row
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from models.columns import utc_now
from models.database import Database, begin, connect, read_retrying
from models.passwords import Passwords
from models.tables import Role, users_table
from resolvers import tokens
from resolvers.device_tokens import issue_device_token, read_device_token
from resolvers.errors import Problem, UnauthenticatedError
from resolvers.rate_limits import RateLimiter
from resolvers.throttle import LoginThrottle
from settings import Settings

USERS = users_table.c
USERNAME = re.compile(r"[a-z0-9_]{3,40}")
EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
PASSWORD_LENGTH = (10, 256)
WRONG_CREDENTIALS = "The username or password is wrong."

USER_COLUMNS = (
    USERS.id,
    USERS.username,
    USERS.email,
    USERS.display_name,
    USERS.bio,
    USERS.avatar_url,
    USERS.role,
    USERS.is_active,
    USERS.created_at,
    USERS.token_version,
)


@dataclass(frozen=True, slots=True)
class SignUp:
    username: str
    email: str
    password: str
    display_name: str


@dataclass(slots=True)
class Session:
    user: Row[Any] | None = None
    issued: tokens.IssuedTokens | None = None
    problems: list[Problem] = field(default_factory=list)
    # For the client that authenticated: its budget of failures on the next logIn.
    device_token: str | None = None


def _sign_up_problems(sign_up: SignUp) -> list[Problem]:
    problems = []
    if not USERNAME.fullmatch(sign_up.username):
        problems.append(
            Problem(
                "username",
                "Use 3 to 40 lowercase letters, digits or underscores.",
                "USERNAME_INVALID",
            )
        )
    if len(sign_up.email) > 254 or not EMAIL.fullmatch(sign_up.email):
        problems.append(
            Problem("email", "Enter an email address like ada@example.com.", "EMAIL_INVALID")
        )
    if not 1 <= len(sign_up.display_name) <= 100:
        problems.append(Problem("displayName", "Use 1 to 100 characters.", "DISPLAY_NAME_INVALID"))
    problems.extend(password_problems(sign_up.password, sign_up.username, sign_up.email))
    return problems


def password_problems(password: str, username: str, email: str) -> list[Problem]:
    shortest, longest = PASSWORD_LENGTH
    if not shortest <= len(password) <= longest:
        return [
            Problem(
                "password",
                f"Use between {shortest} and {longest} characters.",
                "PASSWORD_LENGTH",
            )
        ]
    if password.lower() in {username.lower(), email.lower()}:
        return [
            Problem(
                "password",
                "Choose a password other than your username or email.",
                "PASSWORD_IS_IDENTITY",
            )
        ]
    return []


def _normalized(sign_up: SignUp) -> SignUp:
    return SignUp(
        username=sign_up.username.strip().lower(),
        email=sign_up.email.strip().lower(),
        password=sign_up.password,
        display_name=sign_up.display_name.strip(),
    )


async def _taken(database: Database, sign_up: SignUp) -> list[Problem]:
    async with connect(database.engine) as connection:
        rows = (
            await connection.execute(
                sa.select(USERS.username, USERS.email).where(
                    sa.or_(USERS.username == sign_up.username, USERS.email == sign_up.email)
                )
            )
        ).all()
    problems = []
    if any(row.username == sign_up.username for row in rows):
        problems.append(Problem("username", "This username is taken.", "USERNAME_TAKEN"))
    if any(row.email == sign_up.email for row in rows):
        problems.append(Problem("email", "An account with this email exists.", "EMAIL_TAKEN"))
    return problems


async def insert_user(
    connection: AsyncConnection, *, sign_up: SignUp, role: Role, password_hash: str
) -> int:
    user_id: int = await connection.scalar(
        sa.insert(users_table)
        .values(
            username=sign_up.username,
            email=sign_up.email,
            display_name=sign_up.display_name,
            role=role,
            password_hash=password_hash,
            created_at=utc_now(),
        )
        .returning(USERS.id)
    )
    return user_id


async def checked_sign_up(database: Database, sign_up: SignUp) -> tuple[SignUp, list[Problem]]:
    sign_up = _normalized(sign_up)
    return sign_up, _sign_up_problems(sign_up) or await _taken(database, sign_up)


async def sign_up(
    database: Database,
    *,
    settings: Settings,
    passwords: Passwords,
    rate_limiter: RateLimiter | None,
    client_address: str | None,
    sign_up: SignUp,
) -> Session:
    sign_up, problems = await checked_sign_up(database, sign_up)
    if problems:
        return Session(problems=problems)
    # Spent only by a sign-up that will create an account, so that typos cost nothing, and
    # before hashing, so that refused ones cost no hashing either.
    if rate_limiter is not None:
        await rate_limiter.spend_sign_up(client_address)
    password_hash = await passwords.hash(sign_up.password)
    try:
        async with begin(database.engine) as connection:
            user_id = await insert_user(
                connection, sign_up=sign_up, role=Role.READER, password_hash=password_hash
            )
            refresh = await tokens.create_refresh_token(connection, settings, user_id=user_id)
            user = await user_by_id(connection, user_id)
            assert user is not None
    except IntegrityError:
        # Another sign-up took the name or email between the check and the insert.
        return Session(problems=await _taken(database, sign_up))
    device_token = issue_device_token(settings, user_id=user_id, token_version=user.token_version)
    return Session(
        user=user, issued=issue_tokens(settings, user, refresh), device_token=device_token
    )


MAX_LOGIN_LENGTH = 254


async def log_in(
    database: Database,
    *,
    settings: Settings,
    passwords: Passwords,
    throttle: LoginThrottle,
    client_address: str | None,
    username_or_email: str,
    password: str,
    device_token: str | None = None,
) -> Session:
    login = username_or_email.strip().lower()
    # No account has a longer username or email (the email column's bound): nothing to look up.
    found = await _user_by_login(database, login) if len(login) <= MAX_LOGIN_LENGTH else None
    user_id = None if found is None else found.id
    attempt = await throttle.admit(
        account=throttle.account_key(user_id, login=login),
        device=_known_device(settings, device_token, user=found),
        address=client_address,
    )
    password_hash = found.password_hash if found is not None else None
    # Always one verification, against a dummy hash for an unknown user, so that the time
    # taken does not tell whether the account exists.
    verified = await passwords.verify(password_hash, password)
    if found is None or not verified or not found.is_active:
        return Session(problems=[Problem(None, WRONG_CREDENTIALS, "INVALID_CREDENTIALS")])
    await throttle.succeeded(attempt)
    async with begin(database.engine) as connection:
        if passwords.needs_rehash(found.password_hash):
            await connection.execute(
                sa.update(users_table)
                .where(USERS.id == found.id)
                .values(password_hash=await passwords.hash(password))
            )
        refresh = await tokens.create_refresh_token(connection, settings, user_id=found.id)
    return Session(
        user=found,
        issued=issue_tokens(settings, found, refresh),
        device_token=issue_device_token(
            settings, user_id=found.id, token_version=found.token_version
        ),
    )


def _known_device(
    settings: Settings, device_token: str | None, *, user: Row[Any] | None
) -> str | None:
    """The device id of a device token issued for this very account since its credentials
    last changed; None (an unknown client) for any other, so that a token got for one's own
    account buys nothing against another, and tokens stockpiled before a password change,
    logOutEverywhere or a role change buy nothing after it."""
    device = read_device_token(settings, device_token)
    if device is None or user is None or device.user_id != user.id:
        return None
    return device.device_id if device.token_version == user.token_version else None


async def _user_by_login(database: Database, login: str) -> Row[Any] | None:
    async with connect(database.engine) as connection:
        result = await connection.execute(
            sa.select(*USER_COLUMNS, USERS.password_hash).where(
                sa.or_(USERS.username == login, USERS.email == login)
            )
        )
        return cast("Row[Any] | None", result.first())


async def refresh_session(database: Database, *, settings: Settings, refresh_token: str) -> Session:
    async with begin(database.engine) as connection:
        rotation = await tokens.rotate_refresh_token(connection, settings, refresh_token)
        user = None if rotation.user_id is None else await user_by_id(connection, rotation.user_id)
    # Raised after the transaction: a family revoked for reuse must stay revoked.
    if rotation.refusal is not None or rotation.successor is None:
        raise UnauthenticatedError(rotation.refusal or "The refresh token is not valid.")
    if user is None or not user.is_active:
        raise UnauthenticatedError("This account is deactivated.")
    return Session(user=user, issued=issue_tokens(settings, user, rotation.successor))


async def log_out(database: Database, *, refresh_token: str) -> bool:
    async with begin(database.engine) as connection:
        return await tokens.revoke_refresh_token(connection, refresh_token)


async def revoke_access_tokens(connection: AsyncConnection, *, user_id: int) -> None:
    """Every access token issued to the user so far stops working (see token_version)."""
    await connection.execute(
        sa.update(users_table)
        .where(USERS.id == user_id)
        .values(token_version=USERS.token_version + 1)
    )


async def active_user(database: Database, user_id: int) -> Row[Any] | None:
    async def read() -> Row[Any] | None:
        async with connect(database.reader) as connection:
            return await user_by_id(connection, user_id)

    user = await read_retrying(read)
    return user if user is not None and user.is_active else None


async def user_by_id(connection: Any, user_id: int) -> Row[Any] | None:
    result = await connection.execute(sa.select(*USER_COLUMNS).where(USERS.id == user_id))
    row: Row[Any] | None = result.first()
    return row


def issue_tokens(settings: Settings, user: Row[Any], refresh_token: str) -> tokens.IssuedTokens:
    access_token, expires_at = tokens.issue_access_token(
        settings, user_id=user.id, role=Role(user.role), token_version=user.token_version
    )
    return tokens.IssuedTokens(
        access_token=access_token, access_token_expires_at=expires_at, refresh_token=refresh_token
    )
