"""The moderation queue as a query, and moderating several comments at once."""

import strawberry

from models.tables import CommentStatus
from resolvers import comment_writes, comments
from resolvers.cache_tags import comment_changed
from resolvers.comment_writes import MAX_MODERATED
from resolvers.context import Info
from resolvers.errors import BadUserInputError
from resolvers.events import Event, publish
from resolvers.response_cache import invalidate
from schema.connections import Connection, connection_from_page
from schema.ids import node_id_of
from schema.permissions import CanModerate
from schema.types import Comment, request_page


@strawberry.type
class ModerationQuery:
    @strawberry.field(
        permission_classes=[CanModerate],
        description="Comments in a moderation status (pending by default), oldest first: "
        "editors and admins. The subscription of the same name streams new arrivals.",
    )
    async def moderation_queue(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        status: CommentStatus = CommentStatus.PENDING,
    ) -> Connection[Comment]:
        request = request_page(
            info, sort=comments.COMMENT_SORT, first=first, after=after, last=None, before=None
        )
        database = info.context.database
        page = await comments.moderation_queue(database, status=status, request=request)
        return connection_from_page(
            page,
            to_node=lambda row: Comment.from_row(row, info.context.loaders),
            counter=lambda: comments.count_moderation_queue(database, status=status),
        )


@strawberry.type
class ModerateCommentsPayload:
    comments: list[Comment]


def _comment_ids(ids: list[strawberry.ID]) -> list[int]:
    if not 1 <= len(ids) <= MAX_MODERATED:
        raise BadUserInputError(
            f"ids must hold 1 to {MAX_MODERATED} comment IDs.", argument="ids", limit=MAX_MODERATED
        )
    return [node_id_of(value, "Comment", "ids") for value in ids]


@strawberry.type
class ModerationMutation:
    @strawberry.mutation(
        permission_classes=[CanModerate],
        description="Approve or reject several comments in one transaction: all of them or, "
        "if any is missing, none (NOT_FOUND lists the missing ones in extensions.missing).",
    )
    async def moderate_comments(
        self, info: Info, ids: list[strawberry.ID], status: CommentStatus
    ) -> ModerateCommentsPayload:
        context = info.context
        changes = await comment_writes.moderate_comments(
            context.database, viewer=context.viewer, comment_ids=_comment_ids(ids), status=status
        )
        for change in changes:
            if change.comment_id is not None and change.post_id is not None:
                tags = comment_changed(change.comment_id, post_id=change.post_id)
                await invalidate(context.invalidator, tags)
        if status is CommentStatus.APPROVED:
            for change in changes:
                assert change.comment_id is not None
                event = Event("comment_approved", change.comment_id, change.post_id, status.value)
                await publish(context, event)
        rows = await context.loaders.comment_by_id.load_many(
            [change.comment_id for change in changes if change.comment_id is not None]
        )
        return ModerateCommentsPayload(
            comments=[Comment.from_row(row, context.loaders) for row in rows if row is not None]
        )
