"""OpenTelemetry tracing, off unless QUIRE_OTEL_ENABLED: a span per HTTP request (ASGI
instrumentation), per GraphQL operation and resolver (Strawberry's extension) and per SQL
statement (SQLAlchemy instrumentation), exported over OTLP/HTTP in batches. The exporter reads
the SDK's own variables (OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_EXPORTER_OTLP_HEADERS, ...)."""

from typing import Any

from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from sqlalchemy.ext.asyncio import AsyncEngine
from strawberry.extensions.tracing import OpenTelemetryExtension

from settings import Settings


def start_tracing(
    settings: Settings, engine: AsyncEngine, exporter: SpanExporter | None = None
) -> TracerProvider:
    provider = TracerProvider(
        resource=Resource.create({"service.name": settings.otel_service_name})
    )
    provider.add_span_processor(BatchSpanProcessor(exporter or OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    # The instrumentation declares support up to SQLAlchemy 2.0; its event hooks are the same
    # in 2.1 (checked by tests/test_tracing.py), so skip its version check.
    SQLAlchemyInstrumentor().instrument(
        engine=engine.sync_engine, tracer_provider=provider, skip_dep_check=True
    )
    return provider


def _no_arguments(_arguments: dict[str, Any], _info: Any) -> dict[str, Any]:
    """Resolver arguments never become span attributes: they carry passwords and emails."""
    return {}


def graphql_tracing() -> OpenTelemetryExtension:
    return OpenTelemetryExtension(arg_filter=_no_arguments)
