"""Device tokens (OWASP's "device cookies"): a successful log-in hands the client a signed
token naming the account and a random device id. Sent back with the next logIn, it lets that
client spend from a failure budget of its own (resolvers/throttle.py), so that strangers'
wrong guesses neither delay nor lock it out. It proves only that this client logged in to this
account before; it authenticates nothing."""

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta

import jwt

from models.columns import utc_now
from settings import Settings

AUDIENCE = "quire-device"
ALGORITHM = "HS256"


@dataclass(frozen=True, slots=True)
class Device:
    user_id: int
    device_id: str
    # The account's token version when the token was issued: logOutEverywhere, a password
    # change, a role change or deactivation make every earlier device token an unknown client.
    token_version: int


def _key(settings: Settings) -> bytes:
    # A key of its own, derived from the secret key, so that a device token can never pass for
    # an access token (or the reverse), whatever QUIRE_JWT_ALGORITHM is.
    return hmac.new(settings.secret_key.encode(), b"quire device tokens", hashlib.sha256).digest()


def issue_device_token(settings: Settings, *, user_id: int, token_version: int) -> str:
    now = utc_now()
    claims = {
        "sub": str(user_id),
        "ver": token_version,
        "jti": secrets.token_urlsafe(16),
        "iat": now,
        "exp": now + timedelta(days=settings.login_device_token_days),
        "aud": AUDIENCE,
    }
    return jwt.encode(claims, _key(settings), algorithm=ALGORITHM)


def read_device_token(settings: Settings, token: str | None) -> Device | None:
    """The device a token names; None for a missing, forged, foreign or expired token (its
    client then counts as unknown, which is what it would be without one)."""
    if not token:
        return None
    try:
        claims = jwt.decode(
            token,
            _key(settings),
            algorithms=[ALGORITHM],
            audience=AUDIENCE,
            options={"require": ["sub", "jti", "exp", "aud", "ver"]},
        )
        return Device(
            user_id=int(claims["sub"]),
            device_id=str(claims["jti"]),
            token_version=int(claims["ver"]),
        )
    except (jwt.InvalidTokenError, ValueError):
        return None
