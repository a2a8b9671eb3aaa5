"""The moderation queue as a query (oldest first, paginated, editors only) and moderating
several comments at once (all or nothing)."""

import base64
from datetime import timedelta
from typing import Any

import httpx
import sqlalchemy as sa

from models.columns import utc_now
from models.database import Database
from models.tables import CommentStatus, Role, comments_table
from resolvers.tokens import issue_access_token
from settings import Settings
from tests.factories import create_comment, create_post, create_user

QUEUE = """
query Queue($first: Int, $after: String, $status: CommentStatus) {
  moderationQueue(first: $first, after: $after, status: $status) {
    nodes { body status post { title } author { username } }
    pageInfo { hasNextPage endCursor }
    totalCount
  }
}
"""
MODERATE = """
mutation Moderate($ids: [ID!]!, $status: CommentStatus!) {
  moderateComments(ids: $ids, status: $status) { comments { body status } }
}
"""


def _comment_id(comment_id: int) -> str:
    return base64.b64encode(f"Comment:{comment_id}".encode()).decode()


async def _headers(database: Database, settings: Settings, role: Role) -> dict[str, str]:
    user_id = await create_user(database, role=role)
    token, _ = issue_access_token(settings, user_id=user_id, role=role)
    return {"Authorization": f"Bearer {token}"}


async def _run(
    client: httpx.AsyncClient, query: str, variables: dict[str, Any], headers: dict[str, str]
) -> dict[str, Any]:
    response = await client.post(
        "/graphql", json={"query": query, "variables": variables}, headers=headers
    )
    body: dict[str, Any] = response.json()
    return body


def _codes(body: dict[str, Any]) -> list[str]:
    return [error["extensions"]["code"] for error in body.get("errors", [])]


async def _statuses(database: Database) -> dict[str, str]:
    async with database.engine.connect() as connection:
        rows = await connection.execute(sa.select(comments_table.c.body, comments_table.c.status))
        return {row.body: str(row.status) for row in rows}


async def _pending_comments(database: Database, count: int) -> list[int]:
    """Pending comments created newest first, so that insertion order is not the queue's."""
    writer = await create_user(database, username="writer")
    reader = await create_user(database, username="reader", role=Role.READER)
    post = await create_post(database, author_id=writer, title="Discussed")
    now = utc_now()
    ids = []
    for number in reversed(range(count)):
        ids.append(
            await create_comment(
                database,
                post_id=post,
                author_id=reader,
                body=f"pending {number}",
                status=CommentStatus.PENDING,
                created_at=now - timedelta(minutes=count - number),
            )
        )
    await create_comment(database, post_id=post, author_id=reader, body="already approved")
    return ids


async def test_the_queue_lists_pending_comments_oldest_first_in_pages(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    await _pending_comments(database, 5)
    editor = await _headers(database, settings, Role.EDITOR)

    first = await _run(client, QUEUE, {"first": 3}, editor)
    cursor = first["data"]["moderationQueue"]["pageInfo"]["endCursor"]
    second = await _run(client, QUEUE, {"first": 3, "after": cursor}, editor)

    page = first["data"]["moderationQueue"]
    assert [node["body"] for node in page["nodes"]] == ["pending 0", "pending 1", "pending 2"]
    assert page["nodes"][0]["post"] == {"title": "Discussed"}
    assert page["nodes"][0]["author"] == {"username": "reader"}
    assert page["pageInfo"]["hasNextPage"] is True
    assert page["totalCount"] == 5
    rest = second["data"]["moderationQueue"]
    assert [node["body"] for node in rest["nodes"]] == ["pending 3", "pending 4"]
    assert rest["pageInfo"]["hasNextPage"] is False


async def test_the_queue_lists_another_status_when_asked(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    await _pending_comments(database, 2)
    admin = await _headers(database, settings, Role.ADMIN)

    body = await _run(client, QUEUE, {"status": "APPROVED"}, admin)

    assert [node["body"] for node in body["data"]["moderationQueue"]["nodes"]] == [
        "already approved"
    ]


async def test_readers_authors_and_anonymous_callers_cannot_read_the_queue(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    await _pending_comments(database, 1)
    reader = await _headers(database, settings, Role.READER)
    author = await _headers(database, settings, Role.AUTHOR)

    assert _codes(await _run(client, QUEUE, {}, reader)) == ["FORBIDDEN"]
    assert _codes(await _run(client, QUEUE, {}, author)) == ["FORBIDDEN"]
    assert _codes(await _run(client, QUEUE, {}, {})) == ["UNAUTHENTICATED"]


async def test_moderating_several_comments_changes_them_all(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    ids = await _pending_comments(database, 3)
    editor = await _headers(database, settings, Role.EDITOR)

    body = await _run(
        client,
        MODERATE,
        {"ids": [_comment_id(ids[0]), _comment_id(ids[1])], "status": "APPROVED"},
        editor,
    )

    assert body["data"]["moderateComments"]["comments"] == [
        {"body": "pending 2", "status": "APPROVED"},
        {"body": "pending 1", "status": "APPROVED"},
    ]
    statuses = await _statuses(database)
    assert statuses["pending 2"] == statuses["pending 1"] == "APPROVED"
    assert statuses["pending 0"] == "PENDING"


async def test_bulk_moderation_with_a_missing_comment_changes_nothing(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    ids = await _pending_comments(database, 2)
    editor = await _headers(database, settings, Role.EDITOR)
    missing = max(ids) + 1000

    body = await _run(
        client,
        MODERATE,
        {"ids": [_comment_id(ids[0]), _comment_id(missing)], "status": "REJECTED"},
        editor,
    )

    assert _codes(body) == ["NOT_FOUND"]
    assert body["errors"][0]["extensions"]["missing"] == [missing]
    assert set((await _statuses(database)).values()) == {"PENDING", "APPROVED"}


async def test_authors_cannot_moderate_in_bulk(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    ids = await _pending_comments(database, 1)
    author = await _headers(database, settings, Role.AUTHOR)

    body = await _run(
        client, MODERATE, {"ids": [_comment_id(ids[0])], "status": "APPROVED"}, author
    )

    assert _codes(body) == ["FORBIDDEN"]
    assert (await _statuses(database))["pending 0"] == "PENDING"


async def test_bulk_moderation_is_bounded(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    editor = await _headers(database, settings, Role.EDITOR)

    empty = await _run(client, MODERATE, {"ids": [], "status": "APPROVED"}, editor)
    too_many = await _run(
        client,
        MODERATE,
        {"ids": [_comment_id(n) for n in range(1, 102)], "status": "APPROVED"},
        editor,
    )

    assert _codes(empty) == ["BAD_USER_INPUT"]
    assert _codes(too_many) == ["BAD_USER_INPUT"]
