"""Cache tags: what a cached response holds, and what a write changes.

A read records the tags of what it touches while it runs: every Node object it builds
(`Post:12`, `Author:3`, `Comment:40`, `Tag:5`), every node it looked up by ID (found or not:
a cached null must go when the node appears), and `posts` or `authors` for every set chosen by
a query rather than by ID (lists, counts, search, lookups by slug or username). A write
publishes, after its commit, the tags of what it changed; every cached response holding one of
them is dropped, here and at the CDN (see resolvers/response_cache.py).

A nested list needs no tag of its own on the resolver path: the comments of a post are read
through that post, and every comment a response holds records its post's tag too, so a comment
write that publishes `Post:<post>` reaches every response holding that post's comments, replies
included. A compiled read (one SQL statement) does not see the objects it holds: it derives its
tags from its plan instead (resolvers/read_tags.py), with the type-level `posts`, `authors` and
`comments` for whatever it reaches through a relation.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

# Every set of posts a query chooses (lists, search, counts, tags carried by visible posts,
# lookups by slug): changed by any write that can change which posts are visible, their order
# or what a list shows of them.
POSTS = "posts"
# Every set of public profiles a query chooses (the authors list, lookups by username).
AUTHORS = "authors"
# Every set of comments, and every comment count, a read holds without a post's own tag
# (compiled reads: comments reached through a list of posts, or a comment looked up by ID).
COMMENTS = "comments"
# Every cached response carries it, so purging it drops them all: for changes whose reach is
# not worth computing (an account's role or active flag changes which of its posts, comments
# and profile anyone can see).
EVERYTHING = "all"

_RECORDING: ContextVar[set[str] | None] = ContextVar("quire_cache_tags", default=None)


@contextmanager
def recording() -> Iterator[set[str]]:
    """Collects the tags the code run inside it records (tasks it starts share the set)."""
    tags: set[str] = set()
    token = _RECORDING.set(tags)
    try:
        yield tags
    finally:
        _RECORDING.reset(token)


def record(*tags: str) -> None:
    recorded = _RECORDING.get()
    if recorded is not None:
        recorded.update(tags)


def record_node(type_name: str, node_id: object) -> None:
    recorded = _RECORDING.get()
    if recorded is not None:
        recorded.add(f"{type_name}:{node_id}")


def node_tag(type_name: str, node_id: object) -> str:
    return f"{type_name}:{node_id}"


def post_changed(post_id: int) -> set[str]:
    """A post was created, edited, published, unpublished, scheduled, archived or deleted,
    or its publication time came."""
    return {node_tag("Post", post_id), POSTS}


def comment_changed(comment_id: int, *, post_id: int) -> set[str]:
    """A comment was added, edited, deleted or moderated: its post's comment lists and count
    change with it (every comment a response holds records its post's tag as well), and so
    does every read holding comments whose posts it did not tag (`comments`)."""
    return {node_tag("Comment", comment_id), node_tag("Post", post_id), COMMENTS}


def author_changed(user_id: int) -> set[str]:
    """A public profile changed, or a new account can now be looked up by username."""
    return {node_tag("Author", user_id), AUTHORS}
