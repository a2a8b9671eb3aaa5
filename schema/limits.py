"""Query limits and static cost, checked after validation and before any resolver runs.

Cost: every field costs 1; a connection's selection counts once per item it may return (its
`first`/`last`, or the default page size); nested connections multiply. Depth, aliases and
directives are counted in the same walk. A refusal carries `extensions { code, limit, actual }`;
every response carries `extensions.cost { requested, limit }`.
"""

from collections import Counter
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from graphql import (
    ASTValidationRule,
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLNamedType,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    NoSchemaIntrospectionCustomRule,
    OperationDefinitionNode,
    SelectionSetNode,
    StringValueNode,
    VariableNode,
    get_named_type,
    validate,
)
from graphql import ExecutionResult as GraphQLExecutionResult
from starlette.responses import Response
from strawberry.extensions import SchemaExtension
from strawberry.types.graphql import OperationType

from models.tables import Role
from resolvers.observability import RATE_LIMITED
from resolvers.rate_limits import RateLimitedError, RateLimiter, Spending, client_key
from resolvers.visibility import Viewer
from schema.telemetry import COST_ATTRIBUTE
from settings import Settings


@dataclass(frozen=True, slots=True)
class Limits:
    max_depth: int
    max_aliases: int
    max_directives: int
    max_repeated_fields: int
    max_cost: int
    default_page_size: int

    @classmethod
    def from_settings(cls, settings: Settings) -> "Limits":
        return cls(
            max_depth=settings.max_query_depth,
            max_aliases=settings.max_query_aliases,
            max_directives=settings.max_query_directives,
            max_repeated_fields=settings.max_repeated_fields,
            max_cost=settings.max_query_cost,
            default_page_size=settings.default_page_size,
        )


@dataclass(slots=True)
class Measure:
    cost: int = 0
    depth: int = 0
    aliases: int = 0
    directives: int = 0
    # The most times one response key appears in one selection set (fragments expanded).
    repeated_fields: int = 0


class _Walker:
    def __init__(
        self,
        schema: GraphQLSchema,
        fragments: dict[str, FragmentDefinitionNode],
        variables: dict[str, Any],
        default_page_size: int,
    ) -> None:
        self.schema, self.fragments, self.variables = schema, fragments, variables
        self.default_page_size = default_page_size
        self.measure = Measure()

    def cost(
        self, selections: SelectionSetNode | None, parent: GraphQLNamedType, depth: int
    ) -> int:
        if selections is None:
            return 0
        self.measure.depth = max(self.measure.depth, depth)
        total = 0
        keys: Counter[str] = Counter()
        for field, owner in self._fields(selections, parent, set()):
            key = (field.alias or field.name).value
            keys[key] += 1
            self.measure.repeated_fields = max(self.measure.repeated_fields, keys[key])
            self.measure.aliases += field.alias is not None
            self.measure.directives += len(field.directives or ())
            total += self._field_cost(field, owner, depth)
        return total

    def _field_cost(self, field: FieldNode, owner: GraphQLNamedType, depth: int) -> int:
        if field.name.value.startswith("__") or not isinstance(owner, GraphQLObjectType):
            return (
                1 + self.cost(field.selection_set, owner, depth + 1) if field.selection_set else 1
            )
        definition = owner.fields.get(field.name.value)
        if definition is None:
            return 1
        named = get_named_type(definition.type)
        inner = self.cost(field.selection_set, named, depth + 1)
        if named.name.endswith("Connection"):
            inner *= self._page_size(field)
        return 1 + inner

    def _page_size(self, field: FieldNode) -> int:
        for argument in field.arguments or ():
            if argument.name.value in ("first", "last"):
                value = self._value(argument.value)
                if isinstance(value, int):
                    return max(value, 1)
        return self.default_page_size

    def _value(self, node: Any) -> Any:
        if isinstance(node, VariableNode):
            return self.variables.get(node.name.value)
        if isinstance(node, IntValueNode):
            return int(node.value)
        return None

    def _fields(
        self, selections: SelectionSetNode, parent: GraphQLNamedType, seen: set[str]
    ) -> Iterator[tuple[FieldNode, GraphQLNamedType]]:
        for selection in selections.selections:
            self.measure.directives += (
                0 if isinstance(selection, FieldNode) else len(selection.directives or ())
            )
            if isinstance(selection, FieldNode):
                yield selection, parent
            elif isinstance(selection, InlineFragmentNode):
                target = self._type(selection.type_condition, parent)
                yield from self._fields(selection.selection_set, target, seen)
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                fragment = self.fragments.get(name)
                if fragment is None or name in seen:
                    continue
                target = self._type(fragment.type_condition, parent)
                yield from self._fields(fragment.selection_set, target, seen | {name})

    def _type(self, condition: Any, parent: GraphQLNamedType) -> GraphQLNamedType:
        if condition is None:
            return parent
        found = self.schema.get_type(condition.name.value)
        return found if found is not None else parent


def measure_operation(
    schema: GraphQLSchema,
    document: Any,
    operation_name: str | None,
    variables: dict[str, Any],
    default_page_size: int,
) -> Measure:
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    walker = _Walker(schema, fragments, variables, default_page_size)
    for definition in document.definitions:
        if not isinstance(definition, OperationDefinitionNode):
            continue
        if operation_name is not None and (
            definition.name is None or definition.name.value != operation_name
        ):
            continue
        root = schema.get_root_type(definition.operation)
        if root is not None:
            walker.measure.cost += walker.cost(definition.selection_set, root, 1)
        break
    return walker.measure


@lru_cache(maxsize=1024)
def _validate(
    schema: GraphQLSchema,
    document: DocumentNode,
    rules: tuple[type[ASTValidationRule], ...],
    hide_suggestions: bool,
) -> list[GraphQLError]:
    return validate(schema, document, rules, hide_suggestions=hide_suggestions)


class QueryLimits(SchemaExtension):
    """Checks a parsed document against the limits before validating it (validation of a
    document with thousands of repeated fields is itself expensive), validates it with a
    cache, then spends its cost from the client's rate-limit budget before it runs.

    Replaces Strawberry's ValidationCache so that the limits run first, and so that
    suggestions ("Did you mean ...?") and introspection follow the settings."""

    def __init__(self) -> None:
        self.measure: Measure | None = None
        self.limits: Limits | None = None
        self.spending: Spending | None = None

    def _code_token_limit(self) -> None:
        """The parser's token limit (MaxTokensLimiter) aborts with a bare syntax error, raised
        past every hook; the errors are final only when the results are gathered."""
        context = self.execution_context
        settings: Settings | None = getattr(context.context, "settings", None)
        for error in context.pre_execution_errors or ():
            if settings is not None and "Document contains more than" in error.message:
                error.message = (
                    f"The query has more than {settings.max_query_tokens} tokens; send a "
                    "smaller document (see apiLimits)."
                )
                error.extensions = {
                    "code": "TOO_MANY_TOKENS",
                    "limit": settings.max_query_tokens,
                    "actual": settings.max_query_tokens + 1,
                }

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        quire = context.context
        settings: Settings | None = getattr(quire, "settings", None)
        assert context.graphql_document is not None
        if settings is not None:
            self.limits = Limits.from_settings(settings)
            self.measure = measure_operation(
                context.schema._schema,
                context.graphql_document,
                context.operation_name,
                context.variables or {},
                self.limits.default_page_size,
            )
            setattr(context, COST_ATTRIBUTE, self.measure.cost)
            batch_cost = self.measure.cost
            if isinstance(quire.response, Response):
                # The operations of one batched HTTP request share this context (a WebSocket
                # connection's operations do too, but they are not a batch).
                quire.batch_cost += self.measure.cost
                batch_cost = quire.batch_cost
            refusal = _refusal(self.measure, self.limits, batch_cost=batch_cost)
            if refusal is not None:
                context.pre_execution_errors = [refusal]
                yield
                return
        if _holds_nul(context.variables):
            context.pre_execution_errors = [NUL_REFUSAL]
            yield
            return
        rules = (*context.validation_rules, NoNulCharacters)
        if settings is not None and not introspection_allowed(settings, quire.viewer):
            rules = (*rules, NoSchemaIntrospectionCustomRule)
        errors = _validate(
            context.schema._schema,
            context.graphql_document,
            rules,
            settings is not None and settings.hide_suggestions,
        )
        for error in errors:
            if not (error.extensions or {}).get("code"):
                introspection = error.message.startswith("GraphQL introspection has been disabled")
                code = "INTROSPECTION_DISABLED" if introspection else "GRAPHQL_VALIDATION_FAILED"
                error.extensions = {"code": code}
        context.pre_execution_errors = errors
        yield

    async def on_execute(self) -> AsyncIterator[None]:
        context = self.execution_context
        quire = context.context
        limiter: RateLimiter | None = getattr(quire, "rate_limiter", None)
        if limiter is not None and self.measure is not None and not context.result:
            client = client_key(quire.viewer, quire.client_address)
            try:
                if not isinstance(quire.response, Response):
                    # Over a WebSocket no HTTP request spent the operation: spend it here.
                    await limiter.spend_operation(client, address=quire.client_address)
                self.spending = await limiter.spend_cost(client, self.measure.cost)
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
        self._code_token_limit()
        if self.measure is None or self.limits is None:
            return {}
        results: dict[str, Any] = {
            "cost": {"requested": self.measure.cost, "limit": self.limits.max_cost}
        }
        if self.spending is not None:
            results["rateLimit"] = self.spending.as_extension()
        return results


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


def _holds_nul(value: object) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_holds_nul(key) or _holds_nul(item) for key, item in value.items())
    if isinstance(value, list):
        return any(_holds_nul(item) for item in value)
    return False


def introspection_allowed(settings: Settings, viewer: Viewer) -> bool:
    allowed = settings.introspection_for
    return allowed == "everyone" or (allowed == "admins" and viewer.role is Role.ADMIN)


def _refusal(measure: Measure, limits: Limits, *, batch_cost: int) -> GraphQLError | None:
    checks = [
        ("QUERY_TOO_DEEP", "The query nests too deeply", measure.depth, limits.max_depth),
        (
            "TOO_MANY_ALIASES",
            "The query uses too many aliases",
            measure.aliases,
            limits.max_aliases,
        ),
        (
            "TOO_MANY_DIRECTIVES",
            "The query uses too many directives",
            measure.directives,
            limits.max_directives,
        ),
        (
            "TOO_MANY_REPEATED_FIELDS",
            "The query repeats one field too often in a selection",
            measure.repeated_fields,
            limits.max_repeated_fields,
        ),
        ("QUERY_TOO_COSTLY", "The query may return too much", measure.cost, limits.max_cost),
        (
            "QUERY_TOO_COSTLY",
            "The operations of this batch together may return too much",
            batch_cost,
            limits.max_cost,
        ),
    ]
    for code, message, actual, limit in checks:
        if actual > limit:
            return GraphQLError(
                f"{message}: {actual} over the limit of {limit}; ask for smaller pages or fewer "
                "nested connections (see apiLimits).",
                extensions={"code": code, "limit": limit, "actual": actual},
            )
    return None
