"""Threaded comments and which of them anonymous callers may see."""

import httpx
import pytest

from models.database import Database
from models.tables import CommentStatus, PostStatus
from tests.factories import create_comment, create_post, create_user
from tests.graphql import data

THREAD = """
query Thread($slug: String!) {
  post(slug: $slug) {
    commentCount
    comments(first: 10) {
      totalCount
      nodes {
        body
        author { username }
        post { slug }
        parent { body }
        replies(first: 10) { totalCount nodes { body parent { body } } }
      }
    }
  }
}
"""

NODE = """
query Node($id: ID!) { node(id: $id) { id ... on Comment { body } } }
"""


async def test_thread_shows_top_level_comments_with_replies(
    client: httpx.AsyncClient, database: Database
) -> None:
    author = await create_user(database, username="host")
    post = await create_post(database, author_id=author, slug="talk")
    root = await create_comment(database, post_id=post, author_id=author, body="root")
    await create_comment(database, post_id=post, author_id=author, body="reply", parent_id=root)

    result = (await data(client, THREAD, {"slug": "talk"}))["post"]

    assert result["commentCount"] == 2
    assert result["comments"]["totalCount"] == 1
    assert result["comments"]["nodes"] == [
        {
            "body": "root",
            "author": {"username": "host"},
            "post": {"slug": "talk"},
            "parent": None,
            "replies": {"totalCount": 1, "nodes": [{"body": "reply", "parent": {"body": "root"}}]},
        }
    ]


@pytest.mark.parametrize("status", [CommentStatus.PENDING, CommentStatus.REJECTED])
async def test_unapproved_comments_and_replies_are_hidden(
    client: httpx.AsyncClient, database: Database, status: CommentStatus
) -> None:
    author = await create_user(database)
    post = await create_post(database, author_id=author, slug="talk")
    root = await create_comment(database, post_id=post, author_id=author, body="root")
    await create_comment(database, post_id=post, author_id=author, status=status)
    await create_comment(database, post_id=post, author_id=author, parent_id=root, status=status)

    result = (await data(client, THREAD, {"slug": "talk"}))["post"]

    assert result["commentCount"] == 1
    assert result["comments"]["totalCount"] == 1
    assert result["comments"]["nodes"][0]["replies"] == {"totalCount": 0, "nodes": []}


async def test_pending_comment_is_not_reachable_by_node_id(
    client: httpx.AsyncClient, database: Database
) -> None:
    author = await create_user(database)
    post = await create_post(database, author_id=author)
    pending = await create_comment(
        database, post_id=post, author_id=author, status=CommentStatus.PENDING
    )
    approved = await create_comment(database, post_id=post, author_id=author, body="ok")

    hidden = await data(client, NODE, {"id": _global_id("Comment", pending)})
    shown = await data(client, NODE, {"id": _global_id("Comment", approved)})

    assert hidden == {"node": None}
    assert shown["node"]["body"] == "ok"


async def test_comment_on_a_draft_is_not_reachable_by_node_id(
    client: httpx.AsyncClient, database: Database
) -> None:
    author = await create_user(database)
    draft = await create_post(database, author_id=author, status=PostStatus.DRAFT)
    comment = await create_comment(database, post_id=draft, author_id=author)

    result = await data(client, NODE, {"id": _global_id("Comment", comment)})

    assert result == {"node": None}


def _global_id(type_name: str, row_id: int) -> str:
    import base64

    return base64.b64encode(f"{type_name}:{row_id}".encode()).decode()


ALIASED_PAGES = """
fragment Who on Comment { author { username } }
query Aliased($slug: String!) {
  post(slug: $slug) {
    firstOne: comments(first: 1) { nodes { body ...Who } }
    firstTwo: comments(first: 2) { nodes { body ... on Comment { author { username } } } }
  }
  posts { nodes { early: comments(first: 1) { nodes { body ...Who } } } }
}
"""


async def test_aliased_connections_with_different_pages_stay_apart(
    client: httpx.AsyncClient, database: Database
) -> None:
    author = await create_user(database, username="host")
    post = await create_post(database, author_id=author, slug="talk")
    for body in ("one", "two", "three"):
        await create_comment(database, post_id=post, author_id=author, body=body)

    result = await data(client, ALIASED_PAGES, {"slug": "talk"})

    one = {"body": "one", "author": {"username": "host"}}
    two = {"body": "two", "author": {"username": "host"}}
    assert result["post"] == {"firstOne": {"nodes": [one]}, "firstTwo": {"nodes": [one, two]}}
    assert result["posts"]["nodes"] == [{"early": {"nodes": [one]}}]
