"""The HTTP server `quire serve` runs: uvicorn's, with the bounded protocol of
schema/protocol.py and a drain period between SIGTERM and the shutdown.

uvicorn stops accepting the moment SIGTERM arrives, which drops the connections the kernel had
already accepted and races idle keep-alive connections. `QuireServer` drains first: /readyz
turns 503 at once, requests are still accepted and answered with `Connection: close` for
QUIRE_SHUTDOWN_DRAIN_SECONDS, then uvicorn's own graceful shutdown finishes what is in flight.
"""

import logging
import signal
import socket
import time
from dataclasses import dataclass
from types import FrameType

import uvicorn

from schema.protocol import BoundedHttpProtocol, ClientLimits, QuireServerState

logger = logging.getLogger("quire.server")


@dataclass(slots=True)
class Drain:
    """Shared by the server and the application: /readyz answers 503 once `started`."""

    started: bool = False


class QuireServer(uvicorn.Server):
    """uvicorn's server with a drain period between SIGTERM and its graceful shutdown.

    SIGTERM: /readyz turns 503 and every response closes its connection, while new connections
    are still accepted and served for `drain_seconds` (the load balancer needs that long to
    stop sending here); then uvicorn stops accepting, closes idle connections and gives the
    requests in flight timeout_graceful_shutdown seconds. A second SIGTERM ends the drain
    early; SIGINT (Ctrl-C) skips it.
    """

    def __init__(
        self, config: uvicorn.Config, *, limits: ClientLimits, drain: Drain, drain_seconds: float
    ) -> None:
        super().__init__(config)
        self.server_state: QuireServerState = QuireServerState(limits)
        self.drain = drain
        self.drain_seconds = drain_seconds
        self.drain_requested = False
        self.drain_deadline: float | None = None
        # Logged once the server listens: where to go next (the playground in development).
        self.announcement: str | None = None

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started and self.announcement:
            logger.info("%s", self.announcement)

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        draining = self.drain_requested or self.drain_deadline is not None
        if sig != signal.SIGTERM or draining or not self.started or self.drain_seconds <= 0:
            super().handle_exit(sig, frame)
            return
        # The signal handler only records it: connections are touched from the event loop.
        self._captured_signals.append(sig)
        self.drain_requested = True

    async def on_tick(self, counter: int) -> bool:
        if self.drain_requested and self.drain_deadline is None:
            self._start_draining()
        if self.drain_deadline is not None and time.monotonic() >= self.drain_deadline:
            self.should_exit = True
        return await super().on_tick(counter)

    def _start_draining(self) -> None:
        logger.info(
            "Draining for %g s: /readyz answers 503 and responses close their connections",
            self.drain_seconds,
        )
        self.drain_deadline = time.monotonic() + self.drain_seconds
        self.drain.started = True
        self.server_state.draining = True
        for connection in list(self.server_state.connections):
            if isinstance(connection, BoundedHttpProtocol):
                connection.start_draining()
