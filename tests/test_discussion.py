"""Writing comments: moderation of readers, threads on one post, edit window, who deletes."""

import asyncio
import base64
from datetime import timedelta
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from models.columns import utc_now
from models.database import Database
from models.tables import CommentStatus, PostStatus, Role, comments_table
from resolvers import comment_writes
from resolvers.events import Event, LocalBus
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
EDIT_STATUS = """
mutation Edit($id: ID!, $body: String!) {
  editComment(id: $id, body: $body) { comment { body status } errors { code } }
}
"""
MODERATORS_VIEW = '{ post(slug: "talk") { comments { nodes { body status } } } }'


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


async def _comment_rows(database: Database) -> list[tuple[str, str]]:
    async with database.engine.connect() as connection:
        result = await connection.execute(
            sa.select(comments_table.c.body, comments_table.c.status).order_by(comments_table.c.id)
        )
        return [(body, str(status)) for body, status in result]


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

    # Before the edit: the reader's edit sends the comment back to moderation, out of sight.
    not_mine = await other.run(EDIT, {"id": _gid("Comment", fresh), "body": "hacked"})
    edited = await reader.run(EDIT, {"id": _gid("Comment", fresh), "body": "new"})
    too_late = await reader.run(EDIT, {"id": _gid("Comment", stale), "body": "new"})

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


async def test_untrusted_edit_sends_an_approved_comment_back_to_moderation(
    app: Any, client: httpx.AsyncClient, database: Database, settings: Settings, post_id: int
) -> None:
    reader, reader_id = await _user(client, database, settings, Role.READER)
    editor, _ = await _user(client, database, settings, Role.EDITOR)
    comment = await create_comment(database, post_id=post_id, author_id=reader_id, body="Nice")
    bus: LocalBus = app.state.events

    with bus.subscribe(["comment_added"]) as events:
        edited = await reader.run(EDIT_STATUS, {"id": _gid("Comment", comment), "body": "Spam"})
        event = await asyncio.wait_for(anext(events), 1)
    public = (await Caller(client, None).run(PUBLIC))["data"]
    moderators = (await editor.run(MODERATORS_VIEW))["data"]

    assert edited["data"]["editComment"] == {
        "comment": {"body": "Spam", "status": "PENDING"},
        "errors": [],
    }
    assert event == Event("comment_added", comment, post_id, "PENDING")
    assert public == {"post": {"comments": {"nodes": []}}}
    assert moderators == {"post": {"comments": {"nodes": [{"body": "Spam", "status": "PENDING"}]}}}


async def test_an_edit_does_not_overwrite_a_verdict_given_meanwhile(
    client: httpx.AsyncClient,
    database: Database,
    settings: Settings,
    post_id: int,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A moderator rejects the comment between the edit's read and its write: the edit is
    refused (CONFLICT) and the rejection stands."""
    reader, reader_id = await _user(client, database, settings, Role.READER)
    comment = await create_comment(database, post_id=post_id, author_id=reader_id, body="Nice")
    decide = comment_writes._status_after_edit

    async def rejected_meanwhile(connection: Any, *args: Any) -> CommentStatus:
        await connection.execute(
            sa.update(comments_table).values(status=CommentStatus.REJECTED.value)
        )
        return await decide(connection, *args)

    monkeypatch.setattr(comment_writes, "_status_after_edit", rejected_meanwhile)

    edited = await reader.run(EDIT_STATUS, {"id": _gid("Comment", comment), "body": "Spam"})

    assert edited["data"]["editComment"]["errors"][0]["code"] == "CONFLICT"
    async with database.engine.connect() as connection:
        row = (
            await connection.execute(sa.select(comments_table.c.body, comments_table.c.status))
        ).one()
    assert tuple(row) == ("Nice", "REJECTED")


@pytest.mark.parametrize("role", [Role.READER, Role.AUTHOR])
async def test_trusted_edit_stays_approved(
    app: Any,
    client: httpx.AsyncClient,
    database: Database,
    settings: Settings,
    post_id: int,
    role: Role,
) -> None:
    caller, caller_id = await _user(client, database, settings, role)
    comment = await create_comment(database, post_id=post_id, author_id=caller_id, body="Old")
    for _ in range(settings.trusted_after_approved_comments - 1):
        await create_comment(database, post_id=post_id, author_id=caller_id, body="Old")
    bus: LocalBus = app.state.events

    with bus.subscribe(["comment_added"]) as events:
        edited = await caller.run(EDIT_STATUS, {"id": _gid("Comment", comment), "body": "New"})
        await asyncio.sleep(0.05)
        published = not events.queue.empty()
    public = (await Caller(client, None).run(PUBLIC))["data"]["post"]["comments"]["nodes"]

    assert edited["data"]["editComment"] == {
        "comment": {"body": "New", "status": "APPROVED"},
        "errors": [],
    }
    assert published is False
    assert public[0] == {"body": "New"}


async def test_editing_a_pending_comment_keeps_it_pending_without_a_new_event(
    app: Any, client: httpx.AsyncClient, database: Database, settings: Settings, post_id: int
) -> None:
    reader, reader_id = await _user(client, database, settings, Role.READER)
    comment = await create_comment(
        database, post_id=post_id, author_id=reader_id, status=CommentStatus.PENDING
    )
    bus: LocalBus = app.state.events

    with bus.subscribe(["comment_added"]) as events:
        edited = await reader.run(EDIT_STATUS, {"id": _gid("Comment", comment), "body": "Fix"})
        await asyncio.sleep(0.05)
        published = not events.queue.empty()

    assert edited["data"]["editComment"]["comment"] == {"body": "Fix", "status": "PENDING"}
    assert published is False


WRITES_BY_ID = {
    "edit": (EDIT, {"body": "Changed"}),
    "delete": (DELETE, {}),
}


@pytest.mark.parametrize("write", WRITES_BY_ID)
@pytest.mark.parametrize("hidden", ["approved on a draft", "pending of another reader"])
async def test_hidden_comments_read_like_missing_ones(
    client: httpx.AsyncClient, database: Database, settings: Settings, write: str, hidden: str
) -> None:
    writer = await create_user(database, role=Role.AUTHOR)
    other = await create_user(database, role=Role.READER)
    reader, _ = await _user(client, database, settings, Role.READER)
    draft = await create_post(database, author_id=writer, status=PostStatus.DRAFT)
    live = await create_post(database, author_id=writer)
    target = {
        "approved on a draft": await create_comment(database, post_id=draft, author_id=other),
        "pending of another reader": await create_comment(
            database, post_id=live, author_id=other, status=CommentStatus.PENDING
        ),
    }[hidden]
    missing = target + 1000
    before = await _comment_rows(database)
    document, variables = WRITES_BY_ID[write]

    on_hidden = await reader.run(document, {"id": _gid("Comment", target), **variables})
    on_missing = await reader.run(document, {"id": _gid("Comment", missing), **variables})

    assert [error["message"] for error in on_hidden["errors"]] == ["No such comment."]
    assert _codes(on_hidden) == ["NOT_FOUND"]
    assert (on_hidden["data"], on_hidden["errors"]) == (on_missing["data"], on_missing["errors"])
    assert await _comment_rows(database) == before


async def test_own_comment_on_a_post_hidden_since_reads_like_a_missing_one(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    writer = await create_user(database, role=Role.AUTHOR)
    reader, reader_id = await _user(client, database, settings, Role.READER)
    draft = await create_post(database, author_id=writer, status=PostStatus.DRAFT)
    comment = await create_comment(database, post_id=draft, author_id=reader_id, body="Mine")

    body = await reader.run(EDIT, {"id": _gid("Comment", comment), "body": "Changed"})

    assert _codes(body) == ["NOT_FOUND"]
    assert await _comment_rows(database) == [("Mine", "APPROVED")]
