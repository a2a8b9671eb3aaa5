"""The ASGI middleware around every request: security headers, refusal of the content types
a cross-site form can send and of oversized bodies, request ids, and HTTP metrics."""

import time
import uuid

from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from resolvers.observability import HTTP_LATENCY, HTTP_REQUESTS, start_tally
from schema.refusals import Refusal

# GraphiQL needs inline styles; everything it runs comes from Quire itself (script-src 'self').
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; connect-src 'self'; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'self'; object-src 'none'"
)
SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
]
HSTS = (b"strict-transport-security", b"max-age=63072000; includeSubDomains")
GRAPHQL_CONTENT_TYPES = ("application/json", "application/graphql-response+json")


class SecurityHeaders:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        extra = [*SECURITY_HEADERS, HSTS] if scope.get("scheme") == "https" else SECURITY_HEADERS
        names = {name for name, _value in extra}

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                # Replaced, not appended: a header sent twice may be read as a list of two
                # policies, or make a strict client or proxy refuse the response.
                own = [header for header in message.get("headers", []) if header[0] not in names]
                message["headers"] = [*own, *extra]
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _header(scope: Scope, name: bytes) -> str:
    for key, value in scope.get("headers", []):
        if key == name:
            return str(value.decode("latin-1"))
    return ""


class GraphQLRequestGuard:
    """Refuses POSTs a cross-site form could send (any content type but JSON), and bodies
    over the size limit, before any GraphQL work."""

    def __init__(self, app: ASGIApp, *, path: str, max_body_bytes: int) -> None:
        self.app = app
        self.path = path
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != self.path or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        content_type = _header(scope, b"content-type").split(";")[0].strip().lower()
        if content_type not in GRAPHQL_CONTENT_TYPES:
            message = "Send GraphQL requests as application/json."
            await Refusal.coded(415, message, "UNSUPPORTED_MEDIA_TYPE").send(send)
            return
        declared = _header(scope, b"content-length")
        if declared.isdigit() and int(declared) > self.max_body_bytes:
            await self._too_large().send(send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, self._limited(receive), tracking_send)
        except RequestTooLarge:
            # A chunked body announced no length and outgrew the limit while being read.
            if not started:
                await self._too_large().send(send)
        except ClientDisconnect:
            # The client left, or the server cut it off for stalling its body (schema/protocol.py
            # already answered 408): there is no one to answer, and nothing went wrong here.
            return

    def _too_large(self) -> Refusal:
        message = f"The request body may hold at most {self.max_body_bytes} bytes."
        return Refusal.coded(413, message, "REQUEST_TOO_LARGE")

    def _limited(self, receive: Receive) -> Receive:
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes:
                    raise RequestTooLarge
            return message

        return limited_receive


class RequestTooLarge(Exception):
    pass


REQUEST_ID_HEADER = b"x-request-id"


def _valid_request_id(value: str) -> bool:
    return 0 < len(value) <= 128 and all(c.isalnum() or c in "._-" for c in value)


class RequestId:
    """Every request gets an id: the caller's `X-Request-ID` when it is sane, else a new one.
    It is echoed in the response, shown in masked errors and written to the logs."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        offered = _header(scope, REQUEST_ID_HEADER)
        request_id = offered if _valid_request_id(offered) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        start_tally(request_id)

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [
                    *message.get("headers", []),
                    (REQUEST_ID_HEADER, request_id.encode()),
                ]
            await send(message)

        await self.app(scope, receive, send_with_id)


ROUTES = ("/graphql", "/healthz", "/readyz", "/metrics")


def route_label(path: str) -> str:
    """A fixed set of labels: paths come from clients."""
    if path in ROUTES:
        return path
    return "/playground" if path.startswith("/playground/") else "other"


class HttpMetrics:
    """Counts HTTP requests by route, method and status, and times them."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_with_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        route = route_label(scope["path"])
        try:
            await self.app(scope, receive, send_with_status)
        finally:
            method = scope["method"] if scope["method"] in ("GET", "POST") else "other"
            HTTP_REQUESTS.labels(route, method, str(status)).inc()
            HTTP_LATENCY.labels(route).observe(time.perf_counter() - started)
