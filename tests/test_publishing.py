"""Writing posts: who may do what, validation, stale edits, scheduling, and no half-writes."""

import asyncio
import base64
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from models.columns import utc_now
from models.database import Database
from models.tables import PostStatus, Role, post_tags_table, posts_table, tags_table
from resolvers import post_writes
from resolvers.tokens import issue_access_token
from settings import Settings
from tests.factories import create_post, create_user

CREATE = """
mutation Create($input: CreatePostInput!) {
  createPost(input: $input) {
    post { id title slug status updatedAt tags { name slug } author { username } }
    errors { field code message }
  }
}
"""
UPDATE = """
mutation Update($input: UpdatePostInput!) {
  updatePost(input: $input) { post { title slug updatedAt tags { name } } errors { field code } }
}
"""
PUBLISH = """
mutation Publish($id: ID!, $at: DateTime) {
  publishPost(id: $id, publishedAt: $at) { post { status publishedAt } errors { code } }
}
"""
UNPUBLISH = "mutation ($id: ID!) { unpublishPost(id: $id) { post { status } } }"
ARCHIVE = "mutation ($id: ID!) { archivePost(id: $id) { post { status } } }"
DELETE = "mutation ($id: ID!) { deletePost(id: $id) { deletedId } }"
PUBLIC = "query ($slug: String!) { post(slug: $slug) { title } }"


class Caller:
    def __init__(self, client: httpx.AsyncClient, headers: dict[str, str]) -> None:
        self.client, self.headers = client, headers

    async def run(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        response = await self.client.post(
            "/graphql", json={"query": query, "variables": variables or {}}, headers=self.headers
        )
        body: dict[str, Any] = response.json()
        return body


async def _caller(
    client: httpx.AsyncClient, database: Database, settings: Settings, role: Role | None
) -> tuple[Caller, int | None]:
    if role is None:
        return Caller(client, {}), None
    user_id = await create_user(database, role=role)
    token, _ = issue_access_token(settings, user_id=user_id, role=role)
    return Caller(client, {"Authorization": f"Bearer {token}"}), user_id


def _id(post_id: int) -> str:
    return base64.b64encode(f"Post:{post_id}".encode()).decode()


def _codes(body: dict[str, Any]) -> list[str]:
    return [error["extensions"]["code"] for error in body.get("errors", [])]


async def _count(database: Database, table: sa.Table) -> int:
    async with database.engine.connect() as connection:
        return int(await connection.scalar(sa.select(sa.func.count()).select_from(table)) or 0)


async def test_author_creates_a_draft_with_tags_and_a_unique_slug(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    author, _ = await _caller(client, database, settings, Role.AUTHOR)
    post = {"title": "Hello, World!", "body": "Hi.", "tags": ["Python", "python ", "Web Dev"]}

    first = (await author.run(CREATE, {"input": post}))["data"]["createPost"]
    second = (await author.run(CREATE, {"input": post}))["data"]["createPost"]

    assert first["errors"] == []
    assert first["post"]["status"] == "DRAFT"
    assert first["post"]["slug"] == "hello-world"
    assert second["post"]["slug"] == "hello-world-2"
    assert first["post"]["tags"] == [
        {"name": "Python", "slug": "python"},
        {"name": "Web Dev", "slug": "web-dev"},
    ]
    assert await _count(database, tags_table) == 2
    assert (await Caller(client, {}).run(PUBLIC, {"slug": "hello-world"}))["data"] == {"post": None}


@pytest.mark.parametrize(
    ("role", "code"),
    [(None, "UNAUTHENTICATED"), (Role.READER, "FORBIDDEN")],
)
async def test_readers_and_anonymous_cannot_create_posts(
    client: httpx.AsyncClient, database: Database, settings: Settings, role: Role | None, code: str
) -> None:
    caller, _ = await _caller(client, database, settings, role)

    body = await caller.run(CREATE, {"input": {"title": "No", "body": "No."}})

    assert _codes(body) == [code]
    assert await _count(database, posts_table) == 0


@pytest.mark.parametrize(
    ("post", "field", "code"),
    [
        ({"title": "", "body": "x"}, "title", "TITLE_LENGTH"),
        ({"title": "t" * 201, "body": "x"}, "title", "TITLE_LENGTH"),
        ({"title": "ok", "body": "x" * 100_001}, "body", "BODY_TOO_LONG"),
        ({"title": "ok", "body": "x", "excerpt": "e" * 1_001}, "excerpt", "EXCERPT_TOO_LONG"),
        ({"title": "ok", "body": "x", "tags": ["!!!"]}, "tags", "TAG_INVALID"),
        (
            {"title": "ok", "body": "x", "tags": [f"t{n}" for n in range(11)]},
            "tags",
            "TOO_MANY_TAGS",
        ),
    ],
)
async def test_invalid_posts_are_refused_and_write_nothing(
    client: httpx.AsyncClient,
    database: Database,
    settings: Settings,
    post: dict[str, Any],
    field: str,
    code: str,
) -> None:
    author, _ = await _caller(client, database, settings, Role.AUTHOR)

    payload = (await author.run(CREATE, {"input": post}))["data"]["createPost"]

    assert payload["post"] is None
    assert [(error["field"], error["code"]) for error in payload["errors"]] == [(field, code)]
    assert await _count(database, posts_table) == 0
    assert await _count(database, tags_table) == 0


Variables = Callable[[int, str], dict[str, Any]]
OPERATIONS: dict[str, tuple[str, Variables]] = {
    "update": (
        UPDATE,
        lambda pid, seen: {"input": {"id": _id(pid), "updatedAt": seen, "title": "New"}},
    ),
    "publish": (PUBLISH, lambda pid, seen: {"id": _id(pid)}),
    "unpublish": (UNPUBLISH, lambda pid, seen: {"id": _id(pid)}),
    "archive": (ARCHIVE, lambda pid, seen: {"id": _id(pid)}),
    "delete": (DELETE, lambda pid, seen: {"id": _id(pid)}),
}


@pytest.mark.parametrize("operation", list(OPERATIONS))
@pytest.mark.parametrize(
    ("who", "expected"),
    [
        ("owner", None),
        ("other author", "FORBIDDEN"),
        ("editor", None),
        ("admin", None),
        ("reader", "FORBIDDEN"),
        ("anonymous", "UNAUTHENTICATED"),
    ],
)
async def test_who_may_change_a_published_post(
    client: httpx.AsyncClient,
    database: Database,
    settings: Settings,
    operation: str,
    who: str,
    expected: str | None,
) -> None:
    owner, owner_id = await _caller(client, database, settings, Role.AUTHOR)
    assert owner_id is not None
    callers = {
        "owner": owner,
        "other author": (await _caller(client, database, settings, Role.AUTHOR))[0],
        "editor": (await _caller(client, database, settings, Role.EDITOR))[0],
        "admin": (await _caller(client, database, settings, Role.ADMIN))[0],
        "reader": (await _caller(client, database, settings, Role.READER))[0],
        "anonymous": Caller(client, {}),
    }
    post_id = await create_post(database, author_id=owner_id, title="Original", slug="original")
    async with database.engine.connect() as connection:
        before = (await connection.execute(sa.select(posts_table))).one()
    query, variables = OPERATIONS[operation]

    body = await callers[who].run(query, variables(post_id, before.updated_at.isoformat()))

    async with database.engine.connect() as connection:
        after = (await connection.execute(sa.select(posts_table))).all()
    if expected is None:
        assert "errors" not in body, body
        assert after != [before]
    else:
        assert _codes(body) == [expected]
        assert after == [before]


async def test_drafts_of_others_are_not_found_rather_than_forbidden(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    _, owner_id = await _caller(client, database, settings, Role.AUTHOR)
    other, _ = await _caller(client, database, settings, Role.AUTHOR)
    assert owner_id is not None
    draft = await create_post(database, author_id=owner_id, status=PostStatus.DRAFT)

    body = await other.run(PUBLISH, {"id": _id(draft)})

    assert _codes(body) == ["NOT_FOUND"]


async def test_stale_edit_is_refused_with_conflict(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    author, _ = await _caller(client, database, settings, Role.AUTHOR)
    created = (await author.run(CREATE, {"input": {"title": "One", "body": "b"}}))["data"]
    post = created["createPost"]["post"]
    seen = post["updatedAt"]
    edit = {"input": {"id": post["id"], "updatedAt": seen, "title": "Two", "tags": ["New"]}}
    first = (await author.run(UPDATE, edit))["data"]["updatePost"]

    stale = {"input": {"id": post["id"], "updatedAt": seen, "title": "Three"}}
    second = (await author.run(UPDATE, stale))["data"]["updatePost"]

    assert first["post"]["title"] == "Two"
    assert first["post"]["slug"] == "one"  # stable unless asked
    assert first["post"]["tags"] == [{"name": "New"}]
    assert second == {"post": None, "errors": [{"field": "updatedAt", "code": "CONFLICT"}]}
    async with database.engine.connect() as connection:
        assert await connection.scalar(sa.select(posts_table.c.title)) == "Two"


async def test_slug_follows_the_title_only_when_asked(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    author, _ = await _caller(client, database, settings, Role.AUTHOR)
    post = (await author.run(CREATE, {"input": {"title": "Old name", "body": "b"}}))["data"][
        "createPost"
    ]["post"]
    edit = {
        "input": {
            "id": post["id"],
            "updatedAt": post["updatedAt"],
            "title": "New name",
            "regenerateSlug": True,
        }
    }

    result = (await author.run(UPDATE, edit))["data"]["updatePost"]

    assert result["post"]["slug"] == "new-name"


async def test_scheduled_post_appears_when_its_time_comes(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    author, author_id = await _caller(client, database, settings, Role.AUTHOR)
    assert author_id is not None
    post_id = await create_post(
        database, author_id=author_id, title="Later", slug="later", status=PostStatus.DRAFT
    )
    anonymous = Caller(client, {})

    future = (utc_now() + timedelta(hours=1)).isoformat()
    scheduled = (await author.run(PUBLISH, {"id": _id(post_id), "at": future}))["data"]
    hidden = (await anonymous.run(PUBLIC, {"slug": "later"}))["data"]
    past = (utc_now() - timedelta(seconds=1)).isoformat()
    await author.run(PUBLISH, {"id": _id(post_id), "at": past})
    shown = (await anonymous.run(PUBLIC, {"slug": "later"}))["data"]

    assert scheduled["publishPost"]["post"]["status"] == "PUBLISHED"
    assert hidden == {"post": None}
    assert shown == {"post": {"title": "Later"}}


async def test_delete_removes_the_post_and_its_tags_links(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    author, _ = await _caller(client, database, settings, Role.AUTHOR)
    post = await author.run(CREATE, {"input": {"title": "Gone", "body": "b", "tags": ["T"]}})
    post_id = post["data"]["createPost"]["post"]["id"]

    result = await author.run(DELETE, {"id": post_id})

    assert result["data"] == {"deletePost": {"deletedId": post_id}}
    assert await _count(database, posts_table) == 0
    assert await _count(database, post_tags_table) == 0


async def test_malformed_post_id_is_bad_user_input(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    author, _ = await _caller(client, database, settings, Role.AUTHOR)

    body = await author.run(PUBLISH, {"id": "bm9wZQ=="})

    assert _codes(body) == ["BAD_USER_INPUT"]


async def test_concurrent_posts_may_create_the_same_new_tag(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    author, _ = await _caller(client, database, settings, Role.AUTHOR)
    posts = [{"title": f"Post {n}", "body": "B", "tags": ["Brand New"]} for n in range(4)]

    results = await asyncio.gather(*(author.run(CREATE, {"input": post}) for post in posts))

    assert [_codes(result) for result in results] == [[]] * 4
    assert {
        tuple(tag["slug"] for tag in r["data"]["createPost"]["post"]["tags"]) for r in results
    } == {("brand-new",)}
    assert await _count(database, tags_table) == 1


POST_WRITES_BY_ID = {
    "update": (
        "mutation ($id: ID!) { updatePost(input: {id: $id, updatedAt: "
        '"2030-01-01T00:00:00+00:00", title: "Taken"}) { errors { code } } }'
    ),
    "publish": PUBLISH,
    "unpublish": UNPUBLISH,
    "archive": ARCHIVE,
    "delete": DELETE,
}


@pytest.mark.parametrize("write", POST_WRITES_BY_ID)
async def test_writes_to_a_hidden_post_read_like_writes_to_a_missing_one(
    client: httpx.AsyncClient, database: Database, settings: Settings, write: str
) -> None:
    _, owner_id = await _caller(client, database, settings, Role.AUTHOR)
    other, _ = await _caller(client, database, settings, Role.AUTHOR)
    assert owner_id is not None
    draft = await create_post(database, author_id=owner_id, status=PostStatus.DRAFT)
    before = await _post_rows(database)

    on_hidden = await other.run(POST_WRITES_BY_ID[write], {"id": _id(draft)})
    on_missing = await other.run(POST_WRITES_BY_ID[write], {"id": _id(draft + 1000)})

    assert [error["message"] for error in on_hidden["errors"]] == ["No such post."]
    assert _codes(on_hidden) == ["NOT_FOUND"]
    assert (on_hidden["data"], on_hidden["errors"]) == (on_missing["data"], on_missing["errors"])
    assert await _post_rows(database) == before


async def _post_rows(database: Database) -> list[tuple[Any, ...]]:
    async with database.engine.connect() as connection:
        result = await connection.execute(
            sa.select(posts_table.c.title, posts_table.c.status, posts_table.c.updated_at)
        )
        return [tuple(row) for row in result]


async def test_concurrent_posts_with_one_title_all_get_distinct_slugs(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    author, _ = await _caller(client, database, settings, Role.AUTHOR)
    create = {"input": {"title": "Same title", "body": "B"}}

    results = await asyncio.gather(*(author.run(CREATE, create) for _ in range(20)))

    assert [_codes(result) for result in results] == [[]] * 20
    assert [result["data"]["createPost"]["errors"] for result in results] == [[]] * 20
    slugs = {result["data"]["createPost"]["post"]["slug"] for result in results}
    assert slugs == {"same-title"} | {f"same-title-{number}" for number in range(2, 21)}
    assert await _count(database, posts_table) == 20


async def test_concurrent_slug_regenerations_all_get_distinct_slugs(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    author, author_id = await _caller(client, database, settings, Role.AUTHOR)
    assert author_id is not None
    edits = []
    for _ in range(20):
        post = await create_post(database, author_id=author_id, status=PostStatus.DRAFT)
        async with database.engine.connect() as connection:
            seen = await connection.scalar(
                sa.select(posts_table.c.updated_at).where(posts_table.c.id == post)
            )
        assert seen is not None
        edits.append(
            {
                "input": {
                    "id": _id(post),
                    "updatedAt": seen.isoformat(),
                    "title": "Same title",
                    "regenerateSlug": True,
                }
            }
        )

    results = await asyncio.gather(*(author.run(UPDATE, edit) for edit in edits))

    assert [_codes(result) for result in results] == [[]] * 20
    assert [result["data"]["updatePost"]["errors"] for result in results] == [[]] * 20
    slugs = {result["data"]["updatePost"]["post"]["slug"] for result in results}
    assert slugs == {"same-title"} | {f"same-title-{number}" for number in range(2, 21)}


async def test_a_slug_taken_while_the_write_waits_is_retried_with_the_next_one(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    author, author_id = await _caller(client, database, settings, Role.AUTHOR)
    now = utc_now()
    held = {
        "author_id": author_id,
        "title": "Held elsewhere",
        "slug": "held",
        "status": PostStatus.DRAFT,
        "created_at": now,
        "updated_at": now,
    }

    # Another writer has inserted the slug and not committed yet: the new post cannot see it,
    # and its own insert waits for that writer, then collides (PostgreSQL) or waits to start.
    async with database.engine.begin() as other_writer:
        await other_writer.execute(sa.insert(posts_table), held)
        creating = asyncio.ensure_future(
            author.run(CREATE, {"input": {"title": "Held", "body": "B", "tags": ["Lava"]}})
        )
        await asyncio.sleep(0.5)
    result = await creating

    assert result["data"]["createPost"]["errors"] == []
    assert result["data"]["createPost"]["post"]["slug"] == "held-2"
    assert result["data"]["createPost"]["post"]["tags"] == [{"name": "Lava", "slug": "lava"}]
    assert await _count(database, posts_table) == 2
    assert await _count(database, post_tags_table) == 1


async def test_no_free_slug_after_the_last_try_is_a_problem_not_an_error(
    client: httpx.AsyncClient,
    database: Database,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    author, _ = await _caller(client, database, settings, Role.AUTHOR)
    monkeypatch.setattr(post_writes, "SLUG_ATTEMPTS", 0)  # as if every try had collided

    result = await author.run(CREATE, {"input": {"title": "Crowded", "body": "B"}})

    assert result["data"]["createPost"] == {
        "post": None,
        "errors": [
            {
                "field": "title",
                "code": "SLUG_BUSY",
                "message": "Other posts with this title are being saved at this moment: "
                "save again.",
            }
        ],
    }
    assert await _count(database, posts_table) == 0
