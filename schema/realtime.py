"""Subscriptions: new comments on a post, posts as they become visible, and the moderation
queue. Every event is checked again for the subscriber, with fresh loaders of its viewer, so a
subscriber only ever receives what it could query at that moment; nested fields of the event
resolve through those loaders, batched like any query."""

from collections.abc import AsyncGenerator, Iterator
from dataclasses import dataclass

import strawberry
from graphql import ExecutionResult, GraphQLError
from starlette.responses import Response
from starlette.websockets import WebSocket
from strawberry.extensions import SchemaExtension
from strawberry.types.graphql import OperationType

from models.tables import CommentStatus
from resolvers.authorization import may_moderate
from resolvers.context import Context, Info, current_viewer
from resolvers.errors import ForbiddenError, NotFoundError, QuireError
from resolvers.events import Event, LocalBus, SubscriberTooSlow
from resolvers.events import Subscription as SubscriptionQueue
from resolvers.loaders import Loaders
from schema.ids import node_id_of
from schema.permissions import CanModerate
from schema.types import Comment, Post


class SubscriptionOverHttpError(QuireError):
    code = "SUBSCRIPTION_OVER_HTTP"


OVER_HTTP = (
    "Subscriptions stream over a WebSocket (graphql-transport-ws on /graphql) or over HTTP "
    "when the request asks for a stream: send Accept: multipart/mixed;subscriptionSpec=1.0 "
    "or Accept: text/event-stream."
)


class RefuseSubscriptionsOverHttp(SchemaExtension):
    """Subscriptions stream over a WebSocket, or over HTTP when the request asks for a stream
    (schema/http_subscriptions.py). Any other HTTP request (POST, GET, persisted queries,
    batches) is refused before it runs, with 400 and SUBSCRIPTION_OVER_HTTP, instead of
    failing inside execution as an internal error."""

    def on_execute(self) -> Iterator[None]:
        execution = self.execution_context
        context = execution.context
        if (
            execution.operation_type is OperationType.SUBSCRIPTION
            and not isinstance(context.response, WebSocket)
            and not context.http_stream
        ):
            error = SubscriptionOverHttpError(OVER_HTTP)
            execution.result = ExecutionResult(
                data=None, errors=[GraphQLError(error.message, original_error=error)]
            )
            if isinstance(context.response, Response):
                context.response.status_code = 400
        yield


# Ids already delivered to one subscription (an editor sees a comment when it is added and
# again when it is approved): remembered up to this many.
REMEMBERED = 1000


@dataclass
class _Delivered:
    ids: dict[int, None]

    def first_time(self, item_id: int) -> bool:
        if item_id in self.ids:
            return False
        self.ids[item_id] = None
        if len(self.ids) > REMEMBERED:
            self.ids.pop(next(iter(self.ids)))
        return True


def _bus(context: Context) -> LocalBus:
    if context.events is None:
        raise NotFoundError("Subscriptions are not available on this server.")
    return context.events


def _fresh_loaders(context: Context) -> Loaders:
    return Loaders(database=context.database, viewer=context.viewer)


async def _current_loaders(context: Context) -> Loaders:
    """Fresh loaders for one event, for the subscriber as it is now: a user deactivated,
    demoted or signed out since subscribing gets nothing more. The error ends the stream;
    the socket is then closed (schema/websockets.py reads credentials_error)."""
    try:
        viewer = await current_viewer(context)
    except QuireError as error:
        context.credentials_error = error
        raise
    return Loaders(database=context.database, viewer=viewer)


async def _events(subscription: SubscriptionQueue, context: Context) -> AsyncGenerator[Event, None]:
    try:
        async for event in subscription:
            yield event
    except SubscriberTooSlow as error:
        # Disconnect, with the reason, rather than silently skip what it missed.
        if isinstance(context.response, WebSocket):
            await context.response.close(code=1008, reason=str(error)[:120])
        raise


@strawberry.type
class Subscription:
    @strawberry.subscription(
        description="Comments on a post as they appear: approved ones for everyone, pending "
        "ones too for editors and their authors."
    )
    async def comment_added(
        self, info: Info, post_id: strawberry.ID
    ) -> AsyncGenerator[Comment, None]:
        context = info.context
        post = node_id_of(post_id, "Post", "postId")
        # Listen first, then check: nothing published in between is missed.
        with _bus(context).subscribe(["comment_added", "comment_approved"]) as subscription:
            if await _fresh_loaders(context).post_by_id.load(post) is None:
                raise NotFoundError("No post with this ID.")
            delivered = _Delivered({})
            async for event in _events(subscription, context):
                if event.post_id != post:
                    continue
                loaders = await _current_loaders(context)
                row = await loaders.comment_by_id.load(event.id)
                visible_post = await loaders.post_by_id.load(post)
                if row is not None and visible_post is not None and delivered.first_time(row.id):
                    yield Comment.from_row(row, loaders)

    @strawberry.subscription(
        description="Posts as they become visible (scheduled ones when their time comes), "
        "optionally only those with a tag or by an author."
    )
    async def post_published(
        self, info: Info, tag: str | None = None, author: str | None = None
    ) -> AsyncGenerator[Post, None]:
        context = info.context
        delivered = _Delivered({})
        with _bus(context).subscribe(["post_published"]) as subscription:
            async for event in _events(subscription, context):
                loaders = await _current_loaders(context)
                row = await loaders.post_by_id.load(event.id)
                if row is None or not delivered.first_time(row.id):
                    continue
                if author is not None and row.author_username != author.strip().lower():
                    continue
                if tag is not None:
                    tags = await loaders.tags_by_post_id.load(row.id)
                    if all(found.slug != tag for found in tags):
                        continue
                yield Post.from_row(row, loaders)

    @strawberry.subscription(
        permission_classes=[CanModerate],
        description="New comments waiting for moderation (editors and admins).",
    )
    async def moderation_queue(self, info: Info) -> AsyncGenerator[Comment, None]:
        context = info.context
        with _bus(context).subscribe(["comment_added"]) as subscription:
            async for event in _events(subscription, context):
                if event.status != CommentStatus.PENDING.value:
                    continue
                # The moderator may have lost the role since subscribing.
                loaders = await _current_loaders(context)
                if not may_moderate(loaders.viewer):
                    raise ForbiddenError("Only editors and admins can moderate comments.")
                row = await loaders.comment_by_id.load(event.id)
                if row is not None and row.status == CommentStatus.PENDING.value:
                    yield Comment.from_row(row, loaders)
