"""The root Query and the executable schema."""

import logging
import re
from datetime import datetime
from typing import Annotated, Any

import strawberry
from graphql import GraphQLError
from strawberry import relay
from strawberry.extensions import MaskErrors, MaxTokensLimiter, ParserCache
from strawberry.schema.config import StrawberryConfig
from strawberry.types import ExecutionContext
from strawberry.types.nodes import SelectedField

from models.database import connection_lost
from models.tables import users_table
from resolvers import authors, posts, tags
from resolvers.arguments import require_fits, require_search_query
from resolvers.cache_tags import AUTHORS, POSTS, node_tag, record
from resolvers.context import Info
from resolvers.errors import BadUserInputError, QuireError
from resolvers.pagination import Page
from resolvers.rate_limits import Budget, client_key
from schema.accounts import AccountMutation, AccountQuery, AdministrationMutation, User
from schema.caching import ReadScope
from schema.compiled_reads import CompiledReads
from schema.connections import Connection, connection_from_page
from schema.cost import MAX_NODES
from schema.discussion import DiscussionMutation
from schema.ids import row_id
from schema.inputs import DEFAULT_POST_ORDER, OrderDirection, PostFilter, PostOrder
from schema.limits import QueryLimits
from schema.moderation import ModerationMutation, ModerationQuery
from schema.permissions import RefuseBadCredentials
from schema.prefetch import node_fields
from schema.previews import PreviewMutation, preview_loaders
from schema.publishing import PublishingMutation
from schema.realtime import RefuseSubscriptionsOverHttp, Subscription
from schema.revisions import PostRevision
from schema.scalars import SCALAR_MAP
from schema.statement_report import StatementReport
from schema.telemetry import Observe
from schema.types import Author, Comment, Post, Tag, post_sort, prefetch_posts, request_page
from schema.webhooks import WebhookMutation, WebhookQuery

NODE_TYPES: dict[str, Any] = {
    cls.__name__: cls for cls in (Post, Author, Comment, Tag, User, PostRevision)
}
USERS = users_table.c
# A hard ceiling; QUIRE_MAX_BATCH_OPERATIONS sets the limit below it.
MAX_BATCH_OPERATIONS = 100


def _post_criteria(filter: PostFilter | None) -> posts.PostCriteria:
    filter = filter or PostFilter()
    if filter.author_username is not None:
        require_fits(filter.author_username, USERS.username, argument="authorUsername")
    if filter.tag_slug is not None:
        require_fits(filter.tag_slug, tags.TAGS.slug, argument="tagSlug")
    return posts.PostCriteria(
        status=filter.status,
        author_username=filter.author_username,
        tag_slug=filter.tag_slug,
        published_before=filter.published_before,
        published_after=filter.published_after,
    )


def _selected(info: Info) -> list[SelectedField]:
    return [field for field in info.selected_fields if isinstance(field, SelectedField)]


def _parse_global_id(value: str) -> tuple[Any, int]:
    try:
        global_id = relay.GlobalID.from_id(value)
        node_type = NODE_TYPES[global_id.type_name]
        return node_type, row_id(global_id.node_id)
    except (KeyError, ValueError) as error:
        raise BadUserInputError(f"{value!r} is not a Quire node ID.", argument="id") from error


async def _resolve_nodes(info: Info, ids: list[str]) -> list[relay.Node | None]:
    parsed = [_parse_global_id(value) for value in ids]
    # Found or not: a cached null must go when the node becomes visible.
    record(*(node_tag(node_type.__name__, node_id) for node_type, node_id in parsed))
    results: list[relay.Node | None] = []
    for node_type, node_id in parsed:
        found = await node_type.resolve_nodes(info=info, node_ids=[str(node_id)])
        results.append(found[0])
    return results


PreviewTokenArgument = Annotated[
    str | None,
    strawberry.argument(
        description="A preview token, where the X-Preview-Token header cannot be sent."
    ),
]


async def _post_by_id(info: Info, post_id: int, preview_token: str | None) -> Post | None:
    loaders = await preview_loaders(info, preview_token)
    row = await loaders.post_by_id.load(post_id)
    return None if row is None else Post.from_row(row, loaders)


@strawberry.type(description="One rate-limit budget in its current window.")
class RateBudget:
    limit: int
    remaining: int
    reset_at: datetime


@strawberry.type(
    description="What is left of your rate-limit budgets (also in the RateLimit response header)."
)
class RateLimitStatus:
    operations: RateBudget = strawberry.field(description="Operations per window.")
    cost: RateBudget = strawberry.field(description="Summed query cost per window.")


def _budget(budget: Budget) -> RateBudget:
    return RateBudget(limit=budget.limit, remaining=budget.remaining, reset_at=budget.reset_time)


@strawberry.type(description="The limits every query is checked against (see extensions.cost).")
class ApiLimits:
    max_depth: int
    max_aliases: int
    max_directives: int
    max_repeated_fields: int
    max_tokens: int
    max_operations: int = strawberry.field(description="Operations one document may define.")
    max_fragments: int = strawberry.field(description="Fragments one document may define.")
    max_variable_depth: int = strawberry.field(
        description="Levels of nested objects and lists in the variables."
    )
    max_variable_values: int = strawberry.field(
        description="Values in the variables, object keys and list items included."
    )
    max_batch_operations: int
    max_cost: int = strawberry.field(
        description=(
            "A field costs 1; a list field adds, per item it may hold, 1 and its selection "
            "(a connection's nodes and edges: its page size)."
        )
    )
    default_page_size: int
    max_page_size: int
    max_nodes: int
    max_request_bytes: int

    @strawberry.field(description="Your budgets now; null when rate limits are off.")
    async def rate_limit(self, info: Info) -> RateLimitStatus | None:
        limiter = info.context.rate_limiter
        if limiter is None:
            return None
        spending = await limiter.spending(
            client_key(info.context.viewer, info.context.client_address)
        )
        if spending is None:
            return None
        return RateLimitStatus(operations=_budget(spending.operations), cost=_budget(spending.cost))


@strawberry.type
class Query(AccountQuery, ModerationQuery, WebhookQuery):
    @strawberry.field(description="The limits your queries are checked against.")
    def api_limits(self, info: Info) -> ApiLimits:
        settings = info.context.settings
        return ApiLimits(
            max_depth=settings.max_query_depth,
            max_aliases=settings.max_query_aliases,
            max_directives=settings.max_query_directives,
            max_repeated_fields=settings.max_repeated_fields,
            max_tokens=settings.max_query_tokens,
            max_operations=settings.max_query_operations,
            max_fragments=settings.max_query_fragments,
            max_variable_depth=settings.max_variable_depth,
            max_variable_values=settings.max_variable_values,
            max_batch_operations=settings.max_batch_operations,
            max_cost=settings.max_query_cost,
            default_page_size=settings.default_page_size,
            max_page_size=settings.max_page_size,
            max_nodes=MAX_NODES,
            max_request_bytes=settings.max_request_bytes,
        )

    @strawberry.field(description="Fetches any object by its global ID (Relay).")
    async def node(
        self, info: Info, id: strawberry.ID, preview_token: PreviewTokenArgument = None
    ) -> relay.Node | None:
        if preview_token is not None:
            node_type, node_id = _parse_global_id(id)
            if node_type is Post:
                return await _post_by_id(info, node_id, preview_token)
        return (await _resolve_nodes(info, [id]))[0]

    @strawberry.field(description="Fetches objects by global IDs, in order; null where hidden.")
    async def nodes(self, info: Info, ids: list[strawberry.ID]) -> list[relay.Node | None]:
        if len(ids) > MAX_NODES:
            raise BadUserInputError(
                f"ids may hold at most {MAX_NODES} IDs.", argument="ids", limit=MAX_NODES
            )
        return await _resolve_nodes(info, list(ids))

    @strawberry.field(description="Published posts, newest first unless ordered otherwise.")
    async def posts(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
        filter: PostFilter | None = None,
        order_by: PostOrder | None = None,
    ) -> Connection[Post]:
        record(POSTS)
        order = order_by or DEFAULT_POST_ORDER
        sort = post_sort(info, order)
        request = request_page(info, sort=sort, first=first, after=after, last=last, before=before)
        criteria = _post_criteria(filter)
        database, viewer = info.context.database, info.context.viewer
        page = await posts.list_posts(
            database,
            viewer=viewer,
            criteria=criteria,
            order=(order.field, order.direction is OrderDirection.DESC),
            request=request,
        )
        connection = connection_from_page(
            page,
            to_node=lambda row: Post.from_row(row, info.context.loaders),
            counter=lambda: posts.count_posts(database, viewer=viewer, criteria=criteria),
        )
        await prefetch_posts(info, connection.nodes, node_fields(_selected(info)))
        return connection

    @strawberry.field(description="One post by global ID or by slug (pass exactly one).")
    async def post(
        self,
        info: Info,
        id: strawberry.ID | None = None,
        slug: str | None = None,
        preview_token: PreviewTokenArgument = None,
    ) -> Post | None:
        if (id is None) == (slug is None):
            raise BadUserInputError("Pass exactly one of id and slug.")
        if slug is not None:
            record(POSTS)
            loaders = await preview_loaders(info, preview_token)
            row = await posts.post_by_slug(info.context.database, viewer=loaders.viewer, slug=slug)
            return None if row is None else Post.from_row(row, loaders)
        assert id is not None
        node_type, node_id = _parse_global_id(id)
        if node_type is not Post:
            return None
        record(node_tag("Post", node_id))
        return await _post_by_id(info, node_id, preview_token)

    @strawberry.field(description="People who write posts, by username.")
    async def authors(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> Connection[Author]:
        record(AUTHORS)
        sort = authors.AUTHOR_SORT
        request = request_page(info, sort=sort, first=first, after=after, last=last, before=before)
        database, viewer = info.context.database, info.context.viewer
        page = await authors.list_authors(database, viewer=viewer, request=request)
        return connection_from_page(
            page,
            to_node=lambda row: Author.from_row(row, info.context.loaders),
            counter=lambda: authors.count_authors(database, viewer=viewer),
        )

    @strawberry.field
    async def author(self, info: Info, username: str) -> Author | None:
        record(AUTHORS)
        row = await authors.author_by_username(
            info.context.database, viewer=info.context.viewer, username=username
        )
        return None if row is None else Author.from_row(row, info.context.loaders)

    @strawberry.field(description="Tags carried by posts you can see, by name.")
    async def tags(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> Connection[Tag]:
        record(POSTS)  # tags carried by the posts you can see
        sort = tags.TAG_SORT
        request = request_page(info, sort=sort, first=first, after=after, last=last, before=before)
        database, viewer = info.context.database, info.context.viewer
        page = await tags.list_tags(database, viewer=viewer, request=request)
        return connection_from_page(
            page,
            to_node=lambda row: Tag.from_row(row, info.context.loaders),
            counter=lambda: tags.count_tags(database, viewer=viewer),
        )

    @strawberry.field(description="A tag by slug; null unless a post you can see carries it.")
    async def tag(self, info: Info, slug: str) -> Tag | None:
        record(POSTS)
        row = await tags.tag_by_slug(info.context.database, viewer=info.context.viewer, slug=slug)
        return None if row is None else Tag.from_row(row, info.context.loaders)

    @strawberry.field(description="Full-text search over post titles and bodies, best first.")
    async def search(
        self,
        info: Info,
        query: str,
        first: int | None = None,
        after: str | None = None,
    ) -> Connection[Post]:
        require_search_query(query, settings=info.context.settings)
        record(POSTS)
        database, viewer = info.context.database, info.context.viewer
        sort = posts.search_sort(database, viewer, query)[0]
        request = request_page(info, sort=sort, first=first, after=after, last=None, before=None)
        page: Page[Any] = await posts.search_posts(
            database, viewer=viewer, query=query, request=request
        )
        connection = connection_from_page(
            page,
            to_node=lambda row: Post.from_row(row, info.context.loaders),
            counter=lambda: posts.count_search(database, viewer=viewer, query=query),
        )
        await prefetch_posts(info, connection.nodes, node_fields(_selected(info)))
        return connection


def _is_expected(error: GraphQLError) -> bool:
    """Show clients our own refusals and GraphQL's syntax, validation and variable errors
    (graphql-core wraps a variable's coercion error, itself a GraphQLError); mask the rest."""
    original = error.original_error
    return original is None or isinstance(original, QuireError | GraphQLError)


@strawberry.type
class Mutation(
    AccountMutation,
    PublishingMutation,
    DiscussionMutation,
    AdministrationMutation,
    PreviewMutation,
    ModerationMutation,
    WebhookMutation,
):
    pass


LOGGER = logging.getLogger("quire.errors")
# graphql-core's hints ("Did you mean 'title'?"), which name fields and values to a prober.
SUGGESTION = re.compile(r" ?Did you mean [^?]*\?$")


class QuireSchema(strawberry.Schema):
    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        """Refusals clients can act on are not server faults: log only the unexpected ones,
        with their traceback and the request id the client was shown."""
        context = execution_context.context if execution_context else None
        request_id = getattr(context, "request_id", None)
        for error in errors:
            if _is_expected(error):
                continue
            LOGGER.error(
                "GraphQL error (request %s, path %s): %s",
                request_id,
                ".".join(str(part) for part in error.path or ()),
                error.message,
                exc_info=error.original_error,
            )


class MaskUnexpectedErrors(MaskErrors):
    """Clients see "Internal server error" and the request id, never exception text (SQL,
    driver or Python); expected refusals and GraphQL's own request errors pass through."""

    def __init__(self) -> None:
        super().__init__(
            should_mask_error=lambda error: not _is_expected(error),
            error_message="Internal server error",
        )

    def _process_errors(self, errors: list[GraphQLError]) -> list[GraphQLError]:
        processed = super()._process_errors(errors)
        for error in processed:
            if isinstance(error.original_error, GraphQLError) and not error.extensions:
                # A variable's value that does not fit its type (coercion, before execution).
                error.extensions = {"code": "BAD_USER_INPUT"}
        settings = getattr(self.execution_context.context, "settings", None)
        if settings is not None and settings.hide_suggestions:
            for error in processed:
                error.message = SUGGESTION.sub("", error.message)
        return processed

    def anonymise_error(self, error: GraphQLError) -> GraphQLError:
        masked = super().anonymise_error(error)
        request_id = getattr(self.execution_context.context, "request_id", None)
        masked.message, masked.extensions = masked_error(error.original_error, request_id)
        return masked


UNAVAILABLE = "The database cannot be reached right now; retry in a moment."


def masked_error(
    original: BaseException | None, request_id: str | None
) -> tuple[str, dict[str, Any]]:
    """What a client sees of an unexpected error: no exception text, the request id to quote,
    and whether retrying can help (SERVICE_UNAVAILABLE: the database connection was lost;
    INTERNAL_SERVER_ERROR: a fault that retrying will not fix)."""
    if original is not None and connection_lost(original):
        return UNAVAILABLE, {"code": "SERVICE_UNAVAILABLE", "requestId": request_id}
    return "Internal server error", {"code": "INTERNAL_SERVER_ERROR", "requestId": request_id}


def create_schema(
    *, max_tokens: int | None = None, batching: bool = False, tracing: bool = False
) -> strawberry.Schema:
    """`max_tokens` bounds the parser (Strawberry's MaxTokensLimiter): a huge document is
    refused before it is even parsed in full. With `batching`, array requests are accepted
    (the view bounds their length by settings)."""
    token_limit = [lambda: MaxTokensLimiter(max_token_count=max_tokens)] if max_tokens else []
    traces: list[Any] = []
    if tracing:
        from resolvers.tracing import graphql_tracing

        traces = [graphql_tracing]
    return QuireSchema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        types=[Post, Author, Comment, Tag, User, PostRevision],
        config=StrawberryConfig(
            scalar_map=SCALAR_MAP,
            batching_config={"max_operations": MAX_BATCH_OPERATIONS} if batching else None,
        ),
        extensions=[
            *traces,
            Observe,
            *token_limit,
            lambda: ParserCache(maxsize=1024),
            RefuseBadCredentials,
            RefuseSubscriptionsOverHttp,
            QueryLimits,
            ReadScope,
            StatementReport,
            MaskUnexpectedErrors,
            # Last: it answers covered queries once every check above has passed.
            CompiledReads,
        ],
    )
