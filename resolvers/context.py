"""The per-request context: settings, database, the viewer and fresh loaders."""

import dataclasses
from dataclasses import dataclass
from typing import Any

import strawberry
from starlette.datastructures import MutableHeaders

from models.database import Database
from models.passwords import Passwords
from models.tables import Role
from resolvers import accounts, previews, tokens
from resolvers.errors import QuireError, UnauthenticatedError
from resolvers.events import LocalBus
from resolvers.loaders import Loaders
from resolvers.rate_limits import RateLimiter, Spending
from resolvers.response_cache import Invalidator
from resolvers.throttle import LoginThrottle
from resolvers.visibility import ANONYMOUS, Viewer
from settings import Settings

REVOKED = (
    "This access token was revoked (the account's password, role or sessions changed): "
    "refresh it, or log in again."
)


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
    # A WebSocket's (or an HTTP subscription stream's) bearer credentials: each operation and
    # each event delivered is authorized again with them against the user's current state.
    authorization: str | None = None
    # A request that asked for a subscription stream over HTTP (schema/http_subscriptions.py).
    http_stream: bool = False
    # What writes call after their commit with the cache tags they changed.
    invalidator: Invalidator | None = None
    # Set by schema/caching.py's ReadScope: a query whose root fields are all public.
    public_read: bool = False
    # The answer holds something of this request's own although nobody is signed in (the
    # timings of extensions.sql): never cached.
    private: bool = False
    # The request asked for extensions.sql (X-Quire-SQL-Report; see schema/statement_report.py).
    sql_report_requested: bool = False
    # The caller's rate-limit budgets after this operation (sent as RateLimit headers).
    spending: Spending | None = None
    # Read through a preview token (X-Preview-Token, or a previewToken argument): the
    # response shows a draft to whoever holds the token, and must never be cached.
    preview: bool = False


def mark_preview(context: Context) -> None:
    """A response read through a preview token: never cached, by us or anyone on the way."""
    context.preview = True
    headers = getattr(context.response, "headers", None)
    # An HTTP response's headers; a WebSocket's are the request's (read-only), and a socket's
    # messages are never cached anyway.
    if isinstance(headers, MutableHeaders):
        headers["cache-control"] = "no-store"


async def _with_preview(
    *, settings: Settings, database: Database, viewer: Viewer, preview_token: str | None
) -> Viewer:
    if not preview_token:
        return viewer
    return await previews.preview_viewer(
        database, settings=settings, viewer=viewer, token=preview_token
    )


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
    if user.token_version != claims.token_version:
        raise UnauthenticatedError(REVOKED)
    return Viewer(user_id=user.id, role=Role(user.role)), claims.expires_at


async def current_viewer(context: Context) -> Viewer:
    """The viewer as the user is now, for a WebSocket, which outlives the facts its
    connection_init was checked against: the user is read again (active, role, token
    version); raises if the credentials no longer hold."""
    return await authenticate(
        settings=context.settings, database=context.database, authorization=context.authorization
    )


async def operation_context(connection: Context) -> Context:
    """A context for one operation on a WebSocket: the current viewer and loaders of its
    own, so that nothing is served from what an earlier operation cached."""
    viewer = await current_viewer(connection)
    return dataclasses.replace(
        connection, viewer=viewer, loaders=Loaders(database=connection.database, viewer=viewer)
    )


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
    invalidator: Invalidator | None = None,
    preview_token: str | None = None,
) -> Context:
    credentials_error = None
    try:
        viewer = await authenticate(
            settings=settings, database=database, authorization=authorization
        )
        viewer = await _with_preview(
            settings=settings, database=database, viewer=viewer, preview_token=preview_token
        )
    except QuireError as error:
        viewer, credentials_error = ANONYMOUS, error
    context = Context(
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
        invalidator=invalidator,
    )
    if preview_token:
        mark_preview(context)
    return context


Info = strawberry.Info[Context, None]
