"""From a validated query (document, operation, variables, viewer) to a compiled read's plan.

The walk uses graphql-core's own field collection (aliases, fragments, inline fragments,
`@include`/`@skip`, merged fields), so the response keys come out in the order the resolver
path writes them. Each covered field's arguments are checked exactly as its resolver checks
them; any argument the resolver would refuse makes the plan None, and the resolver path then
answers with its own error. The plan is the selection tree (the statement cache's key) and
the values of its parameters.
"""

import dataclasses
from dataclasses import dataclass
from typing import Any

from graphql import (
    DocumentNode,
    FragmentDefinitionNode,
    GraphQLError,
    GraphQLObjectType,
    GraphQLSchema,
    OperationDefinitionNode,
    OperationType,
)
from graphql.execution.collect_fields import (
    FieldDetailsList,
    FragmentDetails,
    collect_fields,
    collect_subfields,
)
from graphql.execution.values import VariableValues, get_argument_values, get_variable_values
from graphql.utilities import get_operation_ast
from strawberry import relay

from models.tables import PostStatus, Role, posts_table, tags_table, users_table
from resolvers import revisions
from resolvers.arguments import require_fits, require_search_query
from resolvers.authors import AUTHOR_SORT
from resolvers.comments import COMMENT_SORT
from resolvers.cursors import SortValue
from resolvers.errors import QuireError
from resolvers.pagination import PageRequest, Sort, page_request
from resolvers.posts import PostCriteria, PostOrderField, post_sort, sqlite_match_expression
from resolvers.read_shapes import (
    CONNECTION_KINDS,
    POST_CONNECTION_KINDS,
    ROOT_FIELDS,
    TYPE_FIELDS,
    Kind,
    Lookup,
    NodeList,
    NodeLookup,
    NotCovered,
    PageArguments,
    SearchTerms,
    Selection,
)
from resolvers.tags import TAG_SORT
from resolvers.visibility import Viewer
from schema.cost import MAX_NODES
from schema.ids import row_id, user_id_of
from settings import Settings

CONNECTION_FIELDS = frozenset({"nodes", "edges", "pageInfo", "totalCount", "__typename"})
NODE_TYPE_NAMES = frozenset({"Post", "Author", "Comment", "Tag", "User", "PostRevision"})
# Search's order as page arguments see it (resolvers/posts.py::search_sort): its cursors'
# tag and value type; the rank itself is each database's (resolvers/read_sources.py).
SEARCH_SORT = Sort("rank", posts_table.c.id, posts_table.c.id, float, True)


@dataclass(frozen=True, slots=True)
class ReadPlan:
    selections: tuple[Selection, ...]
    parameters: dict[str, Any]


def plan_read(
    schema: GraphQLSchema,
    document: DocumentNode,
    *,
    operation_name: str | None,
    variables: dict[str, Any] | None,
    viewer: Viewer,
    settings: Settings,
) -> ReadPlan | None:
    """The plan of a covered query; None for anything the resolver path must answer."""
    operation = get_operation_ast(document, operation_name)
    if operation is None or operation.operation is not OperationType.QUERY:
        return None
    if viewer.preview_post_id is not None:
        return None  # a preview token's post is readable by lookup (resolvers/previews.py)
    coerced = get_variable_values(schema, operation.variable_definitions or (), variables or {})
    if isinstance(coerced, list):
        return None
    walk = _Walk(schema, document, operation, coerced, viewer=viewer, settings=settings)
    try:
        selections = walk.root()
    except (NotCovered, QuireError, GraphQLError, ValueError):
        return None
    return ReadPlan(selections, walk.parameters)


class _Walk:
    def __init__(
        self,
        schema: GraphQLSchema,
        document: DocumentNode,
        operation: OperationDefinitionNode,
        variables: VariableValues,
        *,
        viewer: Viewer,
        settings: Settings,
    ) -> None:
        self.schema, self.operation, self.variables = schema, operation, variables
        self.viewer, self.settings = viewer, settings
        self.fragments = {
            definition.name.value: FragmentDetails(definition)
            for definition in document.definitions
            if isinstance(definition, FragmentDefinitionNode)
        }
        self.parameters: dict[str, Any] = {}
        self.filtered = False

    def parameter(self, value: Any) -> str:
        name = f"p{len(self.parameters)}"
        self.parameters[name] = value
        return name

    def root(self) -> tuple[Selection, ...]:
        query = self.schema.query_type
        assert query is not None
        collected = collect_fields(
            self.schema, self.fragments, self.variables, query, self.operation
        )
        if collected.new_defer_usages:
            raise NotCovered("@defer")
        return tuple(
            self._root_field(key, details) for key, details in collected.grouped_field_set.items()
        )

    def _subfields(self, type_name: str, details: FieldDetailsList) -> dict[str, FieldDetailsList]:
        object_type = self.schema.get_type(type_name)
        assert isinstance(object_type, GraphQLObjectType)
        collected = collect_subfields(
            self.schema, self.fragments, self.variables, self.operation, object_type, details
        )
        if collected.new_defer_usages:
            raise NotCovered("@defer")
        return collected.grouped_field_set

    def _arguments(self, parent: str, details: FieldDetailsList) -> dict[str, Any]:
        parent_type = self.schema.get_type(parent)
        assert isinstance(parent_type, GraphQLObjectType)
        node = details[0].node
        definition = parent_type.fields[node.name.value]
        return get_argument_values(definition, node, self.variables)

    def _root_field(self, key: str, details: FieldDetailsList) -> Selection:
        name = details[0].node.name.value
        if name == "__typename":
            return Selection(key, name)
        if name not in ROOT_FIELDS:
            raise NotCovered(f"Query.{name}")
        arguments, node_type = self._arguments("Query", details), ROOT_FIELDS[name]
        if arguments.get("previewToken") is not None:
            raise NotCovered("a preview token")
        if name == "me":
            return Selection(key, name, None, self._object(node_type, details))
        if name == "user":
            return Selection(
                key, name, self._user_lookup(arguments), self._object(node_type, details)
            )
        if name == "search":
            return Selection(
                key, name, self._search_page(arguments), self._connection(node_type, details)
            )
        if name == "node":
            return Selection(key, name, self._node(arguments["id"], details, {}))
        if name == "nodes":
            return Selection(key, name, self._node_list(arguments["ids"], details))
        if name == "post":
            lookup = self._post_lookup(arguments)
        elif name == "author":
            lookup = self._lookup(arguments["username"], users_table.c.username, "username")
        elif name == "tag":
            lookup = self._lookup(arguments["slug"], tags_table.c.slug, "slug")
        else:
            return Selection(
                key, name, self._root_page(name, arguments), self._connection(node_type, details)
            )
        return Selection(key, name, lookup, self._object(node_type, details))

    def _node(
        self,
        value: str,
        details: FieldDetailsList,
        selected: dict[str, tuple[Selection, ...]],
    ) -> NodeLookup:
        """As the resolver's _parse_global_id; `selected` keeps each type's selection, walked
        once per type however many IDs have it."""
        global_id = relay.GlobalID.from_id(str(value))
        if global_id.type_name not in NODE_TYPE_NAMES:
            raise NotCovered("not a Quire node ID")
        if global_id.type_name not in TYPE_FIELDS:
            raise NotCovered(f"{global_id.type_name} nodes")
        number = row_id(global_id.node_id)
        type_name = global_id.type_name
        if type_name not in selected:
            selected[type_name] = self._object(type_name, details)
        return NodeLookup(type_name, self.parameter(number), selected[type_name])

    def _node_list(self, ids: list[str], details: FieldDetailsList) -> NodeList:
        if len(ids) > MAX_NODES:
            raise NotCovered("too many IDs")
        selected: dict[str, tuple[Selection, ...]] = {}
        return NodeList(tuple(self._node(value, details, selected) for value in ids))

    def _lookup(self, value: str, column: Any, argument: str) -> Lookup:
        require_fits(value, column, argument=argument)
        return Lookup(column.name, self.parameter(value))

    def _root_page(self, name: str, arguments: dict[str, Any]) -> PageArguments:
        if name == "posts":
            return self._root_posts_page(arguments)
        sort = AUTHOR_SORT if name == "authors" else TAG_SORT
        return self._page(self._page_request(sort, arguments))

    def _post_lookup(self, arguments: dict[str, Any]) -> Lookup | None:
        node_id, slug = arguments.get("id"), arguments.get("slug")
        if (node_id is None) == (slug is None):
            raise NotCovered("post needs exactly one of id and slug")
        if slug is not None:
            return self._lookup(slug, posts_table.c.slug, "slug")
        global_id = relay.GlobalID.from_id(str(node_id))
        if global_id.type_name not in NODE_TYPE_NAMES:
            raise NotCovered("not a Quire node ID")
        number = row_id(global_id.node_id)
        if global_id.type_name != "Post":
            return None
        return Lookup("id", self.parameter(number))

    def _user_lookup(self, arguments: dict[str, Any]) -> Lookup:
        """`user(id:)` as its resolver checks it: signed-in callers only (IsAuthenticated),
        their own account unless they are admins; the resolver answers every refusal."""
        viewer = self.viewer
        if viewer.user_id is None:
            raise NotCovered("user for an anonymous caller")
        target = user_id_of(arguments["id"], "id")
        if target != viewer.user_id and viewer.role is not Role.ADMIN:
            raise NotCovered("another's account for a non-admin")
        return Lookup("id", self.parameter(target))

    def _search_page(self, arguments: dict[str, Any]) -> PageArguments:
        """`search(query:, first:, after:)`: the query checked as the resolver checks it; both
        databases' forms of it are bound (the statement uses its own database's)."""
        query = arguments["query"]
        require_search_query(query, settings=self.settings)
        request = self._page_request(SEARCH_SORT, arguments)
        terms = SearchTerms(
            query=self.parameter(query), match=self.parameter(sqlite_match_expression(query))
        )
        return dataclasses.replace(self._page(request), search=terms)

    def _object(self, type_name: str, details: FieldDetailsList) -> tuple[Selection, ...]:
        fields = TYPE_FIELDS[type_name]
        selections = []
        for key, subfield in self._subfields(type_name, details).items():
            name = subfield[0].node.name.value
            if name == "__typename":
                selections.append(Selection(key, name))
                continue
            field = fields.get(name)
            if field is None:
                raise NotCovered(f"{type_name}.{name}")
            if field.kind in CONNECTION_KINDS:
                assert field.target is not None
                arguments = self._arguments(type_name, subfield)
                if field.kind in POST_CONNECTION_KINDS:
                    page = self._posts_page(arguments)
                elif field.kind is Kind.REVISIONS:
                    page = self._revision_page(arguments)
                else:
                    page = self._comment_page(arguments)
                selections.append(
                    Selection(key, name, page, self._connection(field.target, subfield))
                )
            elif field.target is not None:
                selections.append(Selection(key, name, None, self._object(field.target, subfield)))
            else:
                selections.append(Selection(key, name))
        return tuple(selections)

    def _connection(self, node_type: str, details: FieldDetailsList) -> tuple[Selection, ...]:
        selections = []
        for key, subfield in self._subfields(f"{node_type}Connection", details).items():
            name = subfield[0].node.name.value
            if name == "nodes":
                selections.append(Selection(key, name, None, self._object(node_type, subfield)))
            elif name == "edges":
                selections.append(Selection(key, name, None, self._edge(node_type, subfield)))
            elif name == "pageInfo":
                fields = self._subfields("PageInfo", subfield)
                info = tuple(Selection(k, each[0].node.name.value) for k, each in fields.items())
                selections.append(Selection(key, name, None, info))
            else:
                selections.append(Selection(key, name))
        return tuple(selections)

    def _edge(self, node_type: str, details: FieldDetailsList) -> tuple[Selection, ...]:
        selections = []
        for key, subfield in self._subfields(f"{node_type}Edge", details).items():
            name = subfield[0].node.name.value
            children = self._object(node_type, subfield) if name == "node" else ()
            selections.append(Selection(key, name, None, children))
        return tuple(selections)

    # Page arguments, checked as the resolvers check them

    def _root_posts_page(self, arguments: dict[str, Any]) -> PageArguments:
        page = self._posts_page(arguments)
        criteria = self._criteria(arguments.get("filter"))
        return dataclasses.replace(page, criteria=criteria.shape())

    def _posts_page(self, arguments: dict[str, Any]) -> PageArguments:
        order = arguments.get("orderBy")
        field = PostOrderField(_value(order["field"])) if order else PostOrderField.PUBLISHED_AT
        descending = _value(order["direction"]) == "DESC" if order else True
        sort = post_sort(self.viewer, field=field, descending=descending)
        request = self._page_request(sort, arguments)
        return self._page(request, order=(field.value, descending))

    def _criteria(self, filter: dict[str, Any] | None) -> PostCriteria:
        filter = filter or {}
        author, tag = filter.get("authorUsername"), filter.get("tagSlug")
        if author is not None:
            require_fits(author, users_table.c.username, argument="authorUsername")
        if tag is not None:
            require_fits(tag, tags_table.c.slug, argument="tagSlug")
        status = filter.get("status")
        criteria = PostCriteria(
            status=None if status is None else PostStatus(_value(status)),
            author_username=author,
            tag_slug=tag,
            published_before=filter.get("publishedBefore"),
            published_after=filter.get("publishedAfter"),
        )
        if any(criteria.shape()):
            # The criteria's parameters have fixed names: one filtered list per statement.
            if self.filtered:
                raise NotCovered("two filtered post lists")
            self.filtered = True
            self.parameters.update(criteria.parameters())
        return criteria

    def _revision_page(self, arguments: dict[str, Any]) -> PageArguments:
        """Post.revisions: first and after only (schema/revisions.py::revision_connection)."""
        forward = {"first": arguments.get("first"), "after": arguments.get("after")}
        return self._page(self._page_request(revisions.REVISION_SORT, forward))

    def _comment_page(self, arguments: dict[str, Any]) -> PageArguments:
        return self._page(self._page_request(COMMENT_SORT, arguments))

    def _page_request(self, sort: Any, arguments: dict[str, Any]) -> PageRequest:
        return page_request(
            sort=sort,
            first=arguments.get("first"),
            after=arguments.get("after"),
            last=arguments.get("last"),
            before=arguments.get("before"),
            default_size=self.settings.default_page_size,
            max_size=self.settings.max_page_size,
        )

    def _page(
        self,
        request: PageRequest,
        *,
        order: tuple[str, bool] | None = None,
        criteria: tuple[bool, ...] | None = None,
    ) -> PageArguments:
        return PageArguments(
            size=self.parameter(request.limit),
            rows=self.parameter(request.limit + 1),
            after=self._cursor(request.after),
            before=self._cursor(request.before),
            backwards=request.backwards,
            order=order,
            criteria=criteria,
        )

    def _cursor(self, key: tuple[SortValue, int] | None) -> tuple[str, str] | None:
        if key is None:
            return None
        value, row = key
        return self.parameter(value), self.parameter(row)


def _value(enum_or_text: Any) -> str:
    return str(getattr(enum_or_text, "value", enum_or_text))
