"""Query limits and static cost, checked before validation and before any resolver runs.

In order: the variables' nesting and size, the number of operations and fragments in the
document, then one walk (schema/cost.py) for depth, aliases, directives, repeated fields and
cost. A refusal carries `extensions { code, limit, actual }`; every response carries
`extensions.cost { requested, limit }`.
"""

from collections import OrderedDict
from collections.abc import AsyncIterator
from typing import Any

from anyio import to_thread
from graphql import (
    ASTValidationRule,
    DocumentNode,
    FragmentDefinitionNode,
    GraphQLError,
    GraphQLSchema,
    GraphQLSyntaxError,
    Lexer,
    NoSchemaIntrospectionCustomRule,
    OperationDefinitionNode,
    Source,
    StringValueNode,
    TokenKind,
    validate,
)
from graphql import ExecutionResult as GraphQLExecutionResult
from starlette.responses import Response
from strawberry.extensions import SchemaExtension
from strawberry.types.graphql import OperationType

from models.tables import Role
from resolvers.observability import RATE_LIMITED
from resolvers.rate_limits import RateLimitedError, RateLimiter, client_key
from resolvers.visibility import Viewer
from schema.cost import LimitExceeded, Limits, measure_document
from schema.telemetry import COST_ATTRIBUTE
from settings import Settings

ValidationKey = tuple[GraphQLSchema, DocumentNode, tuple[type[ASTValidationRule], ...], bool]


class ValidationCache:
    """Validation results by document (the parser cache hands out one DocumentNode per
    text): a hit is answered on the event loop, a miss is validated in a worker thread."""

    def __init__(self, max_entries: int) -> None:
        self.max_entries = max_entries
        self._errors: OrderedDict[ValidationKey, list[GraphQLError]] = OrderedDict()

    async def validate(self, key: ValidationKey) -> list[GraphQLError]:
        errors = self._errors.get(key)
        if errors is None:
            errors = await to_thread.run_sync(_validate, *key)
            self._errors[key] = errors
            if len(self._errors) > self.max_entries:
                self._errors.popitem(last=False)
        self._errors.move_to_end(key)
        return errors


def _validate(
    schema: GraphQLSchema,
    document: DocumentNode,
    rules: tuple[type[ASTValidationRule], ...],
    hide_suggestions: bool,
) -> list[GraphQLError]:
    return validate(schema, document, rules, hide_suggestions=hide_suggestions)


VALIDATION_CACHE = ValidationCache(max_entries=1024)


class QueryLimits(SchemaExtension):
    """Checks a parsed document against the limits before validating it (validation of a
    document with thousands of repeated fields is itself expensive), validates it with a
    cache, then spends its cost from the client's rate-limit budget before it runs.

    Replaces Strawberry's ValidationCache so that the limits run first, and so that
    suggestions ("Did you mean ...?") and introspection follow the settings."""

    def __init__(self) -> None:
        self.cost: int | None = None
        self.limits: Limits | None = None

    def _code_parse_errors(self) -> None:
        """Syntax errors carry GRAPHQL_PARSE_FAILED (as in Apollo Server), and the parser's
        token limit (MaxTokensLimiter, a syntax error too) TOO_MANY_TOKENS. The parser raises
        past every hook; the errors are final only when the results are gathered."""
        context = self.execution_context
        settings: Settings | None = getattr(context.context, "settings", None)
        for error in context.pre_execution_errors or ():
            if not isinstance(error, GraphQLSyntaxError) or error.extensions:
                continue
            error.extensions = {"code": "GRAPHQL_PARSE_FAILED"}
            if settings is not None and _over_token_limit(context.query, settings.max_query_tokens):
                error.message = (
                    f"The query has more than {settings.max_query_tokens} tokens; send a "
                    "smaller document (see apiLimits)."
                )
                error.extensions = {
                    "code": "TOO_MANY_TOKENS",
                    "limit": settings.max_query_tokens,
                    "actual": settings.max_query_tokens + 1,
                }

    async def on_validate(self) -> AsyncIterator[None]:
        context = self.execution_context
        settings: Settings | None = getattr(context.context, "settings", None)
        assert context.graphql_document is not None
        if settings is not None:
            refusal = self._refusal(settings)
        else:
            refusal = _variables_problem(context.variables, None)
        if refusal is not None:
            context.pre_execution_errors = [refusal]
            yield
            return
        context.pre_execution_errors = await self._validation_errors(settings)
        yield

    def _refusal(self, settings: Settings) -> GraphQLError | None:
        """The first limit the request crosses, checked cheapest first: each check bounds
        the work of the next one."""
        context = self.execution_context
        assert context.graphql_document is not None
        problem = _variables_problem(context.variables, settings)
        if problem is not None:
            return problem
        problem = _definitions_problem(context.graphql_document, settings)
        if problem is not None:
            return problem
        # Strawberry fills a missing operationName with the first operation's; only the name
        # the client sent tells whether it chose one.
        provided: str | None = getattr(context, "_provided_operation_name", None)
        problem = _operation_name_problem(context.graphql_document, provided)
        if problem is not None:
            return problem
        self.limits = Limits.from_settings(settings)
        try:
            cost = measure_document(
                context.schema._schema,
                context.graphql_document,
                operation_name=context.operation_name,
                variables=context.variables or {},
                limits=self.limits,
            )
        except LimitExceeded as exceeded:
            return _limit_error(exceeded)
        self.cost = cost
        setattr(context, COST_ATTRIBUTE, cost)
        return self._batch_refusal(cost, self.limits)

    def _batch_refusal(self, cost: int, limits: Limits) -> GraphQLError | None:
        quire = self.execution_context.context
        if not isinstance(quire.response, Response):
            return None
        # The operations of one batched HTTP request share this context (a WebSocket
        # connection's operations do too, but they are not a batch).
        quire.batch_cost += cost
        if quire.batch_cost <= limits.max_cost:
            return None
        return _limit_error(
            LimitExceeded(
                "QUERY_TOO_COSTLY",
                "The operations of this batch together may return too much",
                actual=quire.batch_cost,
                limit=limits.max_cost,
            )
        )

    async def _validation_errors(self, settings: Settings | None) -> list[GraphQLError]:
        context = self.execution_context
        assert context.graphql_document is not None
        rules = (*context.validation_rules, NoNulCharacters)
        if settings is not None and not introspection_allowed(settings, context.context.viewer):
            rules = (*rules, NoIntrospection)
        # Off the event loop: graphql-core's OverlappingFieldsCanBeMerged compares repeated
        # fields pairwise, and a document within every limit can keep it busy for 70 ms.
        errors = await VALIDATION_CACHE.validate(
            (
                context.schema._schema,
                context.graphql_document,
                rules,
                settings is not None and settings.hide_suggestions,
            )
        )
        for error in errors:
            if not (error.extensions or {}).get("code"):
                error.extensions = {"code": "GRAPHQL_VALIDATION_FAILED"}
        return errors

    async def on_execute(self) -> AsyncIterator[None]:
        context = self.execution_context
        quire = context.context
        limiter: RateLimiter | None = getattr(quire, "rate_limiter", None)
        if limiter is not None and self.cost is not None and not context.result:
            client = client_key(quire.viewer, quire.client_address)
            try:
                # The operation itself was spent before parsing: by the view over HTTP, by
                # the WebSocket protocol handler (schema/websocket_protocols.py) on a socket.
                quire.spending = await limiter.spend_cost(client, self.cost)
            except RateLimitedError as error:
                answer_rate_limited(quire.response, error)
                refusal = GraphQLError(error.message, original_error=error)
                if context.operation_type is OperationType.SUBSCRIPTION:
                    # A subscription ignores a preset result; Strawberry reports what its
                    # on_execute hooks raise as the stream's one result.
                    raise refusal from None
                context.result = GraphQLExecutionResult(data=None, errors=[refusal])
        yield

    def get_results(self) -> dict[str, Any]:
        self._code_parse_errors()
        if self.cost is None or self.limits is None:
            return {}
        return {"cost": {"requested": self.cost, "limit": self.limits.max_cost}}


class NoIntrospection(NoSchemaIntrospectionCustomRule):
    """graphql-core's rule, with the code clients can act on."""

    def report_error(self, error: GraphQLError) -> None:
        error.extensions = {"code": "INTROSPECTION_DISABLED"}
        super().report_error(error)


def _over_token_limit(query: str | None, limit: int) -> bool:
    """Whether a document that failed to parse holds more tokens than the parser allows: the
    parser reports its token limit as a plain syntax error, so the tokens are counted again
    (only after a syntax error, and never past the limit)."""
    lexer = Lexer(Source(query or ""))
    try:
        return all(lexer.advance().kind is not TokenKind.EOF for _ in range(limit + 1))
    except GraphQLSyntaxError:
        return False


def document_too_large(query: str | None, settings: Settings) -> GraphQLError | None:
    """The document's text is bounded before it is parsed: comments are not tokens, so the
    token limit alone lets a 1-cost query carry a huge one into the parser's and the
    validation's caches."""
    size = len(query.encode()) if query is not None else 0
    if size <= settings.max_query_bytes:
        return None
    return GraphQLError(
        f"The query holds {size} bytes, over the limit of {settings.max_query_bytes}; send a "
        "smaller document (comments and indentation count too).",
        extensions={
            "code": "DOCUMENT_TOO_LARGE",
            "limit": settings.max_query_bytes,
            "actual": size,
        },
    )


def answer_rate_limited(response: object, error: RateLimitedError) -> None:
    """Counts a refusal and, over HTTP, answers 429 with Retry-After (a WebSocket has no
    status to set: the error's extensions carry the same)."""
    RATE_LIMITED.labels(str(error.extensions["budget"])).inc()
    if isinstance(response, Response):
        response.status_code = 429
        response.headers["retry-after"] = str(error.extensions["retryAfter"])


NUL_MESSAGE = "Strings may not contain the NUL character (U+0000)."
NUL_REFUSAL = GraphQLError(NUL_MESSAGE, extensions={"code": "BAD_USER_INPUT"})


class NoNulCharacters(ASTValidationRule):
    """PostgreSQL text cannot hold U+0000: refuse it in string literals up front, on both
    databases alike, rather than fail in the driver."""

    def enter_string_value(self, node: StringValueNode, *_args: object) -> None:
        if "\x00" in node.value:
            self.report_error(
                GraphQLError(NUL_MESSAGE, node, extensions={"code": "BAD_USER_INPUT"})
            )


def _variables_problem(variables: object, settings: Settings | None) -> GraphQLError | None:
    """Nesting, size and NUL characters of the variables, in one loop without recursion: a
    value nested a few hundred levels deep overflows Python's stack in any recursive walk,
    graphql-core's coercion included. Without settings, only NUL is refused."""
    pending: list[tuple[object, int]] = [(variables, 0)]
    count = 0
    while pending:
        value, depth = pending.pop()
        count += 1
        if settings is not None:
            problem = _variables_size_problem(depth=depth, count=count, settings=settings)
            if problem is not None:
                return problem
        if isinstance(value, str) and "\x00" in value:
            return NUL_REFUSAL
        if isinstance(value, dict):
            pending.extend((key, depth) for key in value)
            pending.extend((item, depth + 1) for item in value.values())
        elif isinstance(value, list):
            pending.extend((item, depth + 1) for item in value)
    return None


def _variables_size_problem(*, depth: int, count: int, settings: Settings) -> GraphQLError | None:
    if depth > settings.max_variable_depth:
        return _bad_variables(
            f"Variables nest more than {settings.max_variable_depth} levels deep",
            limit=settings.max_variable_depth,
            actual=depth,
        )
    if count > settings.max_variable_values:
        return _bad_variables(
            f"Variables hold more than {settings.max_variable_values} values",
            limit=settings.max_variable_values,
            actual=count,
        )
    return None


def _bad_variables(message: str, *, limit: int, actual: int) -> GraphQLError:
    return GraphQLError(
        f"{message}; send flatter, smaller variables (see apiLimits).",
        extensions={"code": "BAD_USER_INPUT", "limit": limit, "actual": actual},
    )


def _operation_name_problem(
    document: DocumentNode, operation_name: str | None
) -> GraphQLError | None:
    """A document with several operations and no operationName is a request error (GraphQL
    spec, GetOperation): running the first one would hide the client's mistake."""
    operations = sum(isinstance(d, OperationDefinitionNode) for d in document.definitions)
    if operation_name is not None or operations <= 1:
        return None
    return GraphQLError(
        f"The document holds {operations} operations: send operationName to say which to run.",
        extensions={"code": "OPERATION_NAME_REQUIRED"},
    )


def _definitions_problem(document: DocumentNode, settings: Settings) -> GraphQLError | None:
    """Every operation and fragment is validated, executed or not: bound how many there are."""
    operations = sum(isinstance(d, OperationDefinitionNode) for d in document.definitions)
    fragments = sum(isinstance(d, FragmentDefinitionNode) for d in document.definitions)
    for exceeded in (
        LimitExceeded(
            "TOO_MANY_OPERATION_DEFINITIONS",
            "The document defines too many operations",
            actual=operations,
            limit=settings.max_query_operations,
        ),
        LimitExceeded(
            "TOO_MANY_FRAGMENT_DEFINITIONS",
            "The document defines too many fragments",
            actual=fragments,
            limit=settings.max_query_fragments,
        ),
    ):
        if exceeded.actual > exceeded.limit:
            return GraphQLError(
                f"{exceeded.message}: {exceeded.actual} over the limit of {exceeded.limit}; "
                "send only the operation you run and the fragments it uses.",
                extensions={
                    "code": exceeded.code,
                    "limit": exceeded.limit,
                    "actual": exceeded.actual,
                },
            )
    return None


def introspection_allowed(settings: Settings, viewer: Viewer) -> bool:
    allowed = settings.introspection_for
    return allowed == "everyone" or (allowed == "admins" and viewer.role is Role.ADMIN)


def _limit_error(exceeded: LimitExceeded) -> GraphQLError:
    return GraphQLError(
        f"{exceeded.message}: {exceeded.actual} over the limit of {exceeded.limit}; ask for "
        "smaller pages or fewer nested connections (see apiLimits).",
        extensions={"code": exceeded.code, "limit": exceeded.limit, "actual": exceeded.actual},
    )
