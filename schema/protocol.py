"""uvicorn's HTTP/1.1 protocol (httptools) with the bounds it lacks on what one client may hold
before its request reaches the application: the request head's size (431) and time (408), pauses
in a request body (408), and open connections per client address (429).

uvicorn accepts request heads of any size, waits forever for a head or a body to finish, and
lets one address hold any number of connections; `quire serve` exposed without a proxy needs
all three bounded. While the server drains (schema/server.py) every response closes its
connection.
"""

import asyncio
import ipaddress
import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol
from uvicorn.server import ServerState

from resolvers.rate_limits import address_group
from schema.middleware import SECURITY_HEADERS
from schema.refusals import Refusal

logger = logging.getLogger("quire.server")

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True, slots=True)
class ClientLimits:
    head_bytes: int
    head_timeout_seconds: float
    body_timeout_seconds: float
    connections_per_address: int
    # Reverse proxies carry many clients on few connections: they are not capped per address.
    # None: every address is a trusted proxy (QUIRE_FORWARDED_ALLOW_IPS=*).
    uncapped_networks: tuple[Network, ...] | None

    def caps(self, address: str) -> bool:
        if self.uncapped_networks is None:
            return False
        try:
            parsed = ipaddress.ip_address(address)
        except ValueError:
            return False
        return not any(parsed in network for network in self.uncapped_networks)


def trusted_networks(forwarded_allow_ips: str | None) -> tuple[Network, ...] | None:
    """QUIRE_FORWARDED_ALLOW_IPS as networks (None for "*"); names that are no address, such
    as a Unix socket path, are skipped: they never appear as a peer address here."""
    entries = [entry.strip() for entry in (forwarded_allow_ips or "").split(",") if entry.strip()]
    if "*" in entries:
        return None
    networks: list[Network] = []
    for entry in entries:
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            continue
    return tuple(networks)


class QuireServerState(ServerState):
    """uvicorn's state shared by every connection, plus what the bounds and the drain need."""

    def __init__(self, limits: ClientLimits) -> None:
        super().__init__()
        self.limits = limits
        self.draining = False
        self.connections_by_address: Counter[str] = Counter()


class RequestHeadTooLarge(Exception):
    pass


class BoundedHttpProtocol(HttpToolsProtocol):
    """httptools' HTTP/1.1 protocol with a size and a time limit on the request head, a time
    limit between two reads of a request body, and a cap on connections per client address."""

    # Set in connection_made, before any other callback can run.
    bounds: QuireServerState
    address: str | None
    timer: asyncio.TimerHandle | None
    in_head: bool
    head_bytes: int
    head_received: int
    head_too_large: bool

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if not isinstance(self.server_state, QuireServerState):
            raise TypeError("BoundedHttpProtocol runs under QuireServer (schema/server.py).")
        self.bounds = self.server_state
        self.address, self.timer = None, None
        self.in_head, self.head_bytes, self.head_received = True, 0, 0
        self.head_too_large = False
        if not self._admit():
            self._refuse_connection()
            return
        self._arm(self.bounds.limits.head_timeout_seconds, self._head_timed_out)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        self._release()
        super().connection_lost(exc)

    def handle_websocket_upgrade(self) -> None:
        # The WebSocket protocol takes the transport over; sockets have limits of their own.
        self._disarm()
        self._release()
        super().handle_websocket_upgrade()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self.transport.is_closing():
            return
        if self.in_head:
            # The head is still incomplete, so all of this chunk was head: this bounds what a
            # client holds in a half-sent header line that the parser has not reported yet.
            self.head_received += len(data)
            if self.head_received > self.bounds.limits.head_bytes:
                self._refuse_head_too_large()
            return
        self._watch_body()

    # Parser callbacks

    def on_message_begin(self) -> None:
        super().on_message_begin()
        first_request = self.cycle is None
        self.in_head, self.head_bytes, self.head_received = True, 0, 0
        # The first head's time runs from the connection (so that a silent connection is
        # closed too); a keep-alive request's from its first byte (the idle time before it is
        # uvicorn's timeout_keep_alive).
        if not first_request:
            self._arm(self.bounds.limits.head_timeout_seconds, self._head_timed_out)

    def on_url(self, url: bytes) -> None:
        super().on_url(url)
        self._count_head(len(url))

    def on_header(self, name: bytes, value: bytes) -> None:
        super().on_header(name, value)
        self._count_head(len(name) + len(value) + 4)

    def on_headers_complete(self) -> None:
        self.in_head = False
        self._disarm()
        super().on_headers_complete()
        if self.bounds.draining and self.cycle is not None:
            self.cycle.keep_alive = False

    def send_400_response(self, msg: str) -> None:
        # uvicorn answers any exception raised in a parser callback with a 400.
        if self.head_too_large:
            self._refuse_head_too_large()
            return
        super().send_400_response(msg)

    def start_draining(self) -> None:
        """The response in preparation closes its connection: the client reconnects, and is
        sent elsewhere once this instance is out of the load balancer."""
        if self.cycle is not None and not self.cycle.response_started:
            self.cycle.keep_alive = False

    # The bounds

    def _admit(self) -> bool:
        limits = self.bounds.limits
        if self.client is None or not limits.caps(self.client[0]):
            return True
        held = self.bounds.connections_by_address
        address = address_group(self.client[0])
        if held[address] >= limits.connections_per_address:
            return False
        self.address = address
        held[address] += 1
        return True

    def _release(self) -> None:
        if self.address is None:
            return
        held = self.bounds.connections_by_address
        held[self.address] -= 1
        if held[self.address] <= 0:
            del held[self.address]
        self.address = None

    def _count_head(self, size: int) -> None:
        self.head_bytes += size
        if self.head_bytes > self.bounds.limits.head_bytes:
            self.head_too_large = True
            raise RequestHeadTooLarge

    def _watch_body(self) -> None:
        """A time limit between two reads of a body (nginx's client_body_timeout)."""
        cycle = self.cycle
        if cycle is not None and cycle.more_body and not cycle.response_complete:
            self._arm(self.bounds.limits.body_timeout_seconds, self._body_stalled)
        else:
            self._disarm()

    def _head_timed_out(self) -> None:
        self.timer = None
        if self.head_bytes == 0 and self.head_received == 0 and self.cycle is None:
            self.transport.close()  # a connection that never sent a byte gets no answer
            return
        seconds = self.bounds.limits.head_timeout_seconds
        message = f"Send the request line and headers within {seconds:g} seconds."
        self._refuse(Refusal.coded(408, message, "REQUEST_TIMEOUT"))

    def _body_stalled(self) -> None:
        self.timer = None
        waiting_for_us = self.cycle is not None and self.cycle.waiting_for_100_continue
        if self.flow.read_paused or waiting_for_us:
            # uvicorn stopped reading because the application has not consumed the body yet,
            # or the client waits for the 100 Continue the application has not asked for.
            self._arm(self.bounds.limits.body_timeout_seconds, self._body_stalled)
            return
        seconds = self.bounds.limits.body_timeout_seconds
        message = f"The request body stalled for {seconds:g} seconds; send it without pauses."
        started = self.cycle is not None and self.cycle.response_started
        self._stop_cycle()
        if started:
            self.transport.close()
        else:
            self._refuse(Refusal.coded(408, message, "REQUEST_TIMEOUT"))

    def _refuse_head_too_large(self) -> None:
        limit = self.bounds.limits.head_bytes
        message = f"The request line and headers may hold at most {limit} bytes."
        self._stop_cycle()
        self._refuse(Refusal.coded(431, message, "REQUEST_HEADERS_TOO_LARGE"))

    def _refuse_connection(self) -> None:
        limit = self.bounds.limits.connections_per_address
        message = f"At most {limit} connections per client address; reuse an open connection."
        self._refuse(Refusal.coded(429, message, "TOO_MANY_CONNECTIONS", {"retry-after": "1"}))

    def _stop_cycle(self) -> None:
        """The application, if it runs, sees a disconnect and its response goes nowhere."""
        if self.cycle is not None and not self.cycle.response_complete:
            self.cycle.disconnected = True
            self.cycle.message_event.set()

    def _refuse(self, refusal: Refusal) -> None:
        if (
            self.cycle is not None
            and self.cycle.response_started
            and not self.cycle.response_complete
        ):
            # A pipelined request's response is half written: an answer now would corrupt it.
            self._stop_cycle()
            self.transport.close()
            return
        client = self.client and self.client[0]
        logger.info("refused %s (%s) from %s", refusal.status, refusal.code, client)
        body = refusal.body()
        head = [
            *self.server_state.default_headers,
            *refusal.raw_headers(body),
            (b"connection", b"close"),
            *SECURITY_HEADERS,
        ]
        lines = b"".join(name + b": " + value + b"\r\n" for name, value in head)
        self.transport.write(STATUS_LINE[refusal.status] + lines + b"\r\n" + body)
        self.transport.close()

    def _arm(self, seconds: float, callback: Callable[[], None]) -> None:
        self._disarm()
        self.timer = self.loop.call_later(seconds, callback)

    def _disarm(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
