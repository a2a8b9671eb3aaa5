"""Keyset pagination across page boundaries, forwards and backwards, with ties in the key."""

import base64
from datetime import timedelta

import httpx
import pytest

from models.columns import utc_now
from models.database import Database
from tests.conftest import StatementLog
from tests.factories import create_comment, create_post, create_user
from tests.graphql import data, error_codes, execute

POSTS_PAGE = """
query Posts($first: Int, $after: String, $last: Int, $before: String, $orderBy: PostOrder) {
  posts(first: $first, after: $after, last: $last, before: $before, orderBy: $orderBy) {
    nodes { title }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
  }
}
"""

COMMENTS_PAGE = """
query Comments($slug: String!, $first: Int, $after: String) {
  post(slug: $slug) {
    comments(first: $first, after: $after) {
      totalCount
      edges { cursor node { body } }
      pageInfo { hasNextPage endCursor }
    }
  }
}
"""


async def _posts_with_tied_dates(database: Database, count: int) -> list[str]:
    """Posts sharing three publication times, so that pages split inside runs of equal keys."""
    author = await create_user(database)
    base = utc_now() - timedelta(days=1)
    titles = []
    for number in range(count):
        title = f"Post {number:02d}"
        await create_post(
            database,
            author_id=author,
            title=title,
            published_at=base - timedelta(hours=number % 3),
        )
        titles.append(title)
    return titles


async def _walk_forward(
    client: httpx.AsyncClient, *, page_size: int, order_by: dict[str, str] | None = None
) -> list[str]:
    seen: list[str] = []
    after = None
    while True:
        variables = {"first": page_size, "after": after, "orderBy": order_by}
        page = (await data(client, POSTS_PAGE, variables))["posts"]
        seen.extend(node["title"] for node in page["nodes"])
        assert page["pageInfo"]["hasPreviousPage"] is (after is not None)
        if not page["pageInfo"]["hasNextPage"]:
            return seen
        after = page["pageInfo"]["endCursor"]


async def _walk_backward(client: httpx.AsyncClient, *, page_size: int) -> list[str]:
    seen: list[str] = []
    before = None
    while True:
        page = (await data(client, POSTS_PAGE, {"last": page_size, "before": before}))["posts"]
        seen[:0] = [node["title"] for node in page["nodes"]]
        if not page["pageInfo"]["hasPreviousPage"]:
            return seen
        before = page["pageInfo"]["startCursor"]


async def test_forward_pages_visit_every_post_once_in_order(
    client: httpx.AsyncClient, database: Database
) -> None:
    await _posts_with_tied_dates(database, 11)
    everything = (await data(client, POSTS_PAGE, {"first": 50}))["posts"]["nodes"]

    walked = await _walk_forward(client, page_size=4)

    assert walked == [node["title"] for node in everything]
    assert len(set(walked)) == 11


async def test_backward_pages_match_forward_order(
    client: httpx.AsyncClient, database: Database
) -> None:
    await _posts_with_tied_dates(database, 11)

    forward = await _walk_forward(client, page_size=3)
    backward = await _walk_backward(client, page_size=3)

    assert backward == forward


@pytest.mark.parametrize(
    "order_by",
    [
        {"field": "TITLE", "direction": "ASC"},
        {"field": "TITLE", "direction": "DESC"},
        {"field": "PUBLISHED_AT", "direction": "ASC"},
        {"field": "COMMENT_COUNT", "direction": "DESC"},
        {"field": "COMMENT_COUNT", "direction": "ASC"},
    ],
)
async def test_every_order_paginates_without_gaps_or_duplicates(
    client: httpx.AsyncClient, database: Database, order_by: dict[str, str]
) -> None:
    await _posts_with_tied_dates(database, 9)

    walked = await _walk_forward(client, page_size=2, order_by=order_by)
    whole = (await data(client, POSTS_PAGE, {"first": 50, "orderBy": order_by}))["posts"]

    assert walked == [node["title"] for node in whole["nodes"]]
    assert len(set(walked)) == 9


async def test_title_order_sorts_by_title(client: httpx.AsyncClient, database: Database) -> None:
    author = await create_user(database)
    for title in ("Banana", "Apple", "Cherry"):
        await create_post(database, author_id=author, title=title)

    result = await data(client, POSTS_PAGE, {"orderBy": {"field": "TITLE", "direction": "ASC"}})

    assert [node["title"] for node in result["posts"]["nodes"]] == ["Apple", "Banana", "Cherry"]


async def test_comment_count_order_counts_visible_comments(
    client: httpx.AsyncClient, database: Database
) -> None:
    author = await create_user(database)
    quiet = await create_post(database, author_id=author, title="Quiet")
    busy = await create_post(database, author_id=author, title="Busy")
    for _ in range(3):
        await create_comment(database, post_id=busy, author_id=author)
    await create_comment(database, post_id=quiet, author_id=author)

    order = {"field": "COMMENT_COUNT", "direction": "DESC"}
    result = await data(client, POSTS_PAGE, {"orderBy": order})

    assert [node["title"] for node in result["posts"]["nodes"]] == ["Busy", "Quiet"]


async def test_default_page_size_is_twenty(client: httpx.AsyncClient, database: Database) -> None:
    await _posts_with_tied_dates(database, 23)

    page = (await data(client, POSTS_PAGE))["posts"]

    assert len(page["nodes"]) == 20
    assert page["pageInfo"]["hasNextPage"] is True


@pytest.mark.parametrize(("argument", "value"), [("first", 101), ("first", -1), ("last", 101)])
async def test_out_of_range_page_size_is_refused(
    client: httpx.AsyncClient, database: Database, argument: str, value: int
) -> None:
    body = await execute(client, POSTS_PAGE, {argument: value})

    assert error_codes(body) == ["BAD_USER_INPUT"]
    assert body["errors"][0]["message"] == f"{argument} must be between 0 and 100."


async def test_first_and_last_together_are_refused(
    client: httpx.AsyncClient, database: Database
) -> None:
    body = await execute(client, POSTS_PAGE, {"first": 2, "last": 2})

    assert error_codes(body) == ["BAD_USER_INPUT"]


@pytest.mark.parametrize(
    "cursor",
    [
        "not-base64-$$$",
        "WyJ0aXRsZSIsIkEiLDFd",  # a TITLE cursor used with the PUBLISHED_AT order
        "eyJhIjogMX0",  # valid base64 JSON of the wrong shape
        "WyJwdWJsaXNoZWQiLCJub3QgYSBkYXRlIiwxXQ",  # a date that is not a date
        "WyJwdWJsaXNoZWQiLCIyMDI2LTAxLTAxVDAwOjAwOjAwKzAwOjAwIiwiMSJd",  # id as a string
    ],
)
async def test_tampered_cursor_is_a_bad_cursor_error(
    client: httpx.AsyncClient, database: Database, cursor: str
) -> None:
    body = await execute(client, POSTS_PAGE, {"first": 2, "after": cursor})

    assert error_codes(body) == ["BAD_CURSOR"]
    assert body["data"] is None


async def test_nested_comment_pages_continue_after_cursor(
    client: httpx.AsyncClient, database: Database
) -> None:
    author = await create_user(database)
    post = await create_post(database, author_id=author, slug="threaded")
    moment = utc_now() - timedelta(hours=2)
    for number in range(5):
        # Two comments share each timestamp: the id must break the tie.
        await create_comment(
            database,
            post_id=post,
            author_id=author,
            body=f"c{number}",
            created_at=moment + timedelta(minutes=number // 2),
        )

    first = (await data(client, COMMENTS_PAGE, {"slug": "threaded", "first": 2}))["post"]
    cursor = first["comments"]["pageInfo"]["endCursor"]
    second = await data(client, COMMENTS_PAGE, {"slug": "threaded", "first": 2, "after": cursor})
    third_cursor = second["post"]["comments"]["pageInfo"]["endCursor"]
    third = await data(
        client, COMMENTS_PAGE, {"slug": "threaded", "first": 2, "after": third_cursor}
    )

    bodies = [
        edge["node"]["body"]
        for page in (first, second["post"], third["post"])
        for edge in page["comments"]["edges"]
    ]
    assert bodies == ["c0", "c1", "c2", "c3", "c4"]
    assert first["comments"]["totalCount"] == 5
    assert third["post"]["comments"]["pageInfo"]["hasNextPage"] is False


TAGS_PAGE = "query Tags($after: String) { tags(first: 2, after: $after) { nodes { name } } }"
AUTHORS_PAGE = """
query Authors($after: String) { authors(first: 2, after: $after) { nodes { username } } }
"""
SEARCH_PAGE = """
query Search($after: String) { search(query: "lava", first: 2, after: $after) { nodes { title } } }
"""
TITLE_ORDER = {"field": "TITLE", "direction": "ASC"}
# Each connection with the tag its cursors carry, so that only the payload is wrong.
CONNECTIONS = {
    "posts": (POSTS_PAGE, {"first": 2, "orderBy": TITLE_ORDER}, b"title"),
    "tags": (TAGS_PAGE, {}, b"name"),
    "authors": (AUTHORS_PAGE, {}, b"username"),
    "search": (SEARCH_PAGE, {}, b"rank"),
}
MALFORMED_PAYLOADS = {
    "lone surrogate": b'["%s","\\ud800",1]',
    "escaped NUL": b'["%s","a\\u0000",1]',
    "invalid UTF-8": b'["%s","\xff",1]',
    "not JSON": b'["%s",',
    "nested 3,000 deep": b"[" * 3_000 + b"%s",
    "too long": b'["%s","' + b"a" * 4_000 + b'",1]',
}


@pytest.mark.parametrize("payload", MALFORMED_PAYLOADS.values(), ids=MALFORMED_PAYLOADS.keys())
@pytest.mark.parametrize("connection", CONNECTIONS)
async def test_malformed_cursor_is_a_bad_cursor_before_any_sql(
    client: httpx.AsyncClient,
    database: Database,
    statements: StatementLog,
    connection: str,
    payload: bytes,
) -> None:
    document, variables, tag = CONNECTIONS[connection]
    cursor = base64.urlsafe_b64encode(payload % tag).decode().rstrip("=")

    body = await execute(client, document, {**variables, "after": cursor})

    assert error_codes(body) == ["BAD_CURSOR"]
    assert body["data"] is None
    assert len(statements) == 0


@pytest.mark.parametrize("cursor", ["@@@@", "\u00e9t\u00e9"], ids=["not base64", "not ASCII"])
async def test_cursor_that_is_not_base64_is_a_bad_cursor_before_any_sql(
    client: httpx.AsyncClient, database: Database, statements: StatementLog, cursor: str
) -> None:
    body = await execute(client, TAGS_PAGE, {"after": cursor})

    assert error_codes(body) == ["BAD_CURSOR"]
    assert len(statements) == 0
