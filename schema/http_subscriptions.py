"""Subscriptions over HTTP, for clients and networks without WebSockets: Apollo's multipart
protocol (`Accept: multipart/mixed;subscriptionSpec=1.0`, what Apollo Client's HttpLink sends
for a subscription) and GraphQL over Server-Sent Events (`Accept: text/event-stream`, distinct
connections mode), when that is the first media type the request accepts. Strawberry encodes
both; this module decides who may hold a stream.

The rules are the WebSocket's: the operation spends from the rate-limit budgets and passes the
document limits and the cost check like any other; the bearer token is checked when the stream
opens and again, against the user's current state, for every event (schema/realtime.py), so a
stream whose credentials stop holding ends with that error; every event is checked for
visibility. Streams are bounded like sockets, per process, per client address and per user
(the QUIRE_WS_MAX_CONNECTIONS settings, counted apart from the sockets).
"""

from collections import Counter
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field

from strawberry.subscriptions import GRAPHQL_SSE_PROTOCOL, MULTIPART_SUBSCRIPTION_PROTOCOL

from resolvers.context import Context
from resolvers.rate_limits import address_group
from schema.refusals import Refusal
from settings import Settings

STREAM_PROTOCOLS = (MULTIPART_SUBSCRIPTION_PROTOCOL, GRAPHQL_SSE_PROTOCOL)


def first_accepted(headers: Mapping[str, str]) -> str:
    """The media type a client lists first in Accept, the one it prefers: a stream is served
    only when that is a stream's."""
    accept = next((value for key, value in headers.items() if key.lower() == "accept"), "")
    return accept.split(",", 1)[0]


@dataclass
class HttpStreams:
    """The subscription streams this process holds open, by client address and by user."""

    settings: Settings
    open: int = 0
    per_address: Counter[str] = field(default_factory=Counter)
    per_user: Counter[int] = field(default_factory=Counter)

    def admit(self, context: Context) -> Callable[[], None]:
        """Counts a new stream in, or refuses it (429); returns what counts it out."""
        address = address_group(context.client_address or "unknown")
        user = context.viewer.user_id
        self._refuse_over_limits(address, user)
        self.open += 1
        self.per_address[address] += 1
        if user is not None:
            self.per_user[user] += 1

        def release() -> None:
            self.open -= 1
            self.per_address[address] -= 1
            if user is not None:
                self.per_user[user] -= 1

        return release

    def _refuse_over_limits(self, address: str, user: int | None) -> None:
        settings = self.settings
        if self.open >= settings.ws_max_connections:
            raise _too_many("this server", settings.ws_max_connections)
        if self.per_address[address] >= settings.ws_max_connections_per_address:
            raise _too_many("this address", settings.ws_max_connections_per_address)
        if user is not None and self.per_user[user] >= settings.ws_max_connections_per_user:
            raise _too_many("this account", settings.ws_max_connections_per_user)

    async def guarded(
        self, stream: AsyncIterator[str], release: Callable[[], None]
    ) -> AsyncGenerator[str, None]:
        """The stream, counted out however it ends (completed, failed, client gone)."""
        try:
            async for chunk in stream:
                yield chunk
        finally:
            release()


def _too_many(holder: str, limit: int) -> Refusal:
    return Refusal(
        429,
        f"Too many open subscription streams for {holder} (at most {limit}): close one first.",
        {"code": "TOO_MANY_STREAMS", "limit": limit},
        {"retry-after": "5"},
    )
