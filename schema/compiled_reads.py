"""Compiled reads in the request path.

A query the planner covers (schema/read_plan.py) is answered by one SQL statement that builds
its `data` in the database (resolvers/read_statements.py); the database's JSON text goes into
the response body as it is (an orjson Fragment). Everything else, and every query when
QUIRE_COMPILED_READS is off, runs on the resolver path.

The planner runs as the last extension's `on_execute`: parsing, the limits and cost,
validation, credentials, rate limits, error masking, metrics, tracing and the response
envelope (`extensions.cost`) stay exactly as on the resolver path. A compiled read records
the cache tags its plan derives (resolvers/read_tags.py), so public reads compile too.
"""

import logging
from collections.abc import AsyncIterator
from typing import Any, cast

import orjson
from graphql import DocumentNode, GraphQLSchema
from graphql import ExecutionResult as GraphQLExecutionResult
from strawberry.extensions import SchemaExtension

from models.database import fetch_all
from resolvers.cache_tags import record
from resolvers.context import Context
from resolvers.read_statements import StatementCache
from resolvers.read_tags import read_tags
from schema.read_plan import plan_read

LOGGER = logging.getLogger("quire.compiled")
# Statements by (dialect, role, selection tree): a few hundred shapes cover a client's
# documents; the trees are bounded by the query limits.
STATEMENTS = StatementCache(max_entries=512)


async def execute_compiled(
    schema: GraphQLSchema,
    *,
    document: DocumentNode,
    operation_name: str | None,
    variables: dict[str, Any] | None,
    context: Context,
) -> orjson.Fragment | None:
    """The operation's `data` as JSON text from one statement; None when not covered."""
    plan = plan_read(
        schema,
        document,
        operation_name=operation_name,
        variables=variables,
        viewer=context.viewer,
        settings=context.settings,
    )
    if plan is None:
        return None
    database = context.database
    statement = STATEMENTS.statement(
        plan.selections, dialect_name=database.engine.dialect.name, viewer=context.viewer
    )
    if statement is None:
        return None
    parameters = dict(plan.parameters)
    if context.viewer.user_id is not None:
        parameters["viewer_id"] = context.viewer.user_id
    rows = await fetch_all(database, statement, parameters)
    record(*read_tags(plan.selections, plan.parameters))
    return orjson.Fragment(rows[0][0])


class CompiledReads(SchemaExtension):
    """Answers a covered query before graphql-core would execute it field by field."""

    async def on_execute(self) -> AsyncIterator[None]:
        execution = self.execution_context
        context = execution.context
        settings = getattr(context, "settings", None)
        if (
            isinstance(context, Context)
            and settings is not None
            and settings.compiled_reads
            and not execution.result
            and execution.graphql_document is not None
        ):
            data = await self._data(execution.graphql_document, context)
            if data is not None:
                execution.result = GraphQLExecutionResult(data=cast("dict[str, Any]", data))
        yield

    async def _data(self, document: DocumentNode, context: Context) -> orjson.Fragment | None:
        execution = self.execution_context
        try:
            return await execute_compiled(
                execution.schema._schema,
                document=document,
                operation_name=execution.operation_name,
                variables=execution.variables,
                context=context,
            )
        except Exception:
            # The resolver path answers instead, and reports a failure its own way.
            LOGGER.warning("compiled read failed; answering on the resolver path", exc_info=True)
            return None
