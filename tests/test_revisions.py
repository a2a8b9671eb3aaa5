"""Revisions: each change of title, excerpt, body or tags stores exactly one; restoring
brings an old version back as a new revision; authors see their own posts', editors all."""

import uuid
from typing import Any

import httpx
import sqlalchemy as sa

from models.database import Database
from models.tables import Role, post_revisions_table
from resolvers.tokens import issue_access_token
from settings import Settings
from tests.conftest import StatementLog
from tests.factories import create_user

CREATE = """
mutation Create($input: CreatePostInput!) {
  createPost(input: $input) { post { id updatedAt } errors { code } }
}
"""
UPDATE = """
mutation Update($input: UpdatePostInput!) {
  updatePost(input: $input) { post { updatedAt } errors { code } }
}
"""
REVISIONS = """
query Revisions($id: ID!, $first: Int) {
  post(id: $id) {
    revisions(first: $first) {
      totalCount
      nodes { id title excerpt body tags changedFields restoredFromId author { username } }
    }
  }
}
"""
RESTORE = """
mutation Restore($id: ID!) {
  restoreRevision(id: $id) { post { title excerpt body tags { name } } errors { code } }
}
"""


class Caller:
    def __init__(self, client: httpx.AsyncClient, headers: dict[str, str]) -> None:
        self.client, self.headers = client, headers

    async def run(self, query: str, variables: dict[str, Any]) -> dict[str, Any]:
        response = await self.client.post(
            "/graphql", json={"query": query, "variables": variables}, headers=self.headers
        )
        body: dict[str, Any] = response.json()
        return body


async def _caller(
    client: httpx.AsyncClient, database: Database, settings: Settings, role: Role
) -> Caller:
    user_id = await create_user(database, role=role, username=f"u{uuid.uuid4().hex[:8]}")
    token, _ = issue_access_token(settings, user_id=user_id, role=role)
    return Caller(client, {"Authorization": f"Bearer {token}"})


async def _draft(author: Caller) -> tuple[str, str]:
    body = await author.run(
        CREATE,
        {"input": {"title": "First", "body": "Body one", "excerpt": "Ex one", "tags": ["a"]}},
    )
    post = body["data"]["createPost"]["post"]
    return post["id"], post["updatedAt"]


async def _update(author: Caller, post_id: str, seen: str, **changes: Any) -> str:
    body = await author.run(UPDATE, {"input": {"id": post_id, "updatedAt": seen, **changes}})
    assert body["data"]["updatePost"]["errors"] == [], body
    updated: str = body["data"]["updatePost"]["post"]["updatedAt"]
    return updated


async def _revisions(caller: Caller, post_id: str) -> Any:
    body = await caller.run(REVISIONS, {"id": post_id, "first": 20})
    assert "errors" not in body, body
    return body["data"]["post"]["revisions"]


async def _stored(database: Database) -> int:
    async with database.engine.connect() as connection:
        count = await connection.scalar(
            sa.select(sa.func.count()).select_from(post_revisions_table)
        )
        return int(count or 0)


async def test_each_kind_of_change_stores_exactly_one_revision(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    author = await _caller(client, database, settings, Role.AUTHOR)
    post_id, seen = await _draft(author)

    seen = await _update(author, post_id, seen, title="Second")
    seen = await _update(author, post_id, seen, excerpt="Ex two")
    seen = await _update(author, post_id, seen, body="Body two")
    seen = await _update(author, post_id, seen, tags=["a", "b"])
    await _update(author, post_id, seen, title="Second", body="Body two")

    revisions = await _revisions(author, post_id)
    assert revisions["totalCount"] == 5
    assert [node["changedFields"] for node in revisions["nodes"]] == [
        ["TAGS"],
        ["BODY"],
        ["EXCERPT"],
        ["TITLE"],
        ["TITLE", "EXCERPT", "BODY", "TAGS"],
    ]
    newest = revisions["nodes"][0]
    assert (newest["title"], newest["excerpt"], newest["body"], newest["tags"]) == (
        "Second",
        "Ex two",
        "Body two",
        ["a", "b"],
    )
    assert await _stored(database) == 5


async def test_restoring_a_revision_brings_it_back_as_a_new_revision(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    author = await _caller(client, database, settings, Role.AUTHOR)
    post_id, seen = await _draft(author)
    await _update(author, post_id, seen, title="Changed", body="Body two", tags=["b"])
    first = (await _revisions(author, post_id))["nodes"][-1]

    body = await author.run(RESTORE, {"id": first["id"]})

    assert body["data"]["restoreRevision"]["post"] == {
        "title": "First",
        "excerpt": "Ex one",
        "body": "Body one",
        "tags": [{"name": "a"}],
    }
    revisions = await _revisions(author, post_id)
    assert revisions["totalCount"] == 3
    restored = revisions["nodes"][0]
    assert restored["restoredFromId"] == first["id"]
    assert restored["changedFields"] == ["TITLE", "BODY", "TAGS"]
    assert (restored["title"], restored["tags"]) == ("First", ["a"])


async def test_authors_see_their_own_revisions_and_editors_everyones(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    author = await _caller(client, database, settings, Role.AUTHOR)
    other_author = await _caller(client, database, settings, Role.AUTHOR)
    editor = await _caller(client, database, settings, Role.EDITOR)
    post_id, _ = await _draft(author)
    await author.run(
        "mutation P($id: ID!) { publishPost(id: $id) { post { status } } }", {"id": post_id}
    )
    reader = await _caller(client, database, settings, Role.READER)

    own = await _revisions(author, post_id)
    by_editor = await _revisions(editor, post_id)
    by_other = await other_author.run(REVISIONS, {"id": post_id})
    by_reader = await reader.run(REVISIONS, {"id": post_id})
    anonymous = await Caller(client, {}).run(REVISIONS, {"id": post_id})

    assert own["totalCount"] == by_editor["totalCount"] == 1
    assert own["nodes"][0]["author"]["username"] == by_editor["nodes"][0]["author"]["username"]
    assert by_other.get("errors") is None, by_other
    assert by_other["data"]["post"] == {"revisions": None}
    assert by_reader["data"]["post"] == {"revisions": None}
    assert anonymous["data"]["post"] == {"revisions": None}


async def test_a_revision_hidden_from_you_cannot_be_restored_or_fetched(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    author = await _caller(client, database, settings, Role.AUTHOR)
    other_author = await _caller(client, database, settings, Role.AUTHOR)
    post_id, seen = await _draft(author)
    await _update(author, post_id, seen, title="Changed")
    revision_id = (await _revisions(author, post_id))["nodes"][-1]["id"]
    node = "query N($id: ID!) { node(id: $id) { ... on PostRevision { title } } }"

    refused = await other_author.run(RESTORE, {"id": revision_id})
    hidden = await other_author.run(node, {"id": revision_id})
    shown = await author.run(node, {"id": revision_id})

    assert [error["extensions"]["code"] for error in refused["errors"]] == ["NOT_FOUND"]
    assert hidden["data"]["node"] is None
    assert shown["data"]["node"] == {"title": "First"}
    assert await _stored(database) == 2


LISTED = """
query Listed($first: Int!) {
  posts(first: $first, filter: {status: DRAFT}) {
    nodes { title revisions(first: 2) { totalCount nodes { title author { username } } } }
  }
}
"""


async def test_revisions_of_a_page_of_posts_cost_the_same_statements_for_any_page_size(
    client: httpx.AsyncClient, database: Database, settings: Settings, statements: StatementLog
) -> None:
    author = await _caller(client, database, settings, Role.AUTHOR)
    for _ in range(6):
        post_id, seen = await _draft(author)
        await _update(author, post_id, seen, title="Again")

    async def count(first: int) -> int:
        before = len(statements)
        body = await author.run(LISTED, {"first": first})
        nodes = body["data"]["posts"]["nodes"]
        assert len(nodes) == first
        assert all(node["revisions"]["totalCount"] == 2 for node in nodes)
        assert all(len(node["revisions"]["nodes"]) == 2 for node in nodes)
        return len(statements) - before

    assert await count(2) == await count(6)
