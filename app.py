"""The Starlette application (routes, middleware, lifespan, the GraphQL view) and the CLI.

`uvicorn app:app` serves the default settings; `create_app(settings)` builds one for tests.
"""

import argparse
import asyncio
import contextlib
import dataclasses
import gc
import getpass
import ipaddress
import logging
import os
import sys
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import orjson
from cross_web import AsyncHTTPRequestAdapter, HTTPException
from pydantic import ValidationError
from redis.asyncio import Redis
from sqlalchemy.exc import SQLAlchemyError
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState
from strawberry.asgi import ASGIWebSocketAdapter, GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.http import GraphQLRequestData
from strawberry.http.exceptions import WebSocketDisconnected
from strawberry.types import ExecutionResult
from strawberry.types.unset import UnsetType

from models.database import Database, create_database
from models.health import readiness, readiness_status
from models.migrations import head_revision
from models.passwords import Passwords, create_passwords
from resolvers import posts, redis_circuit
from resolvers.context import Context, build_context
from resolvers.events import LocalBus, PublishScheduler, RedisBus
from resolvers.observability import (
    RATE_LIMITED,
    instrument_engine,
    render_metrics,
)
from resolvers.persisted import PersistedQueries, PersistedQueryError, create_persisted_queries
from resolvers.rate_limits import RateLimitedError, RateLimiter, client_key, create_rate_limiter
from resolvers.redis_circuit import RedisBreaker
from resolvers.throttle import create_login_throttle
from resolvers.webhook_delivery import start_webhook_delivery, stop_webhook_delivery
from schema.http import GraphQLRequestGuard, HttpMetrics, RequestId, SecurityHeaders
from schema.limits import document_too_large
from schema.playground import playground_assets, playground_html
from schema.root import create_schema, masked_error
from schema.server import Drain
from schema.websocket_protocols import LegacyWSHandler, TransportWSHandler
from schema.websockets import SocketRefused, Sockets
from schema.workers import serve
from settings import Settings

SCHEMA_FILE = Path(__file__).with_name("schema.graphql")
DOCUMENTS_MANIFEST = Path(__file__).parent / "schema" / "trusted-documents.json"
RELEASED_SCHEMA = Path(__file__).parent / "schema" / "released.graphql"

ERRORS = logging.getLogger("quire.errors")
# How long a client should wait before retrying a request that lost its database connection.
RETRY_AFTER_SECONDS = "1"


class RequestRefused(Exception):
    """A whole HTTP request refused before any operation runs."""

    def __init__(
        self,
        status: int,
        message: str,
        extensions: dict[str, Any],
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.message, self.extensions = status, message, extensions
        self.headers = headers or {}

    def response(self) -> Response:
        body = {"errors": [{"message": self.message, "extensions": self.extensions}]}
        return JSONResponse(body, status_code=self.status, headers=self.headers)

    async def close(self, websocket: WebSocket) -> None:
        """Closes an accepted socket: 1013 (try again later) when retrying can help, 1011
        (internal error) otherwise; the reason names the request id when it fits."""
        code = 1013 if self.status == 503 else 1011
        reason = f"{self.message} (request {self.extensions.get('requestId')})"
        with contextlib.suppress(RuntimeError, OSError):
            # A close frame's reason holds at most 123 bytes; a client's request id may not fit.
            fits = len(reason.encode()) <= 123
            await websocket.close(code=code, reason=reason if fits else self.message)


def unexpected_refusal(error: Exception, request_id: str | None) -> RequestRefused:
    """An unexpected error outside Strawberry's masking: logged in full, answered like a
    masked error (503 with Retry-After when the database is out of reach)."""
    ERRORS.error("error before the operation ran (request %s)", request_id, exc_info=error)
    message, extensions = masked_error(error, request_id)
    if extensions["code"] == "SERVICE_UNAVAILABLE":
        return RequestRefused(503, message, extensions, {"retry-after": RETRY_AFTER_SECONDS})
    return RequestRefused(500, message, extensions)


class TextFrames(ASGIWebSocketAdapter):
    """GraphQL over WebSocket messages are JSON text frames; orjson gives bytes, which the
    base adapter would send as binary frames that browsers' clients cannot read."""

    async def send_json(self, message: Mapping[str, object]) -> None:
        if self.ws.application_state is WebSocketState.DISCONNECTED:
            raise WebSocketDisconnected  # Quire closed it already (see RequestRefused.close)
        try:
            await self.ws.send_text(orjson.dumps(message).decode())
        except WebSocketDisconnect as error:
            raise WebSocketDisconnected from error

    async def close(self, code: int, reason: str) -> None:
        # Quire may close a socket with its own code first (see RequestRefused.close).
        if self.ws.application_state is not WebSocketState.DISCONNECTED:
            await super().close(code, reason)


class QuireGraphQL(GraphQL[Context, None]):
    websocket_adapter_class = TextFrames
    graphql_transport_ws_handler_class = TransportWSHandler
    graphql_ws_handler_class = LegacyWSHandler

    def __init__(
        self,
        *,
        settings: Settings,
        database: Database,
        passwords: Passwords,
        rate_limiter: RateLimiter | None = None,
        persisted: PersistedQueries | None = None,
        events: LocalBus | None = None,
        redis: Redis | None = None,
    ) -> None:
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
        )
        self.events = events
        self.sockets = Sockets(settings, events)
        self.settings = settings
        self.database = database
        self.passwords = passwords
        self.throttle = create_login_throttle(settings, redis)
        self.rate_limiter = rate_limiter
        self.persisted = persisted or PersistedQueries("off")

    async def get_context(self, request: Request | WebSocket, response: Any) -> Context:
        request_id = getattr(request.state, "request_id", None)
        try:
            return await build_context(
                settings=self.settings,
                database=self.database,
                passwords=self.passwords,
                throttle=self.throttle,
                authorization=request.headers.get("authorization"),
                client_address=request.client.host if request.client else None,
                request_id=request_id,
                rate_limiter=self.rate_limiter,
                response=response,
                events=self.events,
                preview_token=request.headers.get("x-preview-token"),
            )
        except Exception as error:
            # Checking the bearer token runs before Strawberry, outside its error masking.
            raise unexpected_refusal(error, request_id) from None

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
            raise RequestRefused(
                400,
                f"A batched request may hold at most {limit} operations; this one has {count}.",
                {"code": "TOO_MANY_OPERATIONS", "limit": limit, "actual": count},
            )
        if self.rate_limiter is not None:
            client = client_key(context.viewer, context.client_address)
            try:
                await self.rate_limiter.spend_operation(
                    client, count, address=context.client_address
                )
            except RateLimitedError as error:
                RATE_LIMITED.labels(str(error.extensions["budget"])).inc()
                retry_after = str(error.extensions["retryAfter"])
                raise RequestRefused(
                    429, error.message, error.extensions, {"retry-after": retry_after}
                ) from None
        result = await super().execute_operation(
            request, request_adapter, request_data, context, root_value, sub_response
        )
        if _unavailable(result):
            sub_response.status_code = 503
            sub_response.headers["retry-after"] = RETRY_AFTER_SECONDS
        return result

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
        try:
            resolved = await self.persisted.resolve(request_data.query, request_data.extensions)
        except PersistedQueryError as error:
            return ExecutionResult(data=None, errors=[error])
        if resolved.query is not request_data.query:
            request_data = dataclasses.replace(request_data, query=resolved.query)
        too_large = document_too_large(resolved.query, self.settings)
        if too_large is not None:
            return ExecutionResult(data=None, errors=[too_large])
        result = await super().execute_single(
            request, request_adapter, sub_response, context, root_value, request_data
        )
        if resolved.register is not None and resolved.query is not None and _executed(result):
            await self.persisted.register(resolved.register, resolved.query)
        return result

    def encode_json(self, data: object) -> bytes:
        return orjson.dumps(data)

    def decode_json(self, data: str | bytes) -> object:
        # orjson rejects invalid UTF-8 and JSON nested past its depth limit with a
        # JSONDecodeError, which Strawberry turns into a 400; the json module would raise
        # UnicodeDecodeError or RecursionError there, that is, a 500.
        return orjson.loads(data)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            await self._websocket(scope, receive, send)
            return
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        limit = self.settings.request_timeout_seconds
        try:
            # Cancelling a write rolls its transaction back: a timeout never half-writes.
            async with asyncio.timeout(limit):
                request = Request(scope, receive)
                response = graphql_response_media(request, await self.run(request))
        except HTTPException as error:
            response = request_error_response(error)
        except RequestRefused as refusal:
            response = refusal.response()
        except TimeoutError:
            message = f"The request took longer than {limit:g} seconds and was stopped."
            body = {"errors": [{"message": message, "extensions": {"code": "REQUEST_TIMEOUT"}}]}
            response = JSONResponse(body, status_code=504)
        await response(scope, receive, send)

    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.sockets.serve(scope, receive, send, self._graphql_websocket)

    async def _graphql_websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        except RequestRefused as refusal:  # from get_context: a token that could not be checked
            await refusal.close(WebSocket(scope, receive, send))

    def should_render_graphql_ide(self, request: Any) -> bool:
        # A GET with only `extensions` is a persisted query, not a visit to the playground.
        return bool(super().should_render_graphql_ide(request)) and (
            request.query_params.get("extensions") is None
        )

    async def render_graphql_ide(self, request: Request) -> Response:
        return HTMLResponse(playground_html())


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


def _executed(result: ExecutionResult) -> bool:
    """The operation got past parsing and validation (it has data, or errors with a path)."""
    return result.data is not None or any(error.path for error in result.errors or ())


def _tune_garbage_collector() -> None:
    """Big responses allocate many short-lived objects; the default GC thresholds make
    collection dominate request CPU. Freeze what start-up allocated and collect less often."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 50, 100)


GRAPHQL_RESPONSE_JSON = "application/graphql-response+json"


def graphql_response_media(request: Request, response: Response) -> Response:
    """GraphQL over HTTP: a client that accepts application/graphql-response+json gets that
    media type, and a request that never executed (no `data`: a syntax or validation error)
    is 400 instead of 200. Clients asking for plain JSON keep the legacy 200."""
    accepted = request.headers.get("accept", "")
    if GRAPHQL_RESPONSE_JSON not in accepted or response.media_type == "text/html":
        return response
    if response.headers.get("content-type", "").startswith("application/json"):
        response.headers["content-type"] = GRAPHQL_RESPONSE_JSON
        if response.status_code == 200:
            result = orjson.loads(bytes(response.body))
            if isinstance(result, dict) and _is_request_error(result):
                # The operation never executed, so the response has no `data` entry at all
                # (GraphQL over HTTP); Strawberry writes `"data": null`.
                result.pop("data", None)
                response.body = orjson.dumps(result)
                response.headers["content-length"] = str(len(response.body))
                response.status_code = 400
    return response


def _is_request_error(result: dict[str, Any]) -> bool:
    """No data and no error with a path: the operation never executed (a syntax or validation
    error, or a refusal before execution)."""
    errors = result.get("errors") or []
    return result.get("data") is None and bool(errors) and not any("path" in e for e in errors)


def request_error_response(error: HTTPException) -> Response:
    """Refused requests get a GraphQL error body, not plain text; a mutation over GET is
    405 Method Not Allowed (GraphQL over HTTP)."""
    message = error.reason
    if "not allowed when using GET" in error.reason:
        status, code, headers = 405, "METHOD_NOT_ALLOWED", {"allow": "POST"}
        message = "Mutations are not allowed over GET; send them with POST."
    elif error.reason == "Batching is not enabled":
        status, code, headers = 400, "BATCHING_DISABLED", {}
        message = (
            "Batched requests are off on this server (QUIRE_MAX_BATCH_OPERATIONS=0); send one "
            "operation per request."
        )
    else:
        status, code, headers = error.status_code, "BAD_REQUEST", {}
    body = {"errors": [{"message": message, "extensions": {"code": code}}]}
    return JSONResponse(body, status_code=status, headers=headers)


async def healthz(_request: Request) -> Response:
    """The process is alive (the container's HEALTHCHECK)."""
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> Response:
    """Ready to serve: the database answers at the newest migration. 503 otherwise, so that a
    load balancer sends no traffic here. Redis down is "degraded" but still 200: every
    instance shares it and each keeps serving without it."""
    state = request.app.state
    if state.drain.started:
        # SIGTERM: still serving, but the load balancer should stop sending requests here.
        return JSONResponse({"status": "draining", "checks": {}}, status_code=503)
    checks = await readiness(state.database, state.redis, state.migration_head)
    status = readiness_status(checks)
    body = {
        "status": status,
        "checks": {check.name: {"ok": check.ok, "detail": check.detail} for check in checks},
    }
    return JSONResponse(body, status_code=503 if status == "not ready" else 200)


async def metrics(request: Request) -> Response:
    """Prometheus metrics, for the networks in QUIRE_METRICS_ALLOW only (404 for others)."""
    settings: Settings = request.app.state.settings
    client = request.client.host if request.client else None
    if not _address_in(client, settings.metrics_networks):
        return JSONResponse({"errors": [{"message": "Not Found"}]}, status_code=404)
    body, media_type = render_metrics()
    return Response(body, media_type=media_type)


def _address_in(address: str | None, networks: Sequence[Any]) -> bool:
    try:
        parsed = ipaddress.ip_address(address or "")
    except ValueError:
        return False
    return any(parsed in network for network in networks)


def create_app(settings: Settings | None = None) -> Starlette:
    settings = settings or Settings()
    database = create_database(settings)
    instrument_engine(database.engine)
    if settings.otel_enabled:
        from resolvers.tracing import start_tracing

        start_tracing(settings, database.engine)

    redis = create_redis(settings)
    rate_limiter = create_rate_limiter(settings, redis)
    persisted = create_persisted_queries(settings, redis)
    events = create_event_bus(settings, redis)
    scheduler = PublishScheduler(events, time.time)

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        if settings.gc_freeze:
            _tune_garbage_collector()
        await events.start()
        scheduler.start(await _scheduled_posts(database))
        webhooks = start_webhook_delivery(settings, database)
        try:
            yield
        finally:
            await stop_webhook_delivery(webhooks)
            await scheduler.close()
            await events.close()
            await close_services(database, rate_limiter, persisted)
            await graphql.throttle.close()
            if redis is not None:
                await redis.aclose()

    graphql = QuireGraphQL(
        settings=settings,
        database=database,
        passwords=create_passwords(settings),
        rate_limiter=rate_limiter,
        persisted=persisted,
        events=events,
        redis=redis,
    )
    application = Starlette(
        routes=[
            Route("/graphql", graphql, methods=["GET", "POST"]),
            WebSocketRoute("/graphql", graphql),
            Route("/healthz", healthz, methods=["GET"]),
            Route("/readyz", readyz, methods=["GET"]),
            Route("/metrics", metrics, methods=["GET"]),
            Mount("/playground", playground_assets(), name="playground"),
        ],
        lifespan=lifespan,
        middleware=[
            *_tracing_middleware(settings),
            Middleware(HttpMetrics),
            Middleware(RequestId),
            Middleware(SecurityHeaders),
            Middleware(
                CORSMiddleware,
                allow_origins=settings.allowed_origins,
                allow_credentials=True,
                allow_methods=["GET", "POST"],
                allow_headers=settings.allowed_request_headers,
                expose_headers=["x-request-id", "retry-after"],
                max_age=600,
            ),
            Middleware(
                GraphQLRequestGuard, path="/graphql", max_body_bytes=settings.max_request_bytes
            ),
        ],
    )
    application.state.settings = settings
    application.state.login_throttle = graphql.throttle
    application.state.database = database
    application.state.rate_limiter = rate_limiter
    application.state.persisted = persisted
    application.state.redis = redis
    application.state.events = events
    application.state.scheduler = scheduler
    application.state.migration_head = head_revision()
    application.state.drain = Drain()  # started by `quire serve` on SIGTERM (schema/server.py)
    return application


def create_event_bus(settings: Settings, redis: Redis | None) -> LocalBus:
    if redis is None:
        return LocalBus(settings.ws_queue_size)
    channel = f"{settings.redis_key_prefix}:events"
    return RedisBus(redis, channel=channel, queue_size=settings.ws_queue_size)


async def _scheduled_posts(database: Database) -> list[tuple[int, Any]]:
    """Scheduled posts at start; an unreachable database must not stop the start (readiness
    reports it), the schedule then fills from events."""
    try:
        return await posts.scheduled_posts(database)
    except (SQLAlchemyError, OSError) as error:
        logging.getLogger("quire.events").warning(
            "could not load scheduled posts (%s)", type(error).__name__
        )
        return []


def _tracing_middleware(settings: Settings) -> list[Middleware]:
    if not settings.otel_enabled:
        return []
    from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware

    return [Middleware(OpenTelemetryMiddleware)]


def create_redis(settings: Settings) -> Redis | None:
    """One client (a connection pool, behind one circuit breaker) per process for what Quire
    keeps in Redis."""
    if settings.redis_url is None:
        return None
    return redis_circuit.create_redis(settings, RedisBreaker.from_settings(settings))


async def close_services(
    database: Database, rate_limiter: RateLimiter | None, persisted: PersistedQueries
) -> None:
    await database.dispose()
    if rate_limiter is not None:
        await rate_limiter.close()
    await persisted.close()


def __getattr__(name: str) -> Any:
    # `uvicorn app:app` looks the attribute up; building it lazily keeps imports side-effect free.
    if name == "app":
        return create_app()
    raise AttributeError(name)


def _serve(settings: Settings, _arguments: argparse.Namespace) -> None:
    serve(settings, create_app)


def _migrate(settings: Settings, arguments: argparse.Namespace) -> None:
    from models.migrations import upgrade

    upgrade(settings.database_url, revision=arguments.revision)


def _seed(settings: Settings, arguments: argparse.Namespace) -> None:
    from models.seed import SeedSizes, seed_database

    sizes = SeedSizes(
        authors=arguments.authors,
        readers=arguments.readers,
        posts=arguments.posts,
        comments=arguments.comments,
        tags=arguments.tags,
    )
    created = asyncio.run(
        seed_database(
            settings.database_url,
            sizes=sizes,
            random_seed=arguments.random_seed,
            reset=arguments.reset,
            if_empty=arguments.if_empty,
        )
    )
    print("seeded demo data" if created else "database already has posts; left unchanged")


def _create_admin(settings: Settings, arguments: argparse.Namespace) -> None:
    from models.passwords import create_passwords
    from models.tables import Role
    from resolvers.accounts import SignUp
    from resolvers.administration import create_user_with_role

    password = os.environ.get("QUIRE_ADMIN_PASSWORD") or getpass.getpass("Admin password: ")
    sign_up = SignUp(
        username=arguments.username,
        email=arguments.email,
        password=password,
        display_name=arguments.display_name or arguments.username,
    )

    async def create() -> tuple[int | None, list[Any]]:
        database = create_database(settings)
        try:
            return await create_user_with_role(
                database, passwords=create_passwords(settings), sign_up=sign_up, role=Role.ADMIN
            )
        finally:
            await database.dispose()

    user_id, problems = asyncio.run(create())
    if problems:
        raise SystemExit("\n".join(f"{p.field or 'input'}: {p.message}" for p in problems))
    print(f"created admin {sign_up.username.strip().lower()} (id {user_id})")


def _export_schema(_settings: Settings, arguments: argparse.Namespace) -> None:
    from strawberry.printer import print_schema

    Path(arguments.output).write_text(print_schema(create_schema()) + "\n")


def _check(settings: Settings, _arguments: argparse.Namespace) -> None:
    """Settings (already read when this runs), database, migrations and Redis, as /readyz."""

    async def run() -> list[Any]:
        database = create_database(settings)
        redis = create_redis(settings)
        try:
            return await readiness(database, redis, head_revision())
        finally:
            await database.dispose()
            if redis is not None:
                await redis.aclose()

    checks = asyncio.run(run())
    print(f"settings: ok ({settings.env}, {settings.database_url.split(':', 1)[0]})")
    for check in checks:
        print(f"{check.name}: {'ok' if check.ok else 'FAILED'} ({check.detail})")
    if not all(check.ok for check in checks):
        raise SystemExit(1)


def _check_documents(_settings: Settings, arguments: argparse.Namespace) -> None:
    from schema.documents import check_manifest

    released = Path(arguments.released) if arguments.released else None
    report = check_manifest(create_schema()._schema, Path(arguments.manifest), released)
    for problem in report.invalid:
        print(f"invalid document {problem}")
    for change in report.breaking:
        print(f"breaking change for a shipped document: {change}")
    if not report.ok:
        raise SystemExit(1)
    print(f"{arguments.manifest}: every document is valid against the current schema")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="quire", description="Quire GraphQL content API")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("serve", help="serve the API (HOST, PORT, QUIRE_WORKERS)")
    migrate = commands.add_parser("migrate", help="apply database migrations")
    migrate.add_argument("--revision", default="head")
    seed = commands.add_parser("seed", help="fill the database with demo data")
    seed.add_argument("--authors", type=int, default=25)
    seed.add_argument("--readers", type=int, default=100)
    seed.add_argument("--posts", type=int, default=200)
    seed.add_argument("--comments", type=int, default=2000)
    seed.add_argument("--tags", type=int, default=30)
    seed.add_argument("--random-seed", type=int, default=2026)
    seed.add_argument("--reset", action="store_true", help="delete all content first")
    seed.add_argument("--if-empty", action="store_true", help="do nothing if posts exist")
    admin = commands.add_parser(
        "create-admin", help="create an admin (password from QUIRE_ADMIN_PASSWORD or a prompt)"
    )
    admin.add_argument("--username", required=True)
    admin.add_argument("--email", required=True)
    admin.add_argument("--display-name")
    export = commands.add_parser("export-schema", help="write the SDL to schema.graphql")
    export.add_argument("--output", default=str(SCHEMA_FILE))
    commands.add_parser(
        "check", help="check settings, database, migrations and Redis (exit 1 on a problem)"
    )
    documents = commands.add_parser(
        "check-documents",
        help="validate the trusted-documents manifest against the schema, and list breaking "
        "changes since the released schema that touch it",
    )
    documents.add_argument("--manifest", default=str(DOCUMENTS_MANIFEST))
    documents.add_argument("--released", default=str(RELEASED_SCHEMA))
    return parser


COMMANDS = {
    "serve": _serve,
    "migrate": _migrate,
    "seed": _seed,
    "create-admin": _create_admin,
    "export-schema": _export_schema,
    "check-documents": _check_documents,
    "check": _check,
}


def main(argv: Sequence[str] | None = None) -> None:
    arguments = _parser().parse_args(argv)
    try:
        settings = Settings()
    except ValidationError as error:
        raise SystemExit(f"Invalid settings:\n{error}") from None
    COMMANDS[arguments.command](settings, arguments)


if __name__ == "__main__":
    main(sys.argv[1:])
