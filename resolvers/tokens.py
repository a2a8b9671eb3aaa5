"""Access tokens (short-lived JWTs) and refresh tokens (opaque, stored as hashes, rotated)."""

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import jwt
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from models.columns import utc_now
from models.tables import Role, refresh_tokens_table
from resolvers.errors import TokenExpiredError, UnauthenticatedError
from settings import Settings

TOKENS = refresh_tokens_table.c
REQUIRED_CLAIMS = ["exp", "iat", "sub", "iss", "aud", "jti", "role"]


@dataclass(frozen=True, slots=True)
class AccessClaims:
    user_id: int
    role: Role
    expires_at: float | None = None  # epoch seconds
    token_version: int = 0  # the user's token_version when the token was issued


@dataclass(frozen=True, slots=True)
class IssuedTokens:
    access_token: str
    access_token_expires_at: datetime
    refresh_token: str


def issue_access_token(
    settings: Settings, *, user_id: int, role: Role, token_version: int = 0
) -> tuple[str, datetime]:
    now = utc_now()
    expires_at = now + timedelta(minutes=settings.access_token_minutes)
    claims = {
        "sub": str(user_id),
        "role": role.value,
        "iat": now,
        "exp": expires_at,
        "jti": uuid.uuid4().hex,
        "iss": settings.jwt_issuer,
        "aud": settings.jwt_audience,
        "ver": token_version,
    }
    token = jwt.encode(claims, settings.jwt_signing_key, algorithm=settings.jwt_algorithm)
    return token, expires_at


def read_access_token(settings: Settings, token: str) -> AccessClaims:
    """Strict validation: the configured algorithm only, expiry, issuer and audience."""
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            settings.jwt_verifying_key,
            algorithms=[settings.jwt_algorithm],
            issuer=settings.jwt_issuer,
            audience=settings.jwt_audience,
            options={"require": REQUIRED_CLAIMS},
        )
        return AccessClaims(
            user_id=int(claims["sub"]),
            role=Role(claims["role"]),
            expires_at=float(claims["exp"]),
            # Tokens issued before versions existed carry none: they are version 0, which
            # every user starts at, so a bump revokes them as well.
            token_version=int(claims.get("ver", 0)),
        )
    except jwt.ExpiredSignatureError as error:
        raise TokenExpiredError("The access token has expired: refresh it.") from error
    except (jwt.InvalidTokenError, ValueError) as error:
        raise UnauthenticatedError("The access token is not valid: log in again.") from error


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def create_refresh_token(
    connection: AsyncConnection, settings: Settings, *, user_id: int, family_id: str | None = None
) -> str:
    token = secrets.token_urlsafe(32)
    now = utc_now()
    await connection.execute(
        sa.insert(refresh_tokens_table),
        {
            "user_id": user_id,
            "family_id": family_id or uuid.uuid4().hex,
            "token_hash": _digest(token),
            "created_at": now,
            "expires_at": now + timedelta(days=settings.refresh_token_days),
        },
    )
    return token


@dataclass(frozen=True, slots=True)
class Rotation:
    """The outcome of spending a refresh token: a successor, or why there is none. Refusals are
    returned, not raised, so that a family revoked for reuse is committed before the caller
    refuses the request."""

    user_id: int | None = None
    successor: str | None = None
    refusal: str | None = None


async def rotate_refresh_token(
    connection: AsyncConnection, settings: Settings, token: str
) -> Rotation:
    """Spend a refresh token. A token spent twice means it was copied: the whole family is
    revoked and both holders must log in again."""
    row = (
        await connection.execute(
            sa.select(
                TOKENS.id,
                TOKENS.user_id,
                TOKENS.family_id,
                TOKENS.expires_at,
                TOKENS.used_at,
                TOKENS.revoked_at,
            ).where(TOKENS.token_hash == _digest(token))
        )
    ).first()
    now = utc_now()
    if row is None or row.revoked_at is not None or row.expires_at <= now:
        return Rotation(refusal="The refresh token is not valid: log in again.")
    spent = await connection.execute(
        sa.update(refresh_tokens_table)
        .where(TOKENS.id == row.id, TOKENS.used_at.is_(None))
        .values(used_at=now)
    )
    if row.used_at is not None or spent.rowcount != 1:
        await revoke_family(connection, family_id=row.family_id)
        return Rotation(refusal="The refresh token was already used: log in again.")
    successor = await create_refresh_token(
        connection, settings, user_id=row.user_id, family_id=row.family_id
    )
    return Rotation(user_id=row.user_id, successor=successor)


async def revoke_family(connection: AsyncConnection, *, family_id: str) -> None:
    await connection.execute(
        sa.update(refresh_tokens_table)
        .where(TOKENS.family_id == family_id, TOKENS.revoked_at.is_(None))
        .values(revoked_at=utc_now())
    )


async def revoke_refresh_token(connection: AsyncConnection, token: str) -> bool:
    """Log out one session: revoke the family the token belongs to."""
    family_id = await connection.scalar(
        sa.select(TOKENS.family_id).where(TOKENS.token_hash == _digest(token))
    )
    if family_id is None:
        return False
    await revoke_family(connection, family_id=family_id)
    return True


async def revoke_all(connection: AsyncConnection, *, user_id: int) -> int:
    result = await connection.execute(
        sa.update(refresh_tokens_table)
        .where(TOKENS.user_id == user_id, TOKENS.revoked_at.is_(None))
        .values(revoked_at=utc_now())
    )
    return int(result.rowcount)
