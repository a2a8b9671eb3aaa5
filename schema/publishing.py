"""Writing posts, as clients see it: inputs, payloads and the mutations."""

import time
from datetime import datetime
from typing import Self

import strawberry

from models.tables import PostStatus
from resolvers import post_writes, revisions
from resolvers.cache_tags import post_changed
from resolvers.context import Info
from resolvers.errors import NotFoundError
from resolvers.events import Event, publish
from resolvers.response_cache import invalidate
from schema.accounts import UserError
from schema.ids import node_id_of
from schema.permissions import CanWritePosts
from schema.types import Post


@strawberry.input
class CreatePostInput:
    title: str
    body: str = strawberry.field(description="Markdown.")
    excerpt: str = ""
    tags: list[str] = strawberry.field(default_factory=list, description="Tag names.")


@strawberry.input
class UpdatePostInput:
    id: strawberry.ID
    updated_at: datetime = strawberry.field(
        description="The updatedAt you last saw: a stale edit is refused with CONFLICT."
    )
    title: str | None = None
    body: str | None = None
    excerpt: str | None = None
    tags: list[str] | None = None
    regenerate_slug: bool = strawberry.field(
        default=False, description="Derive the slug from the new title (links change)."
    )


@strawberry.type
class PostPayload:
    post: Post | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)

    @classmethod
    async def from_change(cls, info: Info, change: post_writes.PostChange) -> Self:
        """The payload of a write; a committed change drops the post's cache tags first."""
        if change.post_id is not None and not change.problems:
            await invalidate(info.context.invalidator, post_changed(change.post_id))
        if change.problems:
            return cls(errors=[UserError.from_problem(problem) for problem in change.problems])
        assert change.post_id is not None
        loaders = info.context.loaders
        loaders.post_by_id.clear(change.post_id)
        row = await loaders.post_by_id.load(change.post_id)
        return cls(post=None if row is None else Post.from_row(row, loaders))


@strawberry.type
class DeletePostPayload:
    deleted_id: strawberry.ID


def post_id_of(value: strawberry.ID) -> int:
    return node_id_of(value, "Post", "id")


@strawberry.type
class PublishingMutation:
    @strawberry.mutation(permission_classes=[CanWritePosts], description="Write a draft.")
    async def create_post(self, info: Info, input: CreatePostInput) -> PostPayload:
        change = await post_writes.create_post(
            info.context.database,
            settings=info.context.settings,
            viewer=info.context.viewer,
            draft=post_writes.PostDraft(
                title=input.title, body=input.body, excerpt=input.excerpt, tags=input.tags
            ),
        )
        return await PostPayload.from_change(info, change)

    @strawberry.mutation(permission_classes=[CanWritePosts], description="Edit a post.")
    async def update_post(self, info: Info, input: UpdatePostInput) -> PostPayload:
        change = await post_writes.update_post(
            info.context.database,
            settings=info.context.settings,
            viewer=info.context.viewer,
            post_id=post_id_of(input.id),
            seen_updated_at=input.updated_at,
            draft=post_writes.PostDraft(
                title=input.title, body=input.body, excerpt=input.excerpt, tags=input.tags
            ),
            new_slug=input.regenerate_slug,
        )
        return await PostPayload.from_change(info, change)

    @strawberry.mutation(
        permission_classes=[CanWritePosts],
        description="Publish now, or schedule: a future publishedAt makes it visible then.",
    )
    async def publish_post(
        self, info: Info, id: strawberry.ID, published_at: datetime | None = None
    ) -> PostPayload:
        return await _set_status(info, id, PostStatus.PUBLISHED, published_at)

    @strawberry.mutation(permission_classes=[CanWritePosts], description="Back to draft.")
    async def unpublish_post(self, info: Info, id: strawberry.ID) -> PostPayload:
        return await _set_status(info, id, PostStatus.DRAFT, None)

    @strawberry.mutation(permission_classes=[CanWritePosts])
    async def archive_post(self, info: Info, id: strawberry.ID) -> PostPayload:
        return await _set_status(info, id, PostStatus.ARCHIVED, None)

    @strawberry.mutation(
        permission_classes=[CanWritePosts], description="Delete a post and its comments."
    )
    async def delete_post(self, info: Info, id: strawberry.ID) -> DeletePostPayload:
        post_id = post_id_of(id)
        await post_writes.delete_post(
            info.context.database, viewer=info.context.viewer, post_id=post_id
        )
        await invalidate(info.context.invalidator, post_changed(post_id))
        return DeletePostPayload(deleted_id=id)

    @strawberry.mutation(
        permission_classes=[CanWritePosts],
        description="Bring a revision's title, excerpt, body and tags back, as a new "
        "revision (the slug stays).",
    )
    async def restore_revision(self, info: Info, id: strawberry.ID) -> PostPayload:
        context = info.context
        found = await revisions.revisions_by_ids(
            context.database, viewer=context.viewer, ids=[node_id_of(id, "PostRevision", "id")]
        )
        revision = found[0]
        if revision is None:
            raise NotFoundError("No such revision.")
        change = await post_writes.restore_revision(
            context.database, viewer=context.viewer, post_id=revision.post_id, revision=revision
        )
        return await PostPayload.from_change(info, change)


async def _set_status(
    info: Info, id: strawberry.ID, status: PostStatus, published_at: datetime | None
) -> PostPayload:
    change = await post_writes.set_status(
        info.context.database,
        viewer=info.context.viewer,
        post_id=post_id_of(id),
        status=status,
        published_at=published_at,
    )
    if change.post_id is not None and change.published_at is not None:
        at = change.published_at.timestamp()
        if at <= time.time():
            await publish(info.context, Event("post_published", change.post_id))
        else:
            await publish(info.context, Event("post_scheduled", change.post_id, at=at))
    return await PostPayload.from_change(info, change)
