"""The per-request context: settings, database, the viewer and fresh loaders."""

from dataclasses import dataclass
from typing import Any

import strawberry

from models.database import Database
from models.passwords import Passwords
from models.tables import Role
from resolvers import accounts, tokens
from resolvers.errors import QuireError, UnauthenticatedError
from resolvers.events import LocalBus
from resolvers.loaders import Loaders
from resolvers.rate_limits import RateLimiter
from resolvers.throttle import LoginThrottle
from resolvers.visibility import ANONYMOUS, Viewer
from settings import Settings


@dataclass(slots=True)
class Context:
    settings: Settings
    database: Database
    passwords: Passwords
    throttle: LoginThrottle
    viewer: Viewer
    loaders: Loaders
    # A bad bearer token refuses the whole operation (see schema/permissions.py), so that a
    # client with an expired token learns to refresh instead of silently seeing less.
    credentials_error: QuireError | None = None
    client_address: str | None = None
    request_id: str | None = None
    rate_limiter: RateLimiter | None = None
    # The HTTP response being prepared (status and headers set by extensions, e.g. 429).
    response: Any = None
    # Summed cost of the operations of a batched request so far: a batch is checked against
    # the same cost limit as a single operation.
    batch_cost: int = 0
    # Subscriptions: the event bus, and the connection_init payload of a WebSocket.
    events: "LocalBus | None" = None
    connection_params: dict[str, Any] | None = None


async def authenticate(
    *, settings: Settings, database: Database, authorization: str | None
) -> Viewer:
    """The viewer a bearer token names; anonymous without one. Deactivated users' tokens stop
    working at once, so an authenticated request costs one lookup of the user."""
    viewer, _expires_at = await authenticate_until(
        settings=settings, database=database, authorization=authorization
    )
    return viewer


async def authenticate_until(
    *, settings: Settings, database: Database, authorization: str | None
) -> tuple[Viewer, float | None]:
    """The viewer and when its token expires (epoch seconds; None when anonymous)."""
    if not authorization:
        return ANONYMOUS, None
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise UnauthenticatedError("Send the access token as 'Authorization: Bearer <token>'.")
    claims = tokens.read_access_token(settings, token.strip())
    user = await accounts.active_user(database, claims.user_id)
    if user is None:
        raise UnauthenticatedError("This account is deactivated or no longer exists.")
    return Viewer(user_id=user.id, role=Role(user.role)), claims.expires_at


async def build_context(
    *,
    settings: Settings,
    database: Database,
    passwords: Passwords,
    throttle: LoginThrottle,
    authorization: str | None = None,
    client_address: str | None = None,
    request_id: str | None = None,
    rate_limiter: RateLimiter | None = None,
    response: Any = None,
    events: LocalBus | None = None,
) -> Context:
    credentials_error = None
    try:
        viewer = await authenticate(
            settings=settings, database=database, authorization=authorization
        )
    except QuireError as error:
        viewer, credentials_error = ANONYMOUS, error
    return Context(
        settings=settings,
        database=database,
        passwords=passwords,
        throttle=throttle,
        viewer=viewer,
        loaders=Loaders(database=database, viewer=viewer),
        credentials_error=credentials_error,
        client_address=client_address,
        request_id=request_id,
        rate_limiter=rate_limiter,
        response=response,
        events=events,
    )


Info = strawberry.Info[Context, None]
