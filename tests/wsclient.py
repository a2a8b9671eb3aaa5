"""A small GraphQL-over-WebSocket client for the tests (the `websockets` library, real sockets):
graphql-transport-ws by default, the legacy graphql-ws on request."""

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

TRANSPORT_WS = "graphql-transport-ws"
LEGACY_WS = "graphql-ws"
SETTLE_SECONDS = 0.3


class Socket:
    def __init__(self, connection: ClientConnection, protocol: str) -> None:
        self.connection, self.protocol = connection, protocol

    async def send(self, message: dict[str, Any]) -> None:
        await self.connection.send(json.dumps(message))

    async def receive(self, seconds: float = 5.0) -> dict[str, Any]:
        """The next message that is not a keep-alive."""
        while True:
            raw = await asyncio.wait_for(self.connection.recv(), seconds)
            assert isinstance(raw, str), f"a binary frame: {raw!r}"  # the protocols want text
            message: dict[str, Any] = json.loads(raw)
            if message.get("type") not in ("ka", "ping", "pong"):
                return message

    async def nothing_for(self, seconds: float) -> None:
        """Asserts that no message (but keep-alives) arrives within `seconds`."""
        try:
            message = await self.receive(seconds)
        except TimeoutError:
            return
        raise AssertionError(f"expected nothing, got {message}")

    async def subscribe(
        self, operation_id: str, query: str, variables: dict[str, Any] | None = None
    ) -> None:
        kind = "subscribe" if self.protocol == TRANSPORT_WS else "start"
        payload = {"query": query, "variables": variables or {}}
        await self.send({"id": operation_id, "type": kind, "payload": payload})
        # Neither protocol acknowledges a subscription: give the server a moment to start
        # listening before the test makes something happen.
        await asyncio.sleep(SETTLE_SECONDS)

    async def stop(self, operation_id: str) -> None:
        kind = "complete" if self.protocol == TRANSPORT_WS else "stop"
        await self.send({"id": operation_id, "type": kind})

    async def next_data(self, operation_id: str, seconds: float = 5.0) -> dict[str, Any]:
        message = await self.receive(seconds)
        expected = "next" if self.protocol == TRANSPORT_WS else "data"
        assert message.get("id") == operation_id, message
        assert message["type"] == expected, message
        payload: dict[str, Any] = message["payload"]
        return payload

    async def closed(self, seconds: float = 5.0) -> tuple[int | None, str]:
        """Waits for the server to close the socket; returns its code and reason."""
        try:
            while True:
                await asyncio.wait_for(self.connection.recv(), seconds)
        except ConnectionClosed as closed:
            if closed.rcvd is None:
                return None, ""
            return closed.rcvd.code, closed.rcvd.reason


@asynccontextmanager
async def graphql_socket(
    url: str,
    *,
    payload: dict[str, Any] | None = None,
    protocol: str = TRANSPORT_WS,
    acknowledge: bool = True,
) -> AsyncIterator[Socket]:
    """Connects to `ws://.../graphql`, sends connection_init with `payload` and, unless
    `acknowledge` is False, waits for the server's acknowledgement."""
    async with connect(url, subprotocols=[protocol], open_timeout=10) as connection:  # type: ignore[list-item]
        socket = Socket(connection, protocol)
        await socket.send({"type": "connection_init", "payload": payload or {}})
        if acknowledge:
            ack = await socket.receive()
            assert ack["type"] == "connection_ack", ack
        yield socket
