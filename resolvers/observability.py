"""What operators see: Prometheus metrics, structured logs with the request id on every line,
and the per-request tallies (SQL statements) that the access line reports.

Metrics are process-global (prometheus-client's default registry). With several workers,
`quire serve` points PROMETHEUS_MULTIPROC_DIR at a directory shared by them, and /metrics
aggregates every worker's numbers.
"""

import logging
import os
import re
import sys
import time
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.multiprocess import MultiProcessCollector
from pythonjsonlogger.json import JsonFormatter
from sqlalchemy.ext.asyncio import AsyncEngine

from settings import Settings

# --- per-request state -------------------------------------------------------------------


@dataclass(slots=True)
class RequestTally:
    request_id: str | None = None
    statements: int = 0
    # Time the statements took (extensions.sql), from sending each to its result.
    statement_seconds: float = 0.0
    user_id: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)


TALLY: ContextVar[RequestTally | None] = ContextVar("quire_request_tally", default=None)


def start_tally(request_id: str | None) -> RequestTally:
    tally = RequestTally(request_id=request_id)
    TALLY.set(tally)
    return tally


def current_request_id() -> str | None:
    tally = TALLY.get()
    return tally.request_id if tally is not None else None


# --- metrics --------------------------------------------------------------------------------

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

HTTP_REQUESTS = Counter(
    "quire_http_requests",
    "HTTP requests by route, method and status",
    ["route", "method", "status"],
)
HTTP_LATENCY = Histogram(
    "quire_http_request_duration_seconds",
    "HTTP request latency by route",
    ["route"],
    buckets=LATENCY_BUCKETS,
)
OPERATIONS = Counter(
    "quire_graphql_operations",
    "GraphQL operations by operation name, type and outcome",
    ["operation", "type", "outcome"],
)
OPERATION_LATENCY = Histogram(
    "quire_graphql_operation_duration_seconds",
    "GraphQL operation latency by operation name",
    ["operation"],
    buckets=LATENCY_BUCKETS,
)
OPERATION_STATEMENTS = Histogram(
    "quire_graphql_sql_statements",
    "SQL statements sent per GraphQL operation",
    ["operation"],
    buckets=(0, 1, 2, 3, 4, 5, 8, 12, 20, 50),
)
OPERATION_COST = Histogram(
    "quire_graphql_query_cost",
    "Static cost of GraphQL operations",
    ["operation"],
    buckets=(1, 10, 50, 100, 500, 1000, 2500, 5000, 10000),
)
LOADER_BATCH = Histogram(
    "quire_dataloader_batch_size",
    "Keys per dataloader batch",
    ["loader"],
    buckets=(1, 2, 5, 10, 20, 50, 100, 250, 1000),
)
RESPONSE_CACHE = Counter(
    "quire_response_cache",
    "Response cache lookups (hit, miss, bypass), stores (stored, not_stored: a write came "
    "while the read ran) and invalidations",
    ["result"],
)
CACHE_PURGES = Counter(
    "quire_cache_purges",
    "Calls of the CDN purge hook by outcome (sent, failed, dropped)",
    ["outcome"],
)
RATE_LIMITED = Counter(
    "quire_rate_limit_rejections", "Operations refused by a rate limit", ["budget"]
)
WEBSOCKETS = Gauge(
    "quire_websocket_connections",
    "Open WebSocket (subscription) connections",
    multiprocess_mode="livesum",
)
EVENTS_DELIVERED = Counter(
    "quire_subscription_events", "Events handed to subscribers (before visibility checks)"
)
SUBSCRIBERS_DROPPED = Counter(
    "quire_subscribers_dropped", "Subscribers disconnected for falling too far behind"
)
REDIS_CIRCUIT = Gauge(
    "quire_redis_circuit_state",
    "Redis circuit breaker: 0 closed (Redis used), 1 half-open (probing), 2 open (skipped)",
    multiprocess_mode="livemax",
)
POOL_CONNECTIONS = Gauge(
    "quire_db_pool_connections_in_use",
    "Database connections checked out of the pool",
    multiprocess_mode="livesum",
)


WEBHOOK_DELIVERIES = Counter(
    "quire_webhook_deliveries",
    "Webhook delivery attempts by outcome: delivered, retry (failed, tried again later), "
    "failed (failed for the last time)",
    ["outcome"],
)
WEBHOOK_LATENCY = Histogram(
    "quire_webhook_request_duration_seconds",
    "Time webhook endpoints took to answer (or to fail)",
    buckets=LATENCY_BUCKETS,
)

# Operation names come from clients: bounded, or a client could mint a time series per request.
_OPERATION_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
MAX_OPERATION_NAMES = 500
_known_operations: set[str] = set()


def operation_label(name: str | None) -> str:
    if not name:
        return "anonymous"
    if name in _known_operations:
        return name
    if not _OPERATION_NAME.fullmatch(name) or len(_known_operations) >= MAX_OPERATION_NAMES:
        return "other"
    _known_operations.add(name)
    return name


def render_metrics() -> tuple[bytes, str]:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(), CONTENT_TYPE_LATEST


def instrument_engine(engine: AsyncEngine) -> None:
    """Counts the statements of the current request and the connections in use."""
    sync_engine = engine.sync_engine

    def count_statement(
        _conn: Any, _cursor: Any, _statement: Any, _parameters: Any, context: Any, *_rest: Any
    ) -> None:
        tally = TALLY.get()
        if tally is not None:
            tally.statements += 1
            if context is not None:
                context.quire_started = time.perf_counter()

    def time_statement(
        _conn: Any, _cursor: Any, _statement: Any, _parameters: Any, context: Any, *_rest: Any
    ) -> None:
        tally = TALLY.get()
        started = getattr(context, "quire_started", None)
        if tally is not None and started is not None:
            tally.statement_seconds += time.perf_counter() - started

    sa.event.listen(sync_engine, "before_cursor_execute", count_statement)
    sa.event.listen(sync_engine, "after_cursor_execute", time_statement)
    sa.event.listen(sync_engine.pool, "checkout", lambda *_: POOL_CONNECTIONS.inc())
    sa.event.listen(sync_engine.pool, "checkin", lambda *_: POOL_CONNECTIONS.dec())


# --- logs -----------------------------------------------------------------------------------


class RequestIdFilter(logging.Filter):
    """Puts the current request's id on every record, and `request_tag` (" [id]", or nothing
    outside a request) for text lines."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = current_request_id()
        request_id = getattr(record, "request_id", None)
        record.request_tag = f" [{request_id}]" if request_id else ""
        return True


class QuireJsonFormatter(JsonFormatter):
    """JSON lines without what only suits a terminal: uvicorn's `color_message` (ANSI codes),
    the text-only `request_tag`, and a null `request_id` on lines outside a request."""

    def add_fields(
        self, log_data: dict[str, Any], record: logging.LogRecord, message_dict: dict[str, Any]
    ) -> None:
        super().add_fields(log_data, record, message_dict)
        log_data.pop("color_message", None)
        log_data.pop("request_tag", None)
        if log_data.get("request_id") is None:
            log_data.pop("request_id", None)


QUIET_LOGGERS = ("aiosqlite", "asyncpg", "sqlalchemy", "httpx", "httpcore", "asyncio", "redis")
TEXT_FORMAT = "%(asctime)s %(levelname)-7s %(name)s%(request_tag)s %(message)s"


def configure_logging(settings: Settings) -> None:
    """One handler on the root logger (stderr): JSON lines in production, readable text in
    development; uvicorn's loggers go through it too."""
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(RequestIdFilter())
    if settings.log_format_effective == "json":
        handler.setFormatter(
            QuireJsonFormatter(
                "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s",
                rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
                timestamp=False,
            )
        )
    else:
        handler.setFormatter(logging.Formatter(TEXT_FORMAT))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.log_level)
    # Drivers log statements with their parameters at DEBUG (emails, password hashes):
    # whatever QUIRE_LOG_LEVEL says, they only ever log warnings.
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers[:] = []
        logger.propagate = True
