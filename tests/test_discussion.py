"""Writing comments: moderation of readers, threads on one post, edit window, who deletes."""

import base64
from datetime import timedelta
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from models.columns import utc_now
from models.database import Database
from models.tables import CommentStatus, PostStatus, Role, comments_table
from resolvers.tokens import issue_access_token
from settings import Settings
from tests.factories import create_comment, create_post, create_user

ADD = """
mutation Add($input: AddCommentInput!) {
  addComment(input: $input) { comment { id body status parent { body } } errors { field code } }
}
"""
EDIT = """
mutation Edit($id: ID!, $body: String!) {
  editComment(id: $id, body: $body) { comment { body } errors { code } }
}
"""
DELETE = "mutation ($id: ID!) { deleteComment(id: $id) { deletedId } }"
MODERATE = """
mutation ($id: ID!, $status: CommentStatus!) {
  moderateComment(id: $id, status: $status) { comment { status } }
}
"""
PUBLIC = '{ post(slug: "talk") { comments { nodes { body } } } }'


def _gid(type_name: str, row_id: int) -> str:
    return base64.b64encode(f"{type_name}:{row_id}".encode()).decode()


class Caller:
    def __init__(self, client: httpx.AsyncClient, token: str | None) -> None:
        self.client = client
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}

    async def run(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        response = await self.client.post(
            "/graphql", json={"query": query, "variables": variables or {}}, headers=self.headers
        )
        body: dict[str, Any] = response.json()
        return body


async def _user(
    client: httpx.AsyncClient, database: Database, settings: Settings, role: Role
) -> tuple[Caller, int]:
    user_id = await create_user(database, role=role)
    token, _ = issue_access_token(settings, user_id=user_id, role=role)
    return Caller(client, token), user_id


def _codes(body: dict[str, Any]) -> list[str]:
    return [error["extensions"]["code"] for error in body.get("errors", [])]


async def _comments(database: Database) -> int:
    async with database.engine.connect() as connection:
        return int(
            await connection.scalar(sa.select(sa.func.count()).select_from(comments_table)) or 0
        )


@pytest.fixture
async def post_id(database: Database) -> int:
    writer = await create_user(database, role=Role.AUTHOR)
    return await create_post(database, author_id=writer, slug="talk")


async def test_reader_comment_waits_for_moderation(
    client: httpx.AsyncClient, database: Database, settings: Settings, post_id: int
) -> None:
    reader, _ = await _user(client, database, settings, Role.READER)
    editor, _ = await _user(client, database, settings, Role.EDITOR)

    added = await reader.run(ADD, {"input": {"postId": _gid("Post", post_id), "body": " Hi "}})
    comment = added["data"]["addComment"]["comment"]
    before = (await Caller(client, None).run(PUBLIC))["data"]
    moderated = await editor.run(MODERATE, {"id": comment["id"], "status": "APPROVED"})
    after = (await Caller(client, None).run(PUBLIC))["data"]

    assert comment["body"] == "Hi"
    assert comment["status"] == "PENDING"
    assert before == {"post": {"comments": {"nodes": []}}}
    assert moderated["data"]["moderateComment"]["comment"]["status"] == "APPROVED"
    assert after == {"post": {"comments": {"nodes": [{"body": "Hi"}]}}}


async def test_trusted_reader_and_authors_skip_moderation(
    client: httpx.AsyncClient, database: Database, settings: Settings, post_id: int
) -> None:
    reader, reader_id = await _user(client, database, settings, Role.READER)
    author, _ = await _user(client, database, settings, Role.AUTHOR)
    for _ in range(settings.trusted_after_approved_comments):
        await create_comment(database, post_id=post_id, author_id=reader_id)
    variables = {"input": {"postId": _gid("Post", post_id), "body": "Again"}}

    from_reader = (await reader.run(ADD, variables))["data"]["addComment"]["comment"]
    from_author = (await author.run(ADD, variables))["data"]["addComment"]["comment"]

    assert from_reader["status"] == "APPROVED"
    assert from_author["status"] == "APPROVED"


async def test_anonymous_cannot_comment(
    client: httpx.AsyncClient, database: Database, post_id: int
) -> None:
    body = await Caller(client, None).run(
        ADD, {"input": {"postId": _gid("Post", post_id), "body": "x"}}
    )

    assert _codes(body) == ["UNAUTHENTICATED"]
    assert await _comments(database) == 0


async def test_no_comments_on_drafts(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    author, author_id = await _user(client, database, settings, Role.AUTHOR)
    draft = await create_post(database, author_id=author_id, status=PostStatus.DRAFT)

    body = await author.run(ADD, {"input": {"postId": _gid("Post", draft), "body": "x"}})

    assert _codes(body) == ["NOT_FOUND"]
    assert await _comments(database) == 0


@pytest.mark.parametrize(("body", "code"), [("   ", "BODY_EMPTY"), ("x" * 10_001, "BODY_TOO_LONG")])
async def test_invalid_comment_writes_nothing(
    client: httpx.AsyncClient,
    database: Database,
    settings: Settings,
    post_id: int,
    body: str,
    code: str,
) -> None:
    reader, _ = await _user(client, database, settings, Role.READER)

    result = await reader.run(ADD, {"input": {"postId": _gid("Post", post_id), "body": body}})

    assert result["data"]["addComment"] == {
        "comment": None,
        "errors": [{"field": "body", "code": code}],
    }
    assert await _comments(database) == 0


async def test_reply_must_stay_on_the_same_post(
    client: httpx.AsyncClient, database: Database, settings: Settings, post_id: int
) -> None:
    author, author_id = await _user(client, database, settings, Role.AUTHOR)
    other_post = await create_post(database, author_id=author_id)
    elsewhere = await create_comment(database, post_id=other_post, author_id=author_id)
    here = await create_comment(database, post_id=post_id, author_id=author_id, body="root")

    wrong = await author.run(
        ADD,
        {
            "input": {
                "postId": _gid("Post", post_id),
                "body": "r",
                "parentId": _gid("Comment", elsewhere),
            }
        },
    )
    right = await author.run(
        ADD,
        {
            "input": {
                "postId": _gid("Post", post_id),
                "body": "r",
                "parentId": _gid("Comment", here),
            }
        },
    )

    assert wrong["data"]["addComment"]["errors"] == [
        {"field": "parentId", "code": "PARENT_INVALID"}
    ]
    assert right["data"]["addComment"]["comment"]["parent"] == {"body": "root"}
    assert await _comments(database) == 3


async def test_edit_own_comment_within_the_window_only(
    client: httpx.AsyncClient, database: Database, settings: Settings, post_id: int
) -> None:
    reader, reader_id = await _user(client, database, settings, Role.READER)
    other, _ = await _user(client, database, settings, Role.READER)
    fresh = await create_comment(database, post_id=post_id, author_id=reader_id, body="old")
    stale = await create_comment(
        database,
        post_id=post_id,
        author_id=reader_id,
        body="older",
        created_at=utc_now() - timedelta(minutes=settings.comment_edit_window_minutes + 1),
    )

    edited = await reader.run(EDIT, {"id": _gid("Comment", fresh), "body": "new"})
    too_late = await reader.run(EDIT, {"id": _gid("Comment", stale), "body": "new"})
    not_mine = await other.run(EDIT, {"id": _gid("Comment", fresh), "body": "hacked"})

    assert edited["data"]["editComment"] == {"comment": {"body": "new"}, "errors": []}
    assert too_late["data"]["editComment"] == {
        "comment": None,
        "errors": [{"code": "EDIT_WINDOW_CLOSED"}],
    }
    assert _codes(not_mine) == ["FORBIDDEN"]
    async with database.engine.connect() as connection:
        bodies = set((await connection.execute(sa.select(comments_table.c.body))).scalars())
    assert bodies == {"new", "older"}


@pytest.mark.parametrize(
    ("who", "expected"),
    [("author", None), ("other reader", "FORBIDDEN"), ("editor", None), ("admin", None)],
)
async def test_who_may_delete_a_comment(
    client: httpx.AsyncClient,
    database: Database,
    settings: Settings,
    post_id: int,
    who: str,
    expected: str | None,
) -> None:
    author, author_id = await _user(client, database, settings, Role.READER)
    callers = {
        "author": author,
        "other reader": (await _user(client, database, settings, Role.READER))[0],
        "editor": (await _user(client, database, settings, Role.EDITOR))[0],
        "admin": (await _user(client, database, settings, Role.ADMIN))[0],
    }
    comment = await create_comment(database, post_id=post_id, author_id=author_id)
    await create_comment(database, post_id=post_id, author_id=author_id, parent_id=comment)

    body = await callers[who].run(DELETE, {"id": _gid("Comment", comment)})

    if expected is None:
        assert body["data"] == {"deleteComment": {"deletedId": _gid("Comment", comment)}}
        assert await _comments(database) == 0  # replies go with it
    else:
        assert _codes(body) == [expected]
        assert await _comments(database) == 2


@pytest.mark.parametrize(("role", "code"), [(Role.READER, "FORBIDDEN"), (Role.AUTHOR, "FORBIDDEN")])
async def test_only_editors_moderate(
    client: httpx.AsyncClient,
    database: Database,
    settings: Settings,
    post_id: int,
    role: Role,
    code: str,
) -> None:
    caller, caller_id = await _user(client, database, settings, role)
    comment = await create_comment(
        database, post_id=post_id, author_id=caller_id, status=CommentStatus.PENDING
    )

    body = await caller.run(MODERATE, {"id": _gid("Comment", comment), "status": "APPROVED"})

    assert _codes(body) == [code]
    async with database.engine.connect() as connection:
        assert await connection.scalar(sa.select(comments_table.c.status)) == "PENDING"
