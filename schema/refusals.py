"""The one error model for whole requests refused outside GraphQL execution: a status, a
message that says what to do, and extensions with a stable `code`. Every error body Quire
writes itself (the view, the HTTP middleware, the endpoints, the connection protocol and
WebSocket closes) comes from here, so they all have the GraphQL shape
`{"errors": [{"message", "extensions": {"code", ...}}]}`."""

import contextlib
from collections.abc import Mapping
from typing import Any

import orjson
from starlette.responses import Response
from starlette.types import Send
from starlette.websockets import WebSocket

JSON = "application/json"


class Refusal(Exception):
    def __init__(
        self,
        status: int,
        message: str,
        extensions: Mapping[str, Any],
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.extensions = dict(extensions)
        self.headers = dict(headers or {})

    @classmethod
    def coded(
        cls, status: int, message: str, code: str, headers: Mapping[str, str] | None = None
    ) -> "Refusal":
        return cls(status, message, {"code": code}, headers)

    @property
    def code(self) -> str:
        return str(self.extensions["code"])

    def body(self) -> bytes:
        return orjson.dumps({"errors": [{"message": self.message, "extensions": self.extensions}]})

    def response(self) -> Response:
        return Response(self.body(), status_code=self.status, media_type=JSON, headers=self.headers)

    def raw_headers(self, body: bytes) -> list[tuple[bytes, bytes]]:
        """The response head for an ASGI `http.response.start` message or a raw transport."""
        return [
            (b"content-type", JSON.encode()),
            (b"content-length", str(len(body)).encode()),
            *((name.encode(), value.encode()) for name, value in self.headers.items()),
        ]

    async def send(self, send: Send) -> None:
        """Answers from ASGI middleware, before the application has started a response."""
        body = self.body()
        start = {"type": "http.response.start", "status": self.status}
        await send({**start, "headers": self.raw_headers(body)})
        await send({"type": "http.response.body", "body": body})

    async def close(self, websocket: WebSocket) -> None:
        """Closes an accepted socket: 1013 (try again later) when retrying can help, 1011
        (internal error) otherwise; the reason names the request id when it fits."""
        code = 1013 if self.status == 503 else 1011
        reason = f"{self.message} (request {self.extensions.get('requestId')})"
        with contextlib.suppress(RuntimeError, OSError):
            # A close frame's reason holds at most 123 bytes; a client's request id may not fit.
            fits = len(reason.encode()) <= 123
            await websocket.close(code=code, reason=reason if fits else self.message)
