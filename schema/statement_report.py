"""extensions.sql: how many SQL statements an operation sent and how long they took, so that
a frontend developer sees in GraphiQL what a query costs the database. A request asks for it
with the header `X-Quire-SQL-Report: 1` (the playground sends it); it is given to everyone in
development, and in production to nobody, or to admins when QUIRE_SQL_REPORT=admins. A
response that carries it holds this request's own timings, so no cache keeps it."""

from collections.abc import Iterator
from typing import Any

from strawberry.extensions import SchemaExtension

from models.tables import Role
from resolvers.observability import TALLY


def _shown(context: Any) -> bool:
    settings = getattr(context, "settings", None)
    if settings is None or not getattr(context, "sql_report_requested", False):
        return False
    audience = settings.sql_report_for
    if audience == "everyone":
        return True
    viewer = getattr(context, "viewer", None)
    return audience == "admins" and getattr(viewer, "role", None) is Role.ADMIN


class StatementReport(SchemaExtension):
    def __init__(self) -> None:
        self.statements_before = 0
        self.seconds_before = 0.0

    def on_operation(self) -> Iterator[None]:
        tally = TALLY.get()
        if tally is not None:
            self.statements_before = tally.statements
            self.seconds_before = tally.statement_seconds
        yield

    def get_results(self) -> dict[str, Any]:
        tally = TALLY.get()
        if tally is None or not _shown(self.execution_context.context):
            return {}
        seconds = tally.statement_seconds - self.seconds_before
        # This request's own timings: a cache must not hand them to the next caller.
        self.execution_context.context.private = True
        return {
            "sql": {
                "statements": tally.statements - self.statements_before,
                "durationMs": round(seconds * 1000, 3),
            }
        }
