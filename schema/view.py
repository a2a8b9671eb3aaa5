"""The GraphQL view: Strawberry's ASGI view with Quire's request handling around execution.

Over HTTP, in order: Quire's response cache (an anonymous read it holds is answered at once,
after spending one operation from the caller's budget; schema/caching.py); the request
timeout; the operation budget (every operation of a batch, before anything is parsed);
persisted queries (APQ and trusted documents) and the document's size; execution, recording
the cache tags of what it reads; then the status and media type (schema/responses.py) and the
caching headers, storing a public read. Over WebSockets: the socket limits
(schema/websockets.py) and the protocol handlers that re-authorize every operation
(schema/websocket_protocols.py)."""

import asyncio
import dataclasses
import logging
from collections.abc import AsyncIterator, Callable, Mapping
from datetime import timedelta
from typing import Any

import orjson
from cross_web import AsyncHTTPRequestAdapter, HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response, StreamingResponse
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState
from strawberry.asgi import ASGIWebSocketAdapter, GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.http import GraphQLHTTPResponse, GraphQLRequestData, GraphQLRequestProtocol
from strawberry.http.exceptions import WebSocketDisconnected
from strawberry.http.streaming import HTTPStreamTransport
from strawberry.schema.exceptions import InvalidOperationTypeError
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL, GRAPHQL_WS_PROTOCOL
from strawberry.types import ExecutionResult
from strawberry.types.execution import SubscriptionExecutionResult
from strawberry.types.graphql import OperationType
from strawberry.types.unset import UnsetType

from resolvers.cache_tags import recording
from resolvers.context import Context, build_context
from resolvers.observability import RATE_LIMITED
from resolvers.persisted import PersistedQueryError
from resolvers.rate_limits import RateLimitedError, client_key
from resolvers.services import Services
from resolvers.visibility import ANONYMOUS, Viewer
from schema.caching import PRIVATE, SQL_REPORT_HEADER, HttpCaching, schema_fingerprint
from schema.http_subscriptions import STREAM_PROTOCOLS, HttpStreams, first_accepted
from schema.limits import document_too_large
from schema.playground import playground_html
from schema.refusals import Refusal
from schema.responses import (
    Outcome,
    finish_response,
    rate_limit_headers,
    rate_limit_policy,
    record_outcome,
)
from schema.root import create_schema, masked_error
from schema.websocket_protocols import LegacyWSHandler, TransportWSHandler
from schema.websockets import SocketRefused, Sockets
from settings import Settings

ERRORS = logging.getLogger("quire.errors")
# How long a client should wait before retrying a request that lost its database connection.
RETRY_AFTER_SECONDS = "1"


def unexpected_refusal(error: Exception, request_id: str | None) -> Refusal:
    """An unexpected error outside Strawberry's masking: logged in full, answered like a
    masked error (503 with Retry-After when the database is out of reach)."""
    ERRORS.error("error before the operation ran (request %s)", request_id, exc_info=error)
    message, extensions = masked_error(error, request_id)
    if extensions["code"] == "SERVICE_UNAVAILABLE":
        return Refusal(503, message, extensions, {"retry-after": RETRY_AFTER_SECONDS})
    return Refusal(500, message, extensions)


class TextFrames(ASGIWebSocketAdapter):
    """GraphQL over WebSocket messages are JSON text frames; orjson gives bytes, which the
    base adapter would send as binary frames that browsers' clients cannot read."""

    async def send_json(self, message: Mapping[str, object]) -> None:
        if self.ws.application_state is WebSocketState.DISCONNECTED:
            raise WebSocketDisconnected  # Quire closed it already (see Refusal.close)
        try:
            await self.ws.send_text(orjson.dumps(message).decode())
        except WebSocketDisconnect as error:
            raise WebSocketDisconnected from error

    async def close(self, code: int, reason: str) -> None:
        # Quire may close a socket with its own code first (see Refusal.close).
        if self.ws.application_state is not WebSocketState.DISCONNECTED:
            await super().close(code, reason)


class QuireGraphQL(GraphQL[Context, None]):
    websocket_adapter_class = TextFrames
    graphql_transport_ws_handler_class = TransportWSHandler
    graphql_ws_handler_class = LegacyWSHandler

    def __init__(self, *, settings: Settings, services: Services) -> None:
        super().__init__(
            create_schema(
                max_tokens=settings.max_query_tokens,
                batching=settings.max_batch_operations > 0,
                tracing=settings.otel_enabled,
            ),
            graphql_ide="graphiql" if settings.graphiql_enabled else None,
            keep_alive=True,
            keep_alive_interval=settings.ws_keep_alive_seconds,
            connection_init_wait_timeout=timedelta(seconds=settings.ws_init_timeout_seconds),
            max_subscriptions_per_connection=settings.ws_max_subscriptions,
            allowed_origins=settings.allowed_origins,
            subscription_protocols=(
                GRAPHQL_TRANSPORT_WS_PROTOCOL,
                GRAPHQL_WS_PROTOCOL,
                *STREAM_PROTOCOLS,
            ),
        )
        self.settings = settings
        self.streams = HttpStreams(settings)
        self.services = services
        self.sockets = Sockets(settings, services.events)
        self.caching = HttpCaching(
            settings,
            cache=services.cache,
            scheduler=services.scheduler,
            fingerprint=schema_fingerprint(self.schema, settings),
        )
        self.rate_limit_policy = rate_limit_policy(settings)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            await self.sockets.serve(scope, receive, send, self._graphql_websocket)
        elif scope["type"] == "http":
            request = Request(scope, receive)
            await (await self.respond(request))(scope, receive, send)
        else:
            await super().__call__(scope, receive, send)

    async def respond(self, request: Request) -> Response:
        lookup, cached = await self.caching.lookup(request)
        if cached is not None:
            client_address = request.client.host if request.client else None
            try:
                await self._spend_operations(ANONYMOUS, client_address, 1)
            except Refusal as refusal:
                return refusal.response()
            response = self.caching.serve(request, cached, source="hit")
        else:
            with recording() as tags:
                response = await self._run(request)
            context = getattr(request.state, "context", None)
            if isinstance(response, StreamingResponse):
                # A subscription stream: per caller, never cached or compressed.
                response.headers["cache-control"] = PRIVATE
            else:
                response = await self.caching.finish(
                    request, response, context=context, lookup=lookup, tags=tags
                )
            spending = context.spending if isinstance(context, Context) else None
            if response.headers.get("cache-control") == PRIVATE and spending is not None:
                response.headers.update(rate_limit_headers(spending))
        if self.rate_limit_policy is not None:
            response.headers["ratelimit-policy"] = self.rate_limit_policy
        return response

    async def _run(self, request: Request) -> Response:
        limit = self.settings.request_timeout_seconds
        try:
            # Cancelling a write rolls its transaction back: a timeout never half-writes.
            async with asyncio.timeout(limit):
                return finish_response(request, await self.run(request))
        except HTTPException as error:
            return Refusal.coded(error.status_code, error.reason, "BAD_REQUEST").response()
        except Refusal as refusal:
            return refusal.response()
        except TimeoutError:
            message = f"The request took longer than {limit:g} seconds and was stopped."
            return Refusal.coded(504, message, "REQUEST_TIMEOUT").response()

    async def _graphql_websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        except Refusal as refusal:  # from get_context: a token that could not be checked
            await refusal.close(WebSocket(scope, receive, send))

    async def get_context(self, request: Request | WebSocket, response: Any) -> Context:
        request_id = getattr(request.state, "request_id", None)
        services = self.services
        try:
            context = await build_context(
                settings=self.settings,
                database=services.database,
                passwords=services.passwords,
                throttle=services.throttle,
                authorization=request.headers.get("authorization"),
                client_address=request.client.host if request.client else None,
                request_id=request_id,
                rate_limiter=services.rate_limiter,
                response=response,
                events=services.events,
                invalidator=services.invalidator,
                preview_token=request.headers.get("x-preview-token"),
            )
        except Exception as error:
            # Checking the bearer token runs before Strawberry, outside its error masking.
            raise unexpected_refusal(error, request_id) from None
        context.sql_report_requested = bool(request.headers.get(SQL_REPORT_HEADER))
        request.state.context = context  # the response's caching headers depend on it
        if isinstance(request, Request) and self._get_stream_transport_from_headers(
            request.headers
        ):
            # A subscription stream: every event is authorized again with these credentials
            # against the user's current state, as on a WebSocket (schema/realtime.py).
            context.http_stream = True
            context.authorization = request.headers.get("authorization")
        return context

    async def on_ws_connect(self, context: Context) -> UnsetType | dict[str, object] | None:
        try:
            return await self.sockets.connect(context)
        except (ConnectionRejectionError, SocketRefused):
            raise
        except Exception as error:
            # A token that could not be checked (the database failed): answered like a masked
            # error. The protocol's refusal (4403 Forbidden) would tell the client to give up.
            refusal = unexpected_refusal(error, context.request_id)
            if isinstance(context.response, WebSocket):
                await refusal.close(context.response)
            raise ConnectionRejectionError(refusal.extensions) from None

    def _validate_batch_request(
        self, request_data: list[GraphQLRequestData], protocol: GraphQLRequestProtocol
    ) -> None:
        if self.settings.max_batch_operations <= 0:
            raise Refusal.coded(
                400,
                "Batched requests are off on this server (QUIRE_MAX_BATCH_OPERATIONS=0); send "
                "one operation per request.",
                "BATCHING_DISABLED",
            )
        super()._validate_batch_request(request_data, protocol)

    async def execute_operation(
        self,
        request: Request,
        request_adapter: AsyncHTTPRequestAdapter,
        request_data: GraphQLRequestData | list[GraphQLRequestData],
        context: Context,
        root_value: None,
        sub_response: Response,
    ) -> Any:
        """Batches are bounded by settings, and every operation of a request, valid or not,
        spends from the client's operation budget before anything is parsed."""
        count = len(request_data) if isinstance(request_data, list) else 1
        limit = self.settings.max_batch_operations
        if count > 1 and count > limit:
            raise Refusal(
                400,
                f"A batched request may hold at most {limit} operations; this one has {count}.",
                {"code": "TOO_MANY_OPERATIONS", "limit": limit, "actual": count},
            )
        await self._spend_operations(context.viewer, context.client_address, count)
        release = self.streams.admit(context) if context.http_stream else None
        try:
            result = await super().execute_operation(
                request, request_adapter, request_data, context, root_value, sub_response
            )
        except BaseException:
            if release is not None:
                release()
            raise
        if release is not None:
            if isinstance(result, SubscriptionExecutionResult):
                request.state.release_stream = release  # when the stream ends
            else:
                release()
        if _unavailable(result):
            sub_response.status_code = 503
            sub_response.headers["retry-after"] = RETRY_AFTER_SECONDS
        return result

    async def _spend_operations(
        self, viewer: Viewer, client_address: str | None, count: int
    ) -> None:
        limiter = self.services.rate_limiter
        if limiter is None:
            return
        client = client_key(viewer, client_address)
        try:
            await limiter.spend_operation(client, count, address=client_address)
        except RateLimitedError as error:
            RATE_LIMITED.labels(str(error.extensions["budget"])).inc()
            retry_after = str(error.extensions["retryAfter"])
            raise Refusal(
                429, error.message, error.extensions, {"retry-after": retry_after}
            ) from None

    async def execute_single(
        self,
        request: Request,
        request_adapter: AsyncHTTPRequestAdapter,
        sub_response: Response,
        context: Context,
        root_value: None,
        request_data: GraphQLRequestData,
    ) -> ExecutionResult:
        """Resolves persisted queries (APQ or trusted documents) before executing, and
        registers an APQ document once it has run."""
        persisted = self.services.persisted
        try:
            resolved = await persisted.resolve(request_data.query, request_data.extensions)
        except PersistedQueryError as error:
            return ExecutionResult(data=None, errors=[error])
        if resolved.query is not request_data.query:
            request_data = dataclasses.replace(request_data, query=resolved.query)
        too_large = document_too_large(resolved.query, self.settings)
        if too_large is not None:
            return ExecutionResult(data=None, errors=[too_large])
        try:
            result = await super().execute_single(
                request, request_adapter, sub_response, context, root_value, request_data
            )
        except HTTPException as error:
            raise _method_refusal(error) from None
        if (
            resolved.register is not None
            and resolved.query is not None
            and Outcome.of(result).executed
        ):
            await persisted.register(resolved.register, resolved.query)
        return result

    def _get_stream_transport_from_headers(
        self, headers: Mapping[str, str]
    ) -> HTTPStreamTransport | None:
        """A stream only when the client prefers one: the first media type it accepts is a
        stream's (Apollo Client's subscriptions, graphql-sse). urql accepts streams after JSON
        on every request, and its queries must stay plain JSON responses (and cacheable)."""
        return super()._get_stream_transport_from_headers({"accept": first_accepted(headers)})

    async def create_streaming_response(
        self,
        request: Request | WebSocket,
        stream: Callable[[], AsyncIterator[str]],
        sub_response: Response,
        headers: Mapping[str, str],
    ) -> Response:
        release = getattr(request.state, "release_stream", None)
        if release is None:
            return await super().create_streaming_response(request, stream, sub_response, headers)
        guarded = lambda: self.streams.guarded(stream(), release)  # noqa: E731
        return await super().create_streaming_response(request, guarded, sub_response, headers)

    async def process_result(
        self, request: Request, result: ExecutionResult
    ) -> GraphQLHTTPResponse:
        body = await super().process_result(request, result)
        record_outcome(request, result, body)  # type: ignore[arg-type]
        return body

    def encode_json(self, data: object) -> bytes:
        return orjson.dumps(data)

    def decode_json(self, data: str | bytes) -> object:
        # orjson rejects invalid UTF-8 and JSON nested past its depth limit with a
        # JSONDecodeError, which Strawberry turns into a 400; the json module would raise
        # UnicodeDecodeError or RecursionError there, that is, a 500.
        return orjson.loads(data)

    def should_render_graphql_ide(self, request: Any) -> bool:
        # A GET with only `extensions` is a persisted query, not a visit to the playground.
        return bool(super().should_render_graphql_ide(request)) and (
            request.query_params.get("extensions") is None
        )

    async def render_graphql_ide(self, request: Request) -> Response:
        return HTMLResponse(playground_html())


def _method_refusal(error: HTTPException) -> Exception:
    """A mutation over GET is 405 Method Not Allowed (GraphQL over HTTP); Strawberry reports
    it as a 400 caused by InvalidOperationTypeError."""
    cause = error.__cause__
    if (
        isinstance(cause, InvalidOperationTypeError)
        and cause.operation_type is OperationType.MUTATION
    ):
        message = "Mutations are not allowed over GET; send them with POST."
        return Refusal.coded(405, message, "METHOD_NOT_ALLOWED", {"allow": "POST"})
    return error


def _unavailable(result: Any) -> bool:
    """The whole request failed only because the database was out of reach: every operation
    has no data and nothing but SERVICE_UNAVAILABLE errors."""
    results = result if isinstance(result, list) else [result]
    return all(
        isinstance(each, ExecutionResult)
        and each.data is None
        and bool(each.errors)
        and all(
            (error.extensions or {}).get("code") == "SERVICE_UNAVAILABLE"
            for error in each.errors or ()
        )
        for each in results
    )
