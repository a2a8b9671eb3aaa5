"""One access line and one set of metrics per GraphQL operation: name, type, duration, SQL
statements, cost, user and outcome. Never variables, tokens or error text (they may hold
passwords or emails): only error codes."""

import logging
import time
from collections.abc import Iterator
from typing import Any

from graphql import GraphQLError, OperationDefinitionNode
from strawberry.extensions import SchemaExtension

from resolvers.observability import (
    OPERATION_COST,
    OPERATION_LATENCY,
    OPERATION_STATEMENTS,
    OPERATIONS,
    TALLY,
    operation_label,
)

ACCESS = logging.getLogger("quire.access")
# QueryLimits leaves the operation's cost on the execution context under this name.
COST_ATTRIBUTE = "quire_cost"


def _operation_type(document: Any, operation_name: str | None) -> str:
    for definition in getattr(document, "definitions", ()):
        if isinstance(definition, OperationDefinitionNode) and (
            operation_name is None
            or (definition.name is not None and definition.name.value == operation_name)
        ):
            return str(definition.operation.value)
    return "unknown"


def _codes(errors: list[GraphQLError]) -> list[str]:
    return sorted({str((error.extensions or {}).get("code", "GRAPHQL_ERROR")) for error in errors})


class Observe(SchemaExtension):
    def __init__(self) -> None:
        self.started = 0.0
        self.statements_before = 0

    def on_operation(self) -> Iterator[None]:
        self.started = time.perf_counter()
        tally = TALLY.get()
        self.statements_before = tally.statements if tally is not None else 0
        yield

    def get_results(self) -> dict[str, Any]:
        context = self.execution_context
        duration = time.perf_counter() - self.started
        tally = TALLY.get()
        statements = (tally.statements if tally is not None else 0) - self.statements_before
        errors = list(context.pre_execution_errors or ())
        executed = context.graphql_document is not None and not any(
            error.path is None for error in errors
        )
        outcome = "ok" if not errors else ("error" if executed else "refused")
        name = operation_label(context.operation_name)
        kind = _operation_type(context.graphql_document, context.operation_name)
        cost: int | None = getattr(context, COST_ATTRIBUTE, None)
        OPERATIONS.labels(name, kind, outcome).inc()
        OPERATION_LATENCY.labels(name).observe(duration)
        OPERATION_STATEMENTS.labels(name).observe(statements)
        if cost is not None:
            OPERATION_COST.labels(name).observe(cost)
        viewer = getattr(context.context, "viewer", None)
        ACCESS.info(
            "%s %s %s in %.1f ms, %d SQL, cost %s",
            kind,
            name,
            outcome,
            duration * 1000,
            statements,
            cost,
            extra={
                "operation": name,
                "operation_type": kind,
                "outcome": outcome,
                "error_codes": _codes(errors),
                "duration_ms": round(duration * 1000, 2),
                "sql_statements": statements,
                "cost": cost,
                "user_id": getattr(viewer, "user_id", None),
            },
        )
        return {}
