"""Who sees drafts and unapproved comments: authors their own, editors and admins everything."""

import base64

import httpx
import pytest

from models.database import Database
from models.tables import CommentStatus, PostStatus, Role
from resolvers.tokens import issue_access_token
from settings import Settings
from tests.factories import create_comment, create_post, create_user

POSTS = """
query { posts(first: 2) { totalCount nodes { title } pageInfo { hasNextPage endCursor } } }
"""
NEXT = """
query ($after: String) { posts(first: 2, after: $after) { nodes { title } } }
"""
DRAFT = """
query ($id: ID!) {
  post(slug: "draft") { title }
  node(id: $id) { ... on Post { title } }
  author(username: "writer") { postCount }
}
"""
COMMENTS = """
{ post(slug: "live") { commentCount comments { nodes { body status } } } }
"""


def _headers(settings: Settings, user_id: int, role: Role) -> dict[str, str]:
    token, _ = issue_access_token(settings, user_id=user_id, role=role)
    return {"Authorization": f"Bearer {token}"}


async def _query(
    client: httpx.AsyncClient,
    query: str,
    headers: dict[str, str] | None = None,
    variables: dict[str, str] | None = None,
) -> dict[str, object]:
    response = await client.post(
        "/graphql", json={"query": query, "variables": variables or {}}, headers=headers or {}
    )
    body = response.json()
    assert "errors" not in body, body
    data: dict[str, object] = body["data"]
    return data


@pytest.mark.parametrize(
    ("who", "sees_draft"),
    [("anonymous", False), ("writer", True), ("other", False), ("editor", True), ("admin", True)],
)
async def test_drafts_are_visible_to_their_author_and_editors_only(
    client: httpx.AsyncClient, database: Database, settings: Settings, who: str, sees_draft: bool
) -> None:
    writer = await create_user(database, username="writer", role=Role.AUTHOR)
    users = {
        "writer": (writer, Role.AUTHOR),
        "other": (await create_user(database, role=Role.AUTHOR), Role.AUTHOR),
        "editor": (await create_user(database, role=Role.EDITOR), Role.EDITOR),
        "admin": (await create_user(database, role=Role.ADMIN), Role.ADMIN),
    }
    draft = await create_post(
        database, author_id=writer, title="Draft", slug="draft", status=PostStatus.DRAFT
    )
    await create_post(database, author_id=writer, title="Live", slug="live")
    headers = None if who == "anonymous" else _headers(settings, *users[who])
    node_id = base64.b64encode(f"Post:{draft}".encode()).decode()

    listed = await _query(client, POSTS, headers)
    single = await _query(client, DRAFT, headers, {"id": node_id})

    expected = ["Draft", "Live"] if sees_draft else ["Live"]
    assert sorted(node["title"] for node in listed["posts"]["nodes"]) == expected  # type: ignore[index]
    assert listed["posts"]["totalCount"] == len(expected)  # type: ignore[index]
    assert single["post"] == ({"title": "Draft"} if sees_draft else None)
    assert single["node"] == ({"title": "Draft"} if sees_draft else None)
    assert single["author"] == {"postCount": len(expected)}


async def test_editor_pages_through_drafts_without_bad_cursors(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    writer = await create_user(database, role=Role.AUTHOR)
    editor = await create_user(database, role=Role.EDITOR)
    for number in range(3):
        await create_post(
            database, author_id=writer, title=f"Draft {number}", status=PostStatus.DRAFT
        )
    await create_post(database, author_id=writer, title="Live")
    headers = _headers(settings, editor, Role.EDITOR)

    first = await _query(client, POSTS, headers)
    cursor = first["posts"]["pageInfo"]["endCursor"]  # type: ignore[index]
    second = await _query(client, NEXT, headers, {"after": cursor})

    titles = [n["title"] for n in first["posts"]["nodes"] + second["posts"]["nodes"]]  # type: ignore[index]
    assert sorted(titles) == ["Draft 0", "Draft 1", "Draft 2", "Live"]


@pytest.mark.parametrize(
    ("who", "expected"),
    [
        ("anonymous", ["approved"]),
        ("commenter", ["approved", "pending"]),
        ("other", ["approved"]),
        ("editor", ["approved", "pending", "rejected"]),
    ],
)
async def test_unapproved_comments_are_visible_to_their_author_and_editors(
    client: httpx.AsyncClient, database: Database, settings: Settings, who: str, expected: list[str]
) -> None:
    writer = await create_user(database, role=Role.AUTHOR)
    commenter = await create_user(database, role=Role.READER)
    users = {
        "commenter": (commenter, Role.READER),
        "other": (await create_user(database, role=Role.READER), Role.READER),
        "editor": (await create_user(database, role=Role.EDITOR), Role.EDITOR),
    }
    post = await create_post(database, author_id=writer, slug="live")
    for status in CommentStatus:
        await create_comment(
            database, post_id=post, author_id=commenter, body=status.value.lower(), status=status
        )
    headers = None if who == "anonymous" else _headers(settings, *users[who])

    result = await _query(client, COMMENTS, headers)

    bodies = sorted(node["body"] for node in result["post"]["comments"]["nodes"])  # type: ignore[index]
    assert bodies == expected
    assert result["post"]["commentCount"] == len(expected)  # type: ignore[index]
