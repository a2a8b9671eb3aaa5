"""WebSockets on /graphql: who may hold one, for how long, and as whom each operation runs.

- Connections are bounded per process (QUIRE_WS_MAX_CONNECTIONS: 1013, retry later), per
  client address and per user (1008 with a reason: close another socket first).
- A socket with no operation in flight for QUIRE_WS_IDLE_SECONDS after connection_init is
  closed (1000 with a reason); clients reconnect when they next subscribe.
- The socket authenticates once, at connection_init, but acts as the user is NOW: every
  operation gets a context built from the user's current state (active, role, token
  version), and every delivered event is checked again (schema/realtime.py). A user whose
  password, role, active flag or sessions change has every socket closed, on every instance
  (the credentials_changed event), with 4403.
"""

import asyncio
import contextlib
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.exceptions import ConnectionRejectionError
from strawberry.types.unset import UnsetType

from resolvers.context import Context, authenticate_until
from resolvers.errors import QuireError
from resolvers.events import Event, LocalBus
from resolvers.loaders import Loaders
from resolvers.observability import WEBSOCKETS
from resolvers.rate_limits import address_group
from settings import Settings

PROTOCOLS = ("graphql-transport-ws", "graphql-ws")
TOO_MANY = 1008  # policy violation: graphql-ws clients do not retry it in a loop
REVOKED = 4403  # graphql-transport-ws's Forbidden
IDLE = 1000
# The operation that changed the credentials may run on one of the sockets being closed
# (changePassword over the WebSocket, whose result carries the new tokens): its result goes
# out first. Nothing leaks meanwhile: every operation and event is authorized again.
REVOKED_CLOSE_DELAY_SECONDS = 0.25
# on_ws_connect's "acknowledge with no payload" (Strawberry's UNSET, typed Any there).
ACKNOWLEDGE = UnsetType()


class SocketRefused(Exception):
    """A connection_init refused with a close code and reason of Quire's own."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code, self.reason = code, reason


@dataclass(eq=False)
class Connection:
    """One open socket: where it comes from, whose it is, and its timers."""

    address: str
    user_id: int | None = None
    websocket: WebSocket | None = None  # Strawberry's, known from connection_init on
    active_at: float = field(default_factory=time.monotonic)
    tasks: set[asyncio.Task[None]] = field(default_factory=set)

    def start(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    def close_later(self, delay: float, code: int, reason: str) -> None:
        async def close() -> None:
            await asyncio.sleep(max(0.0, delay))
            await self.close(code, reason)

        self.start(close())

    async def close(self, code: int, reason: str) -> None:
        if self.websocket is None:
            return
        with contextlib.suppress(RuntimeError, OSError):
            await self.websocket.close(code=code, reason=reason)

    def stop(self) -> None:
        for task in list(self.tasks):
            task.cancel()


class Sockets:
    """The open sockets of this process, by address and by user."""

    def __init__(self, settings: Settings, events: LocalBus | None) -> None:
        self.settings, self.events = settings, events
        self.connections: dict[int, Connection] = {}  # by id(scope), shared by both WebSockets
        self.per_address: Counter[str] = Counter()
        self.per_user: dict[int, set[Connection]] = {}
        if events is not None:
            events.listeners.append(self._on_event)

    async def serve(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        handle: Callable[[Scope, Receive, Send], Awaitable[None]],
    ) -> None:
        websocket = WebSocket(scope, receive, send)
        if self.events is None or len(self.connections) >= self.settings.ws_max_connections:
            await websocket.close(code=1013, reason="Too many connections; retry later")
            return
        address = address_group(websocket.client.host if websocket.client else None)
        limit = self.settings.ws_max_connections_per_address
        if self.per_address[address] >= limit:
            reason = f"Too many WebSockets from your address (at most {limit}): close one first."
            await _refuse(websocket, TOO_MANY, reason)
            return
        connection = Connection(address)
        self._add(id(scope), connection)
        try:
            await handle(scope, receive, send)
        finally:
            self._remove(id(scope), connection)

    def _add(self, key: int, connection: Connection) -> None:
        self.connections[key] = connection
        self.per_address[connection.address] += 1
        WEBSOCKETS.inc()

    def _remove(self, key: int, connection: Connection) -> None:
        connection.stop()
        self.connections.pop(key, None)
        self.per_address[connection.address] -= 1
        if self.per_address[connection.address] <= 0:
            del self.per_address[connection.address]
        if connection.user_id is not None:
            mine = self.per_user.get(connection.user_id, set())
            mine.discard(connection)
            if not mine:
                self.per_user.pop(connection.user_id, None)
        WEBSOCKETS.dec()

    def connection_of(self, context: Context) -> Connection | None:
        websocket = context.response
        if not isinstance(websocket, WebSocket):
            return None
        return self.connections.get(id(websocket.scope))

    async def connect(self, context: Context) -> UnsetType:
        """connection_init: the payload's `{"authorization": "Bearer ..."}` (or the handshake's
        Authorization header). A bad, expired or revoked token refuses the connection (4403);
        a good one makes the socket act as its user until the token expires (then 4403,
        "Token expired"), the user's credentials change (4403) or the socket closes."""
        authorization = _authorization(context)
        try:
            viewer, expires_at = await authenticate_until(
                settings=self.settings, database=context.database, authorization=authorization
            )
        except QuireError as error:
            raise ConnectionRejectionError({"message": error.message, "code": error.code}) from None
        connection = self.connection_of(context)
        if connection is not None:
            connection.websocket = context.response
            if viewer.user_id is not None:
                self._admit(connection, viewer.user_id)
            if expires_at is not None:
                connection.close_later(expires_at - time.time(), REVOKED, "Token expired")
        context.viewer = viewer
        context.loaders = Loaders(database=context.database, viewer=viewer)
        context.credentials_error = None
        context.authorization = authorization
        return ACKNOWLEDGE

    def _admit(self, connection: Connection, user_id: int) -> None:
        # Both protocols close a socket that sends connection_init twice (4429).
        assert connection.user_id is None, "a socket is admitted once"
        limit = self.settings.ws_max_connections_per_user
        mine = self.per_user.setdefault(user_id, set())
        if len(mine) >= limit:
            reason = f"Too many WebSockets for this account (at most {limit}): close one first."
            raise SocketRefused(TOO_MANY, reason)
        connection.user_id = user_id
        mine.add(connection)

    def _on_event(self, event: Event) -> None:
        if event.kind != "credentials_changed":
            return
        for connection in self.per_user.get(event.id, set()):
            connection.close_later(
                REVOKED_CLOSE_DELAY_SECONDS, REVOKED, "Credentials changed: sign in again."
            )

    def watch_idle(self, context: Context, busy: Callable[[], bool]) -> None:
        connection = self.connection_of(context)
        if connection is not None:
            connection.start(self._close_when_idle(connection, busy))

    async def _close_when_idle(self, connection: Connection, busy: Callable[[], bool]) -> None:
        """Sleeps until the socket would have been idle long enough; operations move
        active_at when they start and end (schema/websocket_protocols.py)."""
        limit = self.settings.ws_idle_seconds
        connection.active_at = time.monotonic()
        while True:
            remaining = limit - (time.monotonic() - connection.active_at)
            if remaining > 0:
                await asyncio.sleep(remaining)
            elif busy():
                connection.active_at = time.monotonic()
            else:
                reason = f"Idle for {limit:g} s with no subscription: reconnect to subscribe."
                await connection.close(IDLE, reason)
                return


def _authorization(context: Context) -> str | None:
    params = context.connection_params or {}
    authorization = params.get("authorization") or params.get("Authorization")
    if authorization is not None and not isinstance(authorization, str):
        raise ConnectionRejectionError({"message": "authorization must be a string"})
    if authorization is None and isinstance(context.response, WebSocket):
        header: str | None = context.response.headers.get("authorization")
        return header
    return authorization


async def _refuse(websocket: WebSocket, code: int, reason: str) -> None:
    """Accept, then close: a refusal before the handshake reaches browsers as a bare 403
    without the reason."""
    offered = websocket.scope.get("subprotocols") or []
    chosen = next((protocol for protocol in offered if protocol in PROTOCOLS), None)
    await websocket.accept(subprotocol=chosen)
    await websocket.close(code=code, reason=reason)
