"""The public object types. Each maps a database row with `from_row`; relations use loaders."""

from collections.abc import Iterable
from datetime import datetime
from typing import Any, Self

import strawberry
from sqlalchemy.engine import Row
from strawberry import relay

from models.tables import CommentStatus, PostStatus
from resolvers import comments, markdown, posts
from resolvers.context import Info
from resolvers.pagination import PageRequest, Sort, page_request
from schema.connections import Connection, connection_from_page
from schema.inputs import DEFAULT_POST_ORDER, OrderDirection, PostOrder


def request_page(
    info: Info,
    *,
    sort: Sort,
    first: int | None,
    after: str | None,
    last: int | None,
    before: str | None,
) -> PageRequest:
    settings = info.context.settings
    return page_request(
        sort=sort,
        first=first,
        after=after,
        last=last,
        before=before,
        default_size=settings.default_page_size,
        max_size=settings.max_page_size,
    )


def post_sort(info: Info, order: PostOrder | None) -> Sort:
    order = order or DEFAULT_POST_ORDER
    return posts.post_sort(
        info.context.viewer, field=order.field, descending=order.direction is OrderDirection.DESC
    )


async def _by_ids(info: Info, node_ids: Iterable[str], loader_name: str, to_node: Any) -> list[Any]:
    loader = getattr(info.context.loaders, loader_name)
    rows = await loader.load_many([int(node_id) for node_id in node_ids])
    return [None if row is None else to_node(row) for row in rows]


@strawberry.type(description="A tag that groups posts.")
class Tag(relay.Node):
    id: relay.NodeID[int]
    name: str
    slug: str

    @classmethod
    def from_row(cls, row: Row[Any]) -> Self:
        return cls(id=row.id, name=row.name, slug=row.slug)

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[Self | None]:
        return await _by_ids(info, node_ids, "tag_by_id", cls.from_row)

    @strawberry.field(description="Published posts with this tag.")
    async def post_count(self, info: Info) -> int:
        return await info.context.loaders.post_count_by_tag_id.load(self.id)

    @strawberry.field(description="Posts with this tag, newest first unless ordered otherwise.")
    async def posts(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
        order_by: PostOrder | None = None,
    ) -> Connection["Post"]:
        order = order_by or DEFAULT_POST_ORDER
        sort = post_sort(info, order)
        request = request_page(info, sort=sort, first=first, after=after, last=last, before=before)
        descending = order.direction is OrderDirection.DESC
        page = await info.context.loaders.post_page_by_tag_id.load(
            (self.id, order.field, descending, request)
        )
        return connection_from_page(
            page,
            to_node=Post.from_row,
            counter=lambda: info.context.loaders.post_count_by_tag_id.load(self.id),
        )


@strawberry.type(description="The public profile of someone who writes or comments.")
class Author(relay.Node):
    id: relay.NodeID[int]
    username: str
    display_name: str
    bio: str
    avatar_url: str | None

    @classmethod
    def from_row(cls, row: Row[Any]) -> Self:
        return cls(
            id=row.id,
            username=row.username,
            display_name=row.display_name,
            bio=row.bio,
            avatar_url=row.avatar_url,
        )

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[Self | None]:
        return await _by_ids(info, node_ids, "author_by_id", cls.from_row)

    @strawberry.field(description="Published posts by this author.")
    async def post_count(self, info: Info) -> int:
        return await info.context.loaders.post_count_by_author_id.load(self.id)

    @strawberry.field(description="Posts by this author, newest first unless ordered otherwise.")
    async def posts(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
        order_by: PostOrder | None = None,
    ) -> Connection["Post"]:
        order = order_by or DEFAULT_POST_ORDER
        sort = post_sort(info, order)
        request = request_page(info, sort=sort, first=first, after=after, last=last, before=before)
        descending = order.direction is OrderDirection.DESC
        page = await info.context.loaders.post_page_by_author_id.load(
            (self.id, order.field, descending, request)
        )
        return connection_from_page(
            page,
            to_node=Post.from_row,
            counter=lambda: info.context.loaders.post_count_by_author_id.load(self.id),
        )


@strawberry.type(description="A comment on a post; replies form threads.")
class Comment(relay.Node):
    id: relay.NodeID[int]
    body: str
    status: CommentStatus
    created_at: datetime
    post_id: strawberry.Private[int]
    author_id: strawberry.Private[int]
    parent_id: strawberry.Private[int | None]

    @classmethod
    def from_row(cls, row: Row[Any]) -> Self:
        return cls(
            id=row.id,
            body=row.body,
            status=row.status,
            created_at=row.created_at,
            post_id=row.post_id,
            author_id=row.author_id,
            parent_id=row.parent_id,
        )

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[Self | None]:
        return await _by_ids(info, node_ids, "comment_by_id", cls.from_row)

    @strawberry.field
    async def author(self, info: Info) -> Author | None:
        row = await info.context.loaders.author_by_id.load(self.author_id)
        return None if row is None else Author.from_row(row)

    @strawberry.field
    async def post(self, info: Info) -> "Post | None":
        row = await info.context.loaders.post_by_id.load(self.post_id)
        return None if row is None else Post.from_row(row)

    @strawberry.field(description="The comment this one replies to, if any.")
    async def parent(self, info: Info) -> "Comment | None":
        if self.parent_id is None:
            return None
        row = await info.context.loaders.comment_by_id.load(self.parent_id)
        return None if row is None else Comment.from_row(row)

    @strawberry.field(description="Direct replies, oldest first.")
    async def replies(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> Connection["Comment"]:
        sort = comments.COMMENT_SORT
        request = request_page(info, sort=sort, first=first, after=after, last=last, before=before)
        page = await info.context.loaders.reply_page_by_comment_id.load((self.id, request))
        return connection_from_page(
            page,
            to_node=Comment.from_row,
            counter=lambda: info.context.loaders.reply_count_by_comment_id.load(self.id),
        )


@strawberry.type(description="A post: Markdown body, rendered HTML, author, tags and comments.")
class Post(relay.Node):
    id: relay.NodeID[int]
    title: str
    slug: str
    excerpt: str
    body: str = strawberry.field(description="The body as Markdown.")
    status: PostStatus
    published_at: datetime | None
    updated_at: datetime
    author_id: strawberry.Private[int]

    @classmethod
    def from_row(cls, row: Row[Any]) -> Self:
        return cls(
            id=row.id,
            title=row.title,
            slug=row.slug,
            excerpt=row.excerpt,
            body=row.body,
            status=row.status,
            published_at=row.published_at,
            updated_at=row.updated_at,
            author_id=row.author_id,
        )

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[Self | None]:
        return await _by_ids(info, node_ids, "post_by_id", cls.from_row)

    @strawberry.field(description="The body rendered to sanitized HTML.")
    def html(self) -> str:
        return markdown.render_html(self.body)

    @strawberry.field
    def reading_time_minutes(self) -> int:
        return markdown.reading_time_minutes(self.body)

    @strawberry.field
    async def author(self, info: Info) -> Author | None:
        row = await info.context.loaders.author_by_id.load(self.author_id)
        return None if row is None else Author.from_row(row)

    @strawberry.field(description="Tags in name order.")
    async def tags(self, info: Info) -> list[Tag]:
        rows = await info.context.loaders.tags_by_post_id.load(self.id)
        return [Tag.from_row(row) for row in rows]

    @strawberry.field(description="Visible comments on this post, replies included.")
    async def comment_count(self, info: Info) -> int:
        return await info.context.loaders.comment_count_by_post_id.load(self.id)

    @strawberry.field(description="Top-level comments, oldest first; see Comment.replies.")
    async def comments(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> Connection[Comment]:
        sort = comments.COMMENT_SORT
        request = request_page(info, sort=sort, first=first, after=after, last=last, before=before)
        page = await info.context.loaders.comment_page_by_post_id.load((self.id, request))
        loaders = info.context.loaders
        return connection_from_page(
            page,
            to_node=Comment.from_row,
            counter=lambda: loaders.top_level_comment_count_by_post_id.load(self.id),
        )
