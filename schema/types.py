"""The public object types. Each maps a database row with `from_row`.

Relations resolve synchronously from what `prefetch_*` loaded for the whole list at once, and
fall back to the per-request loaders for anything not prefetched (see schema/prefetch.py).
"""

import asyncio
import dataclasses
from collections.abc import Awaitable, Callable, Iterable, Sequence
from datetime import datetime
from typing import Any, Self, TypeVar

import strawberry
from aiodataloader import DataLoader
from sqlalchemy.engine import Row
from strawberry import relay
from strawberry.types.nodes import SelectedField

from models.tables import CommentStatus, PostStatus
from resolvers import comments, posts
from resolvers.cache_tags import COMMENTS, POSTS, node_tag, record, record_node
from resolvers.context import Info
from resolvers.errors import QuireError
from resolvers.loaders import Loaders
from resolvers.pagination import Page, PageRequest, Sort, page_request
from schema.connections import Connection, connection_from_page
from schema.inputs import DEFAULT_POST_ORDER, OrderDirection, PostOrder
from schema.prefetch import Preloaded, by_name, deferred, node_fields, preloaded_or
from schema.revisions import PostRevision, revision_connection

K = TypeVar("K")
V = TypeVar("V")


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


def _requested_page(info: Info, *, sort: Sort, arguments: dict[str, Any]) -> PageRequest | None:
    """The page a selection asks for; None when its arguments are invalid, so that the field's
    own resolver raises the error at the field's own path."""
    try:
        return request_page(
            info,
            sort=sort,
            first=_as_int(arguments.get("first")),
            after=arguments.get("after"),
            last=_as_int(arguments.get("last")),
            before=arguments.get("before"),
        )
    except QuireError:
        return None


def _as_int(value: int | str | None) -> int | None:
    # Strawberry leaves inline literals as their source text; validation has made sure an
    # Int argument's literal is an integer.
    return int(value) if isinstance(value, str) else value


def post_sort(info: Info, order: PostOrder | None) -> Sort:
    order = order or DEFAULT_POST_ORDER
    if order.field is posts.PostOrderField.COMMENT_COUNT:
        # Which posts a page holds changes with the comment count of any post, listed or not.
        record(COMMENTS)
    return posts.post_sort(
        info.context.viewer, field=order.field, descending=order.direction is OrderDirection.DESC
    )


async def _by_ids(info: Info, node_ids: Iterable[str], loader_name: str, to_node: Any) -> list[Any]:
    loaders = info.context.loaders
    rows = await getattr(loaders, loader_name).load_many([int(node_id) for node_id in node_ids])
    return [None if row is None else to_node(row, loaders) for row in rows]


@strawberry.type(description="A tag that groups posts.")
class Tag(relay.Node):
    id: relay.NodeID[int]
    name: str
    slug: str

    def __post_init__(self) -> None:
        record_node("Tag", self.id)

    @classmethod
    def from_row(cls, row: Row[Any], loaders: Loaders) -> Self:
        return cls(id=row.id, name=row.name, slug=row.slug)

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[Self | None]:
        record(POSTS)  # a tag is visible while a visible post carries it
        return await _by_ids(info, node_ids, "tag_by_id", cls.from_row)

    @strawberry.field(description="Posts with this tag that you can see.")
    async def post_count(self, info: Info) -> int:
        record(POSTS)
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
        record(POSTS)
        loaders = info.context.loaders
        return await load_post_connection(
            info,
            parent_id=self.id,
            order=order_by,
            arguments=(first, after, last, before),
            pages=loaders.post_page_by_tag_id,
            counts=loaders.post_count_by_tag_id,
        )


@strawberry.type(description="The public profile of someone who writes or comments.")
class Author(relay.Node):
    id: relay.NodeID[int]
    username: str
    display_name: str
    bio: str
    avatar_url: str | None

    def __post_init__(self) -> None:
        record_node("Author", self.id)

    @classmethod
    def from_row(cls, row: Row[Any], loaders: Loaders) -> Self:
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
        record(POSTS)
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
        record(POSTS)
        loaders = info.context.loaders
        return await load_post_connection(
            info,
            parent_id=self.id,
            order=order_by,
            arguments=(first, after, last, before),
            pages=loaders.post_page_by_author_id,
            counts=loaders.post_count_by_author_id,
        )


def joined_author(row: Row[Any]) -> Author | None:
    """The author joined into a post or comment row; None when the user is not visible."""
    if row.author_user_id is None:
        return None
    return Author(
        id=row.author_user_id,
        username=row.author_username,
        display_name=row.author_display_name,
        bio=row.author_bio,
        avatar_url=row.author_avatar_url,
    )


@strawberry.type(description="A comment on a post; replies form threads.")
class Comment(relay.Node):
    id: relay.NodeID[int]
    body: str
    status: CommentStatus
    created_at: datetime
    author: Author | None
    post_id: strawberry.Private[int]
    parent_id: strawberry.Private[int | None]
    preloaded: strawberry.Private[Preloaded] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        # A comment is read through its post (lists, counts): a comment write drops the post's
        # tag, which reaches every cached comment of that post, replies and deleted ones too.
        record(node_tag("Comment", self.id), node_tag("Post", self.post_id))

    @classmethod
    def from_row(cls, row: Row[Any], loaders: Loaders) -> Self:
        return cls(
            id=row.id,
            body=row.body,
            status=row.status,
            created_at=row.created_at,
            author=joined_author(row),
            post_id=row.post_id,
            parent_id=row.parent_id,
        )

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[Self | None]:
        return await _by_ids(info, node_ids, "comment_by_id", cls.from_row)

    @strawberry.field
    async def post(self, info: Info) -> "Post | None":
        row = await info.context.loaders.post_by_id.load(self.post_id)
        return None if row is None else Post.from_row(row, info.context.loaders)

    @strawberry.field(description="The comment this one replies to, if any.")
    async def parent(self, info: Info) -> "Comment | None":
        if self.parent_id is None:
            return None
        row = await info.context.loaders.comment_by_id.load(self.parent_id)
        return None if row is None else Comment.from_row(row, info.context.loaders)

    @strawberry.field(description="Direct replies, oldest first.")
    def replies(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> Connection["Comment"]:
        loaders = info.context.loaders
        return comment_connection_of(
            info,
            owner=self,
            key="replies",
            arguments=(first, after, last, before),
            pages=loaders.reply_page_by_comment_id,
            counts=loaders.reply_count_by_comment_id,
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
    author: Author | None
    tags: list[Tag] = strawberry.field(description="Tags in name order.")
    comment_count: int = strawberry.field(
        description="Visible comments on this post, replies included."
    )
    html: str = strawberry.field(description="The body rendered to sanitized HTML.")
    reading_time_minutes: int
    author_id: strawberry.Private[int]
    preloaded: strawberry.Private[Preloaded] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        record_node("Post", self.id)

    @classmethod
    def from_row(cls, row: Row[Any], loaders: Loaders) -> Self:
        return cls(
            id=row.id,
            title=row.title,
            slug=row.slug,
            excerpt=row.excerpt,
            body=row.body,
            status=row.status,
            published_at=row.published_at,
            updated_at=row.updated_at,
            author=joined_author(row),
            tags=deferred(lambda: _load_tags(loaders, row.id)),
            comment_count=deferred(lambda: loaders.comment_count_by_post_id.load(row.id)),
            html=row.html,
            reading_time_minutes=row.reading_time_minutes,
            author_id=row.author_id,
        )

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[Self | None]:
        return await _by_ids(info, node_ids, "post_by_id", cls.from_row)

    @strawberry.field(
        description="Saved versions, newest first: null unless you wrote the post or are an "
        "editor or admin."
    )
    async def revisions(
        self, info: Info, first: int | None = None, after: str | None = None
    ) -> Connection[PostRevision] | None:
        return await revision_connection(
            info, post_id=self.id, author_id=self.author_id, first=first, after=after
        )

    @strawberry.field(description="Top-level comments, oldest first; see Comment.replies.")
    def comments(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> Connection[Comment]:
        loaders = info.context.loaders
        return comment_connection_of(
            info,
            owner=self,
            key="comments",
            arguments=(first, after, last, before),
            pages=loaders.comment_page_by_post_id,
            counts=loaders.top_level_comment_count_by_post_id,
        )


async def _load_tags(loaders: Loaders, post_id: int) -> list[Tag]:
    rows = await loaders.tags_by_post_id.load(post_id)
    return [Tag.from_row(row, loaders) for row in rows]


def comment_connection(
    page: Page[Row[Any]], *, loaders: Loaders, parent_id: int, counts: DataLoader[int, int]
) -> Connection[Comment]:
    return connection_from_page(
        page,
        to_node=lambda row: Comment.from_row(row, loaders),
        counter=lambda: counts.load(parent_id),
    )


def comment_connection_of(
    info: Info,
    *,
    owner: "Post | Comment",
    key: str,
    arguments: tuple[int | None, str | None, int | None, str | None],
    pages: DataLoader[tuple[int, PageRequest], Page[Row[Any]]],
    counts: DataLoader[int, int],
) -> Connection[Comment]:
    """A comment connection of a post or comment: prefetched when the page was, loaded
    otherwise."""
    first, after, last, before = arguments
    request = request_page(
        info, sort=comments.COMMENT_SORT, first=first, after=after, last=last, before=before
    )
    return preloaded_or(
        owner.preloaded,
        (key, request),
        lambda: load_comment_connection(
            info, parent_id=owner.id, request=request, pages=pages, counts=counts
        ),
    )


async def load_comment_connection(
    info: Info,
    *,
    parent_id: int,
    request: PageRequest,
    pages: DataLoader[tuple[int, PageRequest], Page[Row[Any]]],
    counts: DataLoader[int, int],
) -> Connection[Comment]:
    page = await pages.load((parent_id, request))
    connection = comment_connection(
        page, loaders=info.context.loaders, parent_id=parent_id, counts=counts
    )
    await prefetch_comments(info, connection.nodes, node_fields(_selected(info)))
    return connection


async def load_post_connection(
    info: Info,
    *,
    parent_id: int,
    order: PostOrder | None,
    arguments: tuple[int | None, str | None, int | None, str | None],
    pages: DataLoader[Any, Page[Row[Any]]],
    counts: DataLoader[int, int],
) -> Connection[Post]:
    order = order or DEFAULT_POST_ORDER
    first, after, last, before = arguments
    sort = post_sort(info, order)
    request = request_page(info, sort=sort, first=first, after=after, last=last, before=before)
    descending = order.direction is OrderDirection.DESC
    page = await pages.load((parent_id, order.field, descending, request))
    connection = connection_from_page(
        page,
        to_node=lambda row: Post.from_row(row, info.context.loaders),
        counter=lambda: counts.load(parent_id),
    )
    await prefetch_posts(info, connection.nodes, node_fields(_selected(info)))
    return connection


def _selected(info: Info) -> list[SelectedField]:
    return [field for field in info.selected_fields if isinstance(field, SelectedField)]


async def prefetch_posts(info: Info, items: Sequence[Post], fields: list[SelectedField]) -> None:
    if not items or not fields:
        return
    wanted = by_name(fields)
    loaders = info.context.loaders
    jobs: list[Awaitable[None]] = []
    if "tags" in wanted:
        jobs.append(_prefetch_tags(loaders, items))
    if "commentCount" in wanted:
        jobs.append(_prefetch(loaders.comment_count_by_post_id, items, "comment_count", int))
    for field in wanted.get("comments", []):
        jobs.append(
            _prefetch_comment_pages(
                info,
                items,
                field,
                key="comments",
                pages=loaders.comment_page_by_post_id,
                counts=loaders.top_level_comment_count_by_post_id,
            )
        )
    await asyncio.gather(*jobs)


async def prefetch_comments(
    info: Info, items: Sequence[Comment], fields: list[SelectedField]
) -> None:
    if not items or not fields:
        return
    wanted = by_name(fields)
    loaders = info.context.loaders
    jobs: list[Awaitable[None]] = []
    for field in wanted.get("replies", []):
        jobs.append(
            _prefetch_comment_pages(
                info,
                items,
                field,
                key="replies",
                pages=loaders.reply_page_by_comment_id,
                counts=loaders.reply_count_by_comment_id,
            )
        )
    await asyncio.gather(*jobs)


async def _batch(loader: DataLoader[K, V], keys: Iterable[K]) -> dict[K, V]:
    """Run a loader's batch function directly on the distinct keys: one statement, and none of
    the per-key futures that `load_many` would create for values needed right here."""
    unique = list(dict.fromkeys(keys))
    values = await loader.batch_load_fn(unique)
    return dict(zip(unique, values, strict=True))


async def _prefetch(
    loader: DataLoader[int, Any],
    items: Sequence[Any],
    attribute: str,
    to_value: Callable[[Any], Any],
) -> None:
    found = await _batch(loader, (item.id for item in items))
    for item in items:
        setattr(item, attribute, to_value(found[item.id]))


async def _prefetch_tags(loaders: Loaders, items: Sequence[Post]) -> None:
    await _prefetch(
        loaders.tags_by_post_id,
        items,
        "tags",
        lambda rows: [Tag.from_row(row, loaders) for row in rows],
    )


async def _prefetch_comment_pages(
    info: Info,
    items: Sequence[Post | Comment],
    field: SelectedField,
    *,
    key: str,
    pages: DataLoader[tuple[int, PageRequest], Page[Row[Any]]],
    counts: DataLoader[int, int],
) -> None:
    request = _requested_page(info, sort=comments.COMMENT_SORT, arguments=field.arguments)
    if request is None:
        return
    found = await _batch(pages, ((item.id, request) for item in items))
    nested: list[Comment] = []
    for item in items:
        page = found[(item.id, request)]
        connection = comment_connection(
            page, loaders=info.context.loaders, parent_id=item.id, counts=counts
        )
        item.preloaded[(key, request)] = connection
        nested.extend(connection.nodes)
    await prefetch_comments(info, nested, node_fields([field]))
