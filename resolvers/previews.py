"""Preview tokens: signed, expiring, revocable, read-only access to one post for a frontend
on another domain (X-Preview-Token header, or the previewToken argument of post and node).

A token is a JWT whose audience is the preview audience (an access token is never a preview
token, nor the reverse), naming its post and a row in preview_tokens that revocation, the
post's deletion (the row goes with it) and the post's publication end.
"""

import dataclasses
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import jwt
import sqlalchemy as sa

from models.columns import utc_now
from models.database import Database, begin, fetch_all
from models.tables import PostStatus, preview_tokens_table
from resolvers.errors import (
    PreviewTokenExpiredError,
    PreviewTokenInvalidError,
    PreviewTokenRevokedError,
    Problem,
)
from resolvers.post_writes import editable_post, revoke_tokens_of_post
from resolvers.visibility import Viewer
from settings import Settings

TOKENS = preview_tokens_table.c
REQUIRED_CLAIMS = ["exp", "iat", "iss", "aud", "jti", "pid"]
ALREADY_PUBLISHED = Problem(
    "postId", "This post is published: share its address instead of a preview.", "POST_PUBLISHED"
)
INVALID = "This preview token is not valid (not issued by this server for previews)."
EXPIRED = "This preview token has expired: ask the post's author or an editor for a new one."
REVOKED = "This preview token was revoked, or its post was published or deleted: ask for a new one."


@dataclass(frozen=True, slots=True)
class IssuedPreview:
    token: str | None = None
    expires_at: datetime | None = None
    problems: list[Problem] | None = None


def preview_audience(settings: Settings) -> str:
    return f"{settings.jwt_audience}:preview"


def _publicly_visible(post: Any) -> bool:
    return bool(
        post.status == PostStatus.PUBLISHED
        and post.published_at is not None
        and post.published_at <= utc_now()
    )


def _encode(settings: Settings, *, jti: str, post_id: int, expires_at: datetime) -> str:
    claims = {
        "pid": post_id,
        "jti": jti,
        "iat": utc_now(),
        "exp": expires_at,
        "iss": settings.jwt_issuer,
        "aud": preview_audience(settings),
    }
    return jwt.encode(claims, settings.jwt_signing_key, algorithm=settings.jwt_algorithm)


async def create_preview_token(
    database: Database, *, settings: Settings, viewer: Viewer, post_id: int
) -> IssuedPreview:
    """For the post's author or an editor; a post already public needs no preview."""
    post = await editable_post(database, viewer=viewer, post_id=post_id)
    if _publicly_visible(post):
        return IssuedPreview(problems=[ALREADY_PUBLISHED])
    now = utc_now()
    expires_at = now + timedelta(minutes=settings.preview_token_minutes)
    jti = uuid.uuid4().hex
    async with begin(database.engine) as connection:
        await connection.execute(
            sa.insert(preview_tokens_table).values(
                jti=jti,
                post_id=post_id,
                created_by=viewer.user_id,
                created_at=now,
                expires_at=expires_at,
            )
        )
    token = _encode(settings, jti=jti, post_id=post_id, expires_at=expires_at)
    return IssuedPreview(token=token, expires_at=expires_at)


def _claims(settings: Settings, token: str) -> dict[str, Any]:
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            settings.jwt_verifying_key,
            algorithms=[settings.jwt_algorithm],
            issuer=settings.jwt_issuer,
            audience=preview_audience(settings),
            options={"require": REQUIRED_CLAIMS},
        )
    except jwt.ExpiredSignatureError as error:
        raise PreviewTokenExpiredError(EXPIRED) from error
    except jwt.InvalidTokenError as error:
        raise PreviewTokenInvalidError(INVALID) from error
    if not isinstance(claims["pid"], int) or not isinstance(claims["jti"], str):
        raise PreviewTokenInvalidError(INVALID)
    return claims


_LIVE_TOKEN = sa.select(TOKENS.post_id).where(
    TOKENS.jti == sa.bindparam("jti"),
    TOKENS.revoked_at.is_(None),
    TOKENS.expires_at > sa.bindparam("now"),
)


async def read_preview_token(database: Database, *, settings: Settings, token: str) -> int:
    """The post a preview token reads; raises PREVIEW_TOKEN_INVALID (forged, another server's,
    not a preview token), PREVIEW_TOKEN_EXPIRED or PREVIEW_TOKEN_REVOKED."""
    claims = _claims(settings, token.strip())
    rows = await fetch_all(database, _LIVE_TOKEN, {"jti": claims["jti"], "now": utc_now()})
    if not rows or rows[0].post_id != claims["pid"]:
        raise PreviewTokenRevokedError(REVOKED)
    return int(claims["pid"])


async def preview_viewer(
    database: Database, *, settings: Settings, viewer: Viewer, token: str
) -> Viewer:
    """The viewer with the token's post readable by lookup."""
    post_id = await read_preview_token(database, settings=settings, token=token)
    return dataclasses.replace(viewer, preview_post_id=post_id)


async def revoke_preview_tokens(database: Database, *, viewer: Viewer, post_id: int) -> int:
    """Revokes every live preview token of a post (its author or an editor); how many."""
    await editable_post(database, viewer=viewer, post_id=post_id)
    async with begin(database.engine) as connection:
        return await revoke_tokens_of_post(connection, post_id=post_id)
