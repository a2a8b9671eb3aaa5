"""Text arguments that reach SQL are bounded by their columns, and refused before any SQL."""

import httpx
import pytest

from models.database import Database
from tests.conftest import StatementLog
from tests.factories import create_post, create_user
from tests.graphql import data, error_codes, execute

POST = "query Post($slug: String!) { post(slug: $slug) { title } }"
TAG = "query Tag($slug: String!) { tag(slug: $slug) { name } }"
AUTHOR = "query Author($username: String!) { author(username: $username) { username } }"
POSTS = "query Posts($filter: PostFilter) { posts(filter: $filter) { totalCount } }"

OVERSIZED = [
    (POST, {"slug": "s" * 221}, "slug may hold at most 220 characters.", {"post": None}),
    (TAG, {"slug": "s" * 81}, "slug may hold at most 80 characters.", {"tag": None}),
    (
        AUTHOR,
        {"username": "u" * 41},
        "username may hold at most 40 characters.",
        {"author": None},
    ),
    (
        POSTS,
        {"filter": {"authorUsername": "u" * 130_000}},
        "authorUsername may hold at most 40 characters.",
        None,
    ),
    (POSTS, {"filter": {"tagSlug": "t" * 81}}, "tagSlug may hold at most 80 characters.", None),
]


@pytest.mark.parametrize(
    ("document", "variables", "message", "expected"),
    OVERSIZED,
    ids=["post slug", "tag slug", "author username", "authorUsername filter", "tagSlug filter"],
)
async def test_text_longer_than_its_column_is_refused_before_any_sql(
    client: httpx.AsyncClient,
    database: Database,
    statements: StatementLog,
    document: str,
    variables: dict[str, object],
    message: str,
    expected: dict[str, None] | None,
) -> None:
    body = await execute(client, document, variables)

    assert [error["message"] for error in body["errors"]] == [message]
    assert error_codes(body) == ["BAD_USER_INPUT"]
    assert body["data"] == expected
    assert len(statements) == 0


async def test_text_as_long_as_its_column_is_looked_up(
    client: httpx.AsyncClient, database: Database
) -> None:
    author = await create_user(database, username="u" * 40)
    await create_post(database, author_id=author, title="Long", slug="s" * 220)

    found = await data(client, POST, {"slug": "s" * 220})
    filtered = await data(client, POSTS, {"filter": {"authorUsername": "u" * 40}})

    assert found == {"post": {"title": "Long"}}
    assert filtered == {"posts": {"totalCount": 1}}
