"""The composition root: `create_app(settings)` builds the process's services, the GraphQL
view and the Starlette application (routes, middleware, lifespan). `uvicorn app:app` serves
the default settings; tests build their own with `create_app(settings)`.

Where the rest lives: the view in schema/view.py, the status and media type of responses in
schema/responses.py, the one error model in schema/refusals.py, the middleware in
schema/middleware.py, the other endpoints in schema/endpoints.py, the server process in
schema/workers.py, schema/server.py and schema/protocol.py, the services in
resolvers/services.py, and the `quire` command in cli.py.
"""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.middleware.gzip import GZipMiddleware
from starlette.routing import Mount, Route, WebSocketRoute

from models.migrations import head_revision
from resolvers.services import Services, close_services, create_services
from schema.endpoints import healthz, metrics, readyz
from schema.middleware import GraphQLRequestGuard, HttpMetrics, RequestId, SecurityHeaders
from schema.playground import playground_assets, playground_routes
from schema.server import Drain
from schema.view import QuireGraphQL
from schema.workers import tune_garbage_collector
from settings import Settings

__all__ = ["SCHEMA_FILE", "close_services", "create_app"]

SCHEMA_FILE = Path(__file__).with_name("schema.graphql")


def create_app(settings: Settings | None = None) -> Starlette:
    settings = settings or Settings()
    services = create_services(settings)
    graphql = QuireGraphQL(settings=settings, services=services)

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        if settings.gc_freeze:
            tune_garbage_collector()
        await services.start()
        try:
            yield
        finally:
            await services.close()

    application = Starlette(
        routes=[
            Route("/graphql", graphql, methods=["GET", "POST"]),
            WebSocketRoute("/graphql", graphql),
            Route("/healthz", healthz, methods=["GET"]),
            Route("/readyz", readyz, methods=["GET"]),
            Route("/metrics", metrics, methods=["GET"]),
            Mount(
                "/playground",
                GZipMiddleware(
                    playground_assets(), minimum_size=settings.compression_minimum_bytes
                ),
                name="playground",
            ),
            *playground_routes(enabled=settings.graphiql_enabled),
        ],
        lifespan=lifespan,
        middleware=middleware(settings),
    )
    expose_services(application, services)
    return application


def middleware(settings: Settings) -> list[Middleware]:
    """Outermost first: tracing, metrics and request ids see every request, refusals included."""
    return [
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
            expose_headers=[
                "x-request-id",
                "retry-after",
                "etag",
                "ratelimit",
                "ratelimit-policy",
                "x-quire-cache",
            ],
            max_age=600,
        ),
        Middleware(GraphQLRequestGuard, path="/graphql", max_body_bytes=settings.max_request_bytes),
    ]


def expose_services(application: Starlette, services: Services) -> None:
    """The endpoints, the server process and the tests reach the services through app.state."""
    state = application.state
    state.services = services
    state.settings = services.settings
    state.database = services.database
    state.redis = services.redis
    state.rate_limiter = services.rate_limiter
    state.persisted = services.persisted
    state.events = services.events
    state.scheduler = services.scheduler
    state.login_throttle = services.throttle
    state.migration_head = head_revision()
    state.drain = Drain()  # started by `quire serve` on SIGTERM (schema/server.py)


def _tracing_middleware(settings: Settings) -> list[Middleware]:
    if not settings.otel_enabled:
        return []
    from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware

    return [Middleware(OpenTelemetryMiddleware)]


def __getattr__(name: str) -> Any:
    # `uvicorn app:app` looks the attribute up; building it lazily keeps imports side-effect free.
    if name == "app":
        return create_app()
    raise AttributeError(name)
