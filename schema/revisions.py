"""Post revisions as clients see them (Post.revisions; restoreRevision is in publishing)."""

from collections.abc import Iterable
from datetime import datetime
from enum import Enum
from typing import TYPE_CHECKING, Annotated, Any, Self

import strawberry
from sqlalchemy.engine import Row
from strawberry import relay

from resolvers import revisions
from resolvers.context import Info
from resolvers.pagination import page_request
from schema.connections import Connection, connection_from_page

if TYPE_CHECKING:
    from schema.types import Author


@strawberry.enum(description="A part of a post's content a revision records.")
class RevisionField(Enum):
    TITLE = "title"
    EXCERPT = "excerpt"
    BODY = "body"
    TAGS = "tags"


@strawberry.type(description="A saved version of a post: its whole content after the save.")
class PostRevision(relay.Node):
    id: relay.NodeID[int]
    title: str
    excerpt: str
    body: str = strawberry.field(description="The body as Markdown.")
    tags: list[str] = strawberry.field(description="Tag names, in name order.")
    changed_fields: list[RevisionField] = strawberry.field(
        description="What this save changed (a new post: everything; a restore may change nothing)."
    )
    created_at: datetime
    restored_from_id: strawberry.ID | None = strawberry.field(
        description="The revision this one restored, if it is a restore."
    )
    author_id: strawberry.Private[int]

    @classmethod
    def from_row(cls, row: Row[Any]) -> Self:
        restored = row.restored_from_id
        return cls(
            id=row.id,
            title=row.title,
            excerpt=row.excerpt,
            body=row.body,
            tags=revisions.tag_names(row),
            changed_fields=[RevisionField(name) for name in row.changed_fields.split(",") if name],
            created_at=row.created_at,
            restored_from_id=None
            if restored is None
            else strawberry.ID(relay.to_base64("PostRevision", restored)),
            author_id=row.author_id,
        )

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[Self | None]:
        rows = await revisions.revisions_by_ids(
            info.context.database,
            viewer=info.context.viewer,
            ids=[int(node_id) for node_id in node_ids],
        )
        return [None if row is None else cls.from_row(row) for row in rows]

    @strawberry.field(description="Who saved it (null when their account is deactivated).")
    async def author(
        self, info: Info
    ) -> Annotated["Author", strawberry.lazy("schema.types")] | None:
        # schema.types imports this module (Post.revisions): imported here to break the cycle.
        from schema.types import Author

        row = await info.context.loaders.author_by_id.load(self.author_id)
        return None if row is None else Author.from_row(row, info.context.loaders)


async def revision_connection(
    info: Info, *, post_id: int, author_id: int, first: int | None, after: str | None
) -> Connection[PostRevision] | None:
    """A post's revisions, newest first; None unless the viewer wrote the post or edits."""
    viewer, settings = info.context.viewer, info.context.settings
    if not revisions.may_read_revisions(viewer, author_id=author_id):
        return None
    request = page_request(
        sort=revisions.REVISION_SORT,
        first=first,
        after=after,
        last=None,
        before=None,
        default_size=settings.default_page_size,
        max_size=settings.max_page_size,
    )
    loaders = info.context.loaders
    page = await loaders.revision_page_by_post_id.load((post_id, request))
    return connection_from_page(
        page,
        to_node=PostRevision.from_row,
        counter=lambda: loaders.revision_count_by_post_id.load(post_id),
    )
