"""OpenTelemetry tracing (QUIRE_OTEL_ENABLED): spans for the HTTP request, the GraphQL
operation and resolvers, and SQL; resolver arguments never become attributes."""

from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from models.database import Database
from resolvers import tracing
from settings import Settings
from tests.conftest import client_of

EXPORTER = InMemorySpanExporter()


async def test_requests_graphql_and_sql_are_traced(
    settings: Settings, database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not database.is_sqlite:
        pytest.skip("the tracer provider is process-global: traced once, on SQLite")
    monkeypatch.setattr(tracing, "OTLPSpanExporter", lambda: EXPORTER)
    password = "correct horse battery staple"
    log_in = (
        'mutation ($p: String!) { logIn(input: {usernameOrEmail: "x", password: $p}) '
        "{ accessToken } }"
    )
    try:
        async with client_of(settings, otel_enabled=True) as client:
            await client.post("/graphql", json={"query": "{ posts(first: 2) { nodes { title } } }"})
            await client.post("/graphql", json={"query": log_in, "variables": {"p": password}})
        provider: Any = trace.get_tracer_provider()
        assert isinstance(provider, TracerProvider)
        provider.force_flush()
    finally:
        SQLAlchemyInstrumentor().uninstrument()

    spans = EXPORTER.get_finished_spans()
    names = {span.name for span in spans}
    assert "POST /graphql" in names  # the request (ASGI instrumentation)
    assert "GraphQL Query" in names  # the operation (Strawberry's extension)
    statements = [str((span.attributes or {}).get("db.statement")) for span in spans]
    assert any(statement.startswith("SELECT") for statement in statements)  # SQL
    attributes = " ".join(str(dict(span.attributes or {})) for span in spans)
    assert password not in attributes
