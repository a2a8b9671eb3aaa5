"""Draft previews as clients see them: minting and revoking preview tokens, and reading a
post through one passed as an argument (where a frontend cannot set X-Preview-Token)."""

from datetime import datetime

import strawberry

from resolvers import previews
from resolvers.context import Info, mark_preview
from resolvers.loaders import Loaders
from schema.accounts import UserError
from schema.ids import node_id_of
from schema.permissions import CanWritePosts


@strawberry.type
class PreviewTokenPayload:
    token: str | None = strawberry.field(
        default=None,
        description="Send it as the X-Preview-Token header (or the previewToken argument of "
        "post and node) to read this one post without a session.",
    )
    expires_at: datetime | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


async def preview_loaders(info: Info, token: str | None) -> Loaders:
    """The request's loaders, or, with a preview token, loaders that may also read its post
    (PREVIEW_TOKEN_INVALID, _EXPIRED or _REVOKED otherwise)."""
    context = info.context
    if token is None:
        return context.loaders
    mark_preview(context)
    viewer = await previews.preview_viewer(
        context.database, settings=context.settings, viewer=context.viewer, token=token
    )
    return Loaders(database=context.database, viewer=viewer)


@strawberry.type
class PreviewMutation:
    @strawberry.mutation(
        permission_classes=[CanWritePosts],
        description="A read-only preview of your unpublished post (editors: any post) for "
        "a frontend on another domain; it expires after QUIRE_PREVIEW_TOKEN_MINUTES and ends "
        "when revoked, or when the post is published or deleted.",
    )
    async def create_preview_token(self, info: Info, post_id: strawberry.ID) -> PreviewTokenPayload:
        issued = await previews.create_preview_token(
            info.context.database,
            settings=info.context.settings,
            viewer=info.context.viewer,
            post_id=node_id_of(post_id, "Post", "postId"),
        )
        if issued.problems:
            return PreviewTokenPayload(
                errors=[UserError.from_problem(problem) for problem in issued.problems]
            )
        return PreviewTokenPayload(token=issued.token, expires_at=issued.expires_at)

    @strawberry.mutation(
        permission_classes=[CanWritePosts],
        description="End every preview token of a post; returns how many were live.",
    )
    async def revoke_preview_tokens(self, info: Info, post_id: strawberry.ID) -> int:
        return await previews.revoke_preview_tokens(
            info.context.database,
            viewer=info.context.viewer,
            post_id=node_id_of(post_id, "Post", "postId"),
        )
