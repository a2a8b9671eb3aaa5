"""Writing comments, as clients see it: inputs, payloads and the mutations."""

from typing import Self

import strawberry

from models.tables import CommentStatus
from resolvers import comment_writes
from resolvers.cache_tags import comment_changed
from resolvers.context import Info
from resolvers.events import Event, publish
from resolvers.response_cache import invalidate
from schema.accounts import UserError
from schema.ids import node_id_of
from schema.permissions import CanModerate, IsAuthenticated
from schema.types import Comment


@strawberry.input
class AddCommentInput:
    post_id: strawberry.ID
    body: str
    parent_id: strawberry.ID | None = strawberry.field(
        default=None, description="The comment this replies to, on the same post."
    )


@strawberry.type
class CommentPayload:
    comment: Comment | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)

    @classmethod
    async def from_change(cls, info: Info, change: comment_writes.CommentChange) -> Self:
        if change.problems:
            return cls(errors=[UserError.from_problem(problem) for problem in change.problems])
        assert change.comment_id is not None
        loaders = info.context.loaders
        loaders.comment_by_id.clear(change.comment_id)
        row = await loaders.comment_by_id.load(change.comment_id)
        return cls(comment=None if row is None else Comment.from_row(row, loaders))


async def _comment_changed(info: Info, change: comment_writes.CommentChange) -> None:
    if change.comment_id is not None and change.post_id is not None:
        tags = comment_changed(change.comment_id, post_id=change.post_id)
        await invalidate(info.context.invalidator, tags)


@strawberry.type
class DeleteCommentPayload:
    deleted_id: strawberry.ID


@strawberry.type
class DiscussionMutation:
    @strawberry.mutation(
        permission_classes=[IsAuthenticated],
        description="Comment on a published post; readers' comments may await moderation.",
    )
    async def add_comment(self, info: Info, input: AddCommentInput) -> CommentPayload:
        context = info.context
        change = await comment_writes.add_comment(
            context.database,
            settings=context.settings,
            viewer=context.viewer,
            post_id=node_id_of(input.post_id, "Post", "postId"),
            body=input.body,
            parent_id=None
            if input.parent_id is None
            else node_id_of(input.parent_id, "Comment", "parentId"),
        )
        await _comment_changed(info, change)
        if change.comment_id is not None and change.status is not None:
            await publish(
                context,
                Event("comment_added", change.comment_id, change.post_id, change.status.value),
            )
        return await CommentPayload.from_change(info, change)

    @strawberry.mutation(
        permission_classes=[IsAuthenticated],
        description="Edit your own comment, within the edit window. An approved comment "
        "goes back to moderation unless its author is trusted.",
    )
    async def edit_comment(self, info: Info, id: strawberry.ID, body: str) -> CommentPayload:
        context = info.context
        change = await comment_writes.edit_comment(
            context.database,
            settings=context.settings,
            viewer=context.viewer,
            comment_id=node_id_of(id, "Comment", "id"),
            body=body,
        )
        await _comment_changed(info, change)
        if change.comment_id is not None and change.status is CommentStatus.PENDING:
            # Back in moderation: moderators hear of it as of a new pending comment.
            await publish(
                context,
                Event("comment_added", change.comment_id, change.post_id, change.status.value),
            )
        return await CommentPayload.from_change(info, change)

    @strawberry.mutation(
        permission_classes=[IsAuthenticated],
        description="Delete your own comment (editors: any comment) and its replies.",
    )
    async def delete_comment(self, info: Info, id: strawberry.ID) -> DeleteCommentPayload:
        comment_id = node_id_of(id, "Comment", "id")
        post_id = await comment_writes.delete_comment(
            info.context.database, viewer=info.context.viewer, comment_id=comment_id
        )
        await invalidate(info.context.invalidator, comment_changed(comment_id, post_id=post_id))
        return DeleteCommentPayload(deleted_id=id)

    @strawberry.mutation(
        permission_classes=[CanModerate], description="Approve or reject a comment."
    )
    async def moderate_comment(
        self, info: Info, id: strawberry.ID, status: CommentStatus
    ) -> CommentPayload:
        change = await comment_writes.moderate_comment(
            info.context.database,
            viewer=info.context.viewer,
            comment_id=node_id_of(id, "Comment", "id"),
            status=status,
        )
        await _comment_changed(info, change)
        if change.comment_id is not None and status is CommentStatus.APPROVED:
            await publish(
                info.context,
                Event("comment_approved", change.comment_id, change.post_id, status.value),
            )
        return await CommentPayload.from_change(info, change)
