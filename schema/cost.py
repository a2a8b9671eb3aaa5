"""The walk of a document that measures it: cost, depth, aliases, directives and repeated
response keys, in time linear in the document's size.

Cost is an upper bound of the values a response may hold: a field costs 1, and a list field
costs 1 plus, per item it may return, 1 and its selection. A connection's `nodes` and `edges`
hold at most its page size (the larger of `first` and `last`, capped by the maximum page size,
or the default page size); `nodes(ids:)` holds as many items as ids; other lists hold at most
their bound in LIST_BOUNDS. Variables count with their operation's defaults.

What a fragment contributes is computed once per (fragment, parent type, page size) and reused
wherever it is spread: naive expansion doubles with every level of a chain in which each
fragment spreads the next one twice. The walk stops at the first limit crossed.
"""

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLField,
    GraphQLInterfaceType,
    GraphQLList,
    GraphQLNamedType,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    ListValueNode,
    NamedTypeNode,
    NullValueNode,
    OperationDefinitionNode,
    SchemaMetaFieldDef,
    SelectionNode,
    SelectionSetNode,
    TypeMetaFieldDef,
    TypeNameMetaFieldDef,
    ValueNode,
    VariableNode,
    get_named_type,
    get_nullable_type,
    value_from_ast_untyped,
)

from resolvers.comment_writes import MAX_MODERATED
from resolvers.post_writes import TAGS_PER_POST
from resolvers.revisions import CONTENT_FIELDS
from resolvers.webhook_outbox import WEBHOOK_EVENTS
from resolvers.webhooks import MAX_ENDPOINTS
from settings import Settings

# The most ids `Query.nodes` accepts (it refuses more; the cost counts its items).
MAX_NODES = 100
# A payload reports at most one problem per input field; the largest input has seven.
USER_ERRORS_PER_PAYLOAD = 10
# Every list field that is not a connection's page, with the most items it can hold.
LIST_BOUNDS: dict[str, int] = {
    "Post.tags": TAGS_PER_POST,
    "AuthPayload.errors": USER_ERRORS_PER_PAYLOAD,
    "CommentPayload.errors": USER_ERRORS_PER_PAYLOAD,
    "PostPayload.errors": USER_ERRORS_PER_PAYLOAD,
    "ProfilePayload.errors": USER_ERRORS_PER_PAYLOAD,
    "PreviewTokenPayload.errors": USER_ERRORS_PER_PAYLOAD,
    "CreateWebhookEndpointPayload.errors": USER_ERRORS_PER_PAYLOAD,
    "PostRevision.tags": TAGS_PER_POST,
    "PostRevision.changedFields": len(CONTENT_FIELDS),
    "ModerateCommentsPayload.comments": MAX_MODERATED,
    "Query.webhookEndpoints": MAX_ENDPOINTS,
    "WebhookEndpoint.events": len(WEBHOOK_EVENTS),
}
PAGE_FIELDS = frozenset({"nodes", "edges"})
# Fields every type has without declaring them.
META_FIELDS: dict[str, GraphQLField] = {
    "__schema": SchemaMetaFieldDef,
    "__type": TypeMetaFieldDef,
    "__typename": TypeNameMetaFieldDef,
}


@dataclass(frozen=True, slots=True)
class Limits:
    max_depth: int
    max_aliases: int
    max_directives: int
    max_repeated_fields: int
    max_cost: int
    default_page_size: int
    max_page_size: int

    @classmethod
    def from_settings(cls, settings: Settings) -> "Limits":
        return cls(
            max_depth=settings.max_query_depth,
            max_aliases=settings.max_query_aliases,
            max_directives=settings.max_query_directives,
            max_repeated_fields=settings.max_repeated_fields,
            max_cost=settings.max_query_cost,
            default_page_size=settings.default_page_size,
            max_page_size=settings.max_page_size,
        )


class LimitExceeded(Exception):
    """A counter passed its limit; `actual` is what had been counted when the walk stopped."""

    def __init__(self, code: str, message: str, *, actual: int, limit: int) -> None:
        super().__init__(message)
        self.code, self.message, self.actual, self.limit = code, message, actual, limit


@dataclass(slots=True)
class Summary:
    """What one selection set contributes, fragments spread in."""

    cost: int = 0
    depth: int = 0
    aliases: int = 0
    directives: int = 0
    # How often each response key appears in this selection set itself.
    keys: Counter[str] = field(default_factory=Counter)
    # Per response key, the most fields that merge at any path below one of its fields.
    below: dict[str, int] = field(default_factory=dict)

    def add(self, other: "Summary") -> None:
        self.cost += other.cost
        self.depth = max(self.depth, other.depth)
        self.aliases += other.aliases
        self.directives += other.directives
        self.keys.update(other.keys)
        for key, merged in other.below.items():
            if merged > self.below.get(key, 1):
                self.below[key] = merged

    def merged(self, key: str) -> int:
        """At most how many fields execution merges at a path that starts with `key`: the
        sub-selections of a repeated field merge, so repeats multiply down a path."""
        return self.keys[key] * self.below.get(key, 1)

    @property
    def most_merged(self) -> int:
        return max((self.merged(key) for key in self.keys), default=1)


EMPTY = Summary()


class _Walk:
    def __init__(
        self,
        schema: GraphQLSchema,
        fragments: Mapping[str, FragmentDefinitionNode],
        variables: Mapping[str, Any],
        limits: Limits,
    ) -> None:
        self.schema, self.fragments, self.variables = schema, fragments, variables
        self.limits = limits
        self.memo: dict[tuple[str, str | None, int], Summary] = {}
        self.in_progress: set[str] = set()

    def selection_set(
        self,
        selections: SelectionSetNode,
        parent: GraphQLNamedType | None,
        *,
        page: int,
        level: int,
    ) -> Summary:
        self._check("QUERY_TOO_DEEP", "The query nests too deeply", level, self.limits.max_depth)
        summary = Summary()
        for selection in selections.selections:
            summary.directives += len(selection.directives or ())
            part = self._selection(selection, parent, page=page, level=level)
            summary.add(part)
            self._check_summary(summary, added=part)
        return summary

    def _selection(
        self, selection: SelectionNode, parent: GraphQLNamedType | None, *, page: int, level: int
    ) -> Summary:
        if isinstance(selection, FieldNode):
            return self._field(selection, parent, page=page, level=level)
        if isinstance(selection, InlineFragmentNode):
            target = self._type(selection.type_condition, parent)
            return self.selection_set(selection.selection_set, target, page=page, level=level)
        assert isinstance(selection, FragmentSpreadNode)
        return self._spread(selection.name.value, parent, page=page, level=level)

    def _spread(
        self, name: str, parent: GraphQLNamedType | None, *, page: int, level: int
    ) -> Summary:
        fragment = self.fragments.get(name)
        if fragment is None or name in self.in_progress:
            return EMPTY  # validation reports unknown and cyclic fragments
        target = self._type(fragment.type_condition, parent)
        key = (name, None if target is None else target.name, page)
        if key not in self.memo:
            self.in_progress.add(name)
            self.memo[key] = self.selection_set(fragment.selection_set, target, page=page, level=1)
            self.in_progress.discard(name)
        memo = self.memo[key]
        # Measured from level 1: shift its depth to where it is spread.
        depth = level - 1 + memo.depth
        self._check("QUERY_TOO_DEEP", "The query nests too deeply", depth, self.limits.max_depth)
        return Summary(memo.cost, depth, memo.aliases, memo.directives, memo.keys, memo.below)

    def _field(
        self, node: FieldNode, parent: GraphQLNamedType | None, *, page: int, level: int
    ) -> Summary:
        response_key = (node.alias or node.name).value
        summary = Summary(
            cost=1, depth=level, aliases=node.alias is not None, keys=Counter([response_key])
        )
        if node.selection_set is None and not self._is_list(node, parent):
            return summary
        definition = self._definition(node, parent)
        named = None if definition is None else _named(definition)
        items = self._items(node, parent, definition, page=page)
        inner = EMPTY
        if node.selection_set is not None:
            # Only a connection's own selection depends on its page size.
            child_page = self._page_size(node) if _is_connection(named) else 0
            inner = self.selection_set(
                node.selection_set, named, page=child_page, level=_child_level(node, level)
            )
        summary.cost += inner.cost if items is None else items * (1 + inner.cost)
        summary.depth = max(level, inner.depth)
        summary.below[response_key] = inner.most_merged
        summary.aliases += inner.aliases
        summary.directives += inner.directives
        return summary

    def _items(
        self,
        node: FieldNode,
        parent: GraphQLNamedType | None,
        definition: GraphQLField | None,
        *,
        page: int,
    ) -> int | None:
        """How many items the field may return; None when it is not a list. Introspection's
        lists count once: they read the schema in memory, and production turns them off."""
        if definition is None or not isinstance(get_nullable_type(definition.type), GraphQLList):
            return None
        if parent is None or _is_introspection(parent):
            return None
        if _is_connection(parent) and node.name.value in PAGE_FIELDS:
            return page
        if parent is self.schema.query_type and node.name.value == "nodes":
            return self._id_count(node)
        return LIST_BOUNDS.get(f"{parent.name}.{node.name.value}", self.limits.max_page_size)

    def _is_list(self, node: FieldNode, parent: GraphQLNamedType | None) -> bool:
        definition = self._definition(node, parent)
        return definition is not None and isinstance(
            get_nullable_type(definition.type), GraphQLList
        )

    def _definition(self, node: FieldNode, parent: GraphQLNamedType | None) -> GraphQLField | None:
        meta = META_FIELDS.get(node.name.value)
        if meta is not None:
            return meta
        if not isinstance(parent, GraphQLObjectType | GraphQLInterfaceType):
            return None
        found: GraphQLField | None = parent.fields.get(node.name.value)
        return found

    def _page_size(self, node: FieldNode) -> int:
        sizes = [self._argument(node, name) for name in ("first", "last")]
        given = [size for size in sizes if size is not None]
        if not given:
            return self.limits.default_page_size
        return max(1, min(max(given), self.limits.max_page_size))

    def _argument(self, node: FieldNode, name: str) -> int | None:
        """An integer argument's value, None when absent or null; the maximum page size when
        it is something the walk cannot read (execution refuses it, or it is large)."""
        value = self._value(
            next((a.value for a in node.arguments or () if a.name.value == name), None)
        )
        if value is None:
            return None
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        return self.limits.max_page_size

    def _id_count(self, node: FieldNode) -> int:
        ids = next((a.value for a in node.arguments or () if a.name.value == "ids"), None)
        if isinstance(ids, ListValueNode):
            count = len(ids.values)
        else:
            value = self._value(ids)
            # A single id where a list is expected is coerced to a list of one.
            count = (
                len(value)
                if isinstance(value, list)
                else 1
                if isinstance(value, str)
                else MAX_NODES
            )
        return max(1, min(count, MAX_NODES))

    def _value(self, node: ValueNode | None) -> Any:
        if node is None or isinstance(node, NullValueNode):
            return None
        if isinstance(node, VariableNode):
            return self.variables.get(node.name.value, _UNKNOWN)
        if isinstance(node, IntValueNode):
            return int(node.value)
        return _UNKNOWN

    def _type(
        self, condition: NamedTypeNode | None, parent: GraphQLNamedType | None
    ) -> GraphQLNamedType | None:
        if condition is None:
            return parent
        found = self.schema.get_type(condition.name.value)
        return found if found is not None else parent

    def _check_summary(self, summary: Summary, *, added: Summary) -> None:
        limits = self.limits
        self._check(
            "TOO_MANY_ALIASES",
            "The query uses too many aliases",
            summary.aliases,
            limits.max_aliases,
        )
        self._check(
            "TOO_MANY_DIRECTIVES",
            "The query uses too many directives",
            summary.directives,
            limits.max_directives,
        )
        for key in added.keys:
            # graphql-core's validation compares merging fields pairwise.
            self._check(
                "TOO_MANY_REPEATED_FIELDS",
                "The query repeats one field too often in a selection",
                summary.merged(key),
                limits.max_repeated_fields,
            )
        self._check(
            "QUERY_TOO_COSTLY", "The query may return too much", summary.cost, limits.max_cost
        )

    def _check(self, code: str, message: str, actual: int, limit: int) -> None:
        if actual > limit:
            raise LimitExceeded(code, message, actual=actual, limit=limit)


class _Unknown:
    """A variable the operation neither declares nor was sent: counted at its largest."""


_UNKNOWN = _Unknown()


def _named(definition: GraphQLField) -> GraphQLNamedType:
    return get_named_type(definition.type)


def _child_level(node: FieldNode, level: int) -> int:
    # Introspection's type references nest by design: GraphiQL's query follows `ofType`
    # seven levels down.
    return level if node.name.value == "ofType" else level + 1


def _is_introspection(named: GraphQLNamedType | None) -> bool:
    return named is not None and named.name.startswith("__")


def _is_connection(named: GraphQLNamedType | None) -> bool:
    return named is not None and named.name.endswith("Connection")


def _fragments(document: DocumentNode) -> dict[str, FragmentDefinitionNode]:
    return {
        definition.name.value: definition
        for definition in document.definitions
        if isinstance(definition, FragmentDefinitionNode)
    }


def _operations(document: DocumentNode) -> list[OperationDefinitionNode]:
    return [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]


def _with_defaults(
    operation: OperationDefinitionNode, variables: Mapping[str, Any]
) -> dict[str, Any]:
    """The variables as execution will see them: a variable not sent takes its default."""
    values = {
        definition.variable.name.value: value_from_ast_untyped(definition.default_value)
        for definition in operation.variable_definitions or ()
        if definition.default_value is not None
    }
    values.update(variables)
    return values


def _selected(
    operations: list[OperationDefinitionNode], operation_name: str | None
) -> OperationDefinitionNode | None:
    for operation in operations:
        if operation_name is None or (
            operation.name is not None and operation.name.value == operation_name
        ):
            return operation
    return None


def measure_document(
    schema: GraphQLSchema,
    document: DocumentNode,
    *,
    operation_name: str | None,
    variables: Mapping[str, Any],
    limits: Limits,
) -> int:
    """The cost of the operation that will run. Every operation and fragment of the document is
    held to the limits, not only the one that runs: validation goes through all of them.
    Raises LimitExceeded at the first limit crossed."""
    fragments = _fragments(document)
    operations = _operations(document)
    selected = _selected(operations, operation_name)
    cost, reached = 0, set[str]()
    for operation in operations:
        walk = _Walk(schema, fragments, _with_defaults(operation, variables), limits)
        root = schema.get_root_type(operation.operation)
        summary = walk.selection_set(operation.selection_set, root, page=0, level=1)
        reached.update(name for name, _, _ in walk.memo)
        if operation is selected:
            cost = summary.cost
    _measure_unreached(schema, fragments, reached, variables, limits)
    return cost


def _measure_unreached(
    schema: GraphQLSchema,
    fragments: dict[str, FragmentDefinitionNode],
    reached: set[str],
    variables: Mapping[str, Any],
    limits: Limits,
) -> None:
    walk = _Walk(schema, fragments, variables, limits)
    for name, fragment in fragments.items():
        if name not in reached:
            condition = schema.get_type(fragment.type_condition.name.value)
            # Not spread anywhere, so no page size applies: count the largest.
            page = limits.max_page_size
            walk.selection_set(fragment.selection_set, condition, page=page, level=1)
