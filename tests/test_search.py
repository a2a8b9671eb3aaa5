"""Full-text search: matching, ranking, visibility and pagination."""

import httpx
import pytest

from models.database import Database
from models.tables import PostStatus
from settings import Settings
from tests.conftest import StatementLog
from tests.factories import create_post, create_user
from tests.graphql import data, error_codes, execute

SEARCH = """
query Search($query: String!, $first: Int, $after: String) {
  search(query: $query, first: $first, after: $after) {
    totalCount
    nodes { title }
    pageInfo { hasNextPage endCursor }
  }
}
"""


async def test_title_matches_rank_above_body_matches(
    client: httpx.AsyncClient, database: Database
) -> None:
    author = await create_user(database)
    await create_post(
        database, author_id=author, title="Gardening notes", body="Mostly about volcanoes."
    )
    await create_post(database, author_id=author, title="Volcanoes", body="Lava and ash.")
    await create_post(database, author_id=author, title="Unrelated", body="Nothing here.")

    result = (await data(client, SEARCH, {"query": "volcanoes"}))["search"]

    assert [node["title"] for node in result["nodes"]] == ["Volcanoes", "Gardening notes"]
    assert result["totalCount"] == 2


async def test_search_matches_word_stems(client: httpx.AsyncClient, database: Database) -> None:
    author = await create_user(database)
    await create_post(database, author_id=author, title="Running far", body="We ran.")

    result = (await data(client, SEARCH, {"query": "runs"}))["search"]

    assert [node["title"] for node in result["nodes"]] == ["Running far"]


async def test_search_hides_drafts(client: httpx.AsyncClient, database: Database) -> None:
    author = await create_user(database)
    await create_post(database, author_id=author, title="Secret volcano", status=PostStatus.DRAFT)

    result = (await data(client, SEARCH, {"query": "volcano"}))["search"]

    assert result == {
        "totalCount": 0,
        "nodes": [],
        "pageInfo": {"hasNextPage": False, "endCursor": None},
    }


async def test_search_pages_through_equal_ranks(
    client: httpx.AsyncClient, database: Database
) -> None:
    author = await create_user(database)
    for number in range(5):
        await create_post(database, author_id=author, title=f"Comet {number}", body="Same body.")

    seen: list[str] = []
    after = None
    while True:
        page = await data(client, SEARCH, {"query": "comet", "first": 2, "after": after})
        seen.extend(node["title"] for node in page["search"]["nodes"])
        if not page["search"]["pageInfo"]["hasNextPage"]:
            break
        after = page["search"]["pageInfo"]["endCursor"]

    assert sorted(seen) == [f"Comet {number}" for number in range(5)]
    assert len(seen) == 5


async def test_search_syntax_characters_are_plain_text(
    client: httpx.AsyncClient, database: Database
) -> None:
    author = await create_user(database)
    await create_post(database, author_id=author, title="Quotes and stars")

    result = await data(client, SEARCH, {"query": 'quotes" * ( ^ :'})

    assert [node["title"] for node in result["search"]["nodes"]] == ["Quotes and stars"]


async def test_empty_search_is_bad_user_input(
    client: httpx.AsyncClient, database: Database
) -> None:
    body = await execute(client, SEARCH, {"query": "  !! "})

    assert error_codes(body) == ["BAD_USER_INPUT"]


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("volcano " * 16_000, "query may hold at most 200 characters; search for fewer words."),
        (" ".join(["lava"] * 21), "query may hold at most 20 words; search for fewer words."),
        ("a-" * 21, "query may hold at most 20 words; search for fewer words."),
    ],
    ids=["130 KB", "21 words", "21 joined words"],
)
async def test_oversized_search_is_refused_before_any_sql(
    client: httpx.AsyncClient,
    database: Database,
    settings: Settings,
    statements: StatementLog,
    query: str,
    message: str,
) -> None:
    body = await execute(client, SEARCH, {"query": query})

    assert body["data"] is None
    assert [error["message"] for error in body["errors"]] == [message]
    assert error_codes(body) == ["BAD_USER_INPUT"]
    assert len(statements) == 0


async def test_search_at_its_limits_runs(client: httpx.AsyncClient, database: Database) -> None:
    author = await create_user(database)
    await create_post(database, author_id=author, title="Lava", body="Lava flows.")
    query = " ".join(["lava"] * 20)

    result = (await data(client, SEARCH, {"query": query + " " * (200 - len(query))}))["search"]

    assert [node["title"] for node in result["nodes"]] == ["Lava"]
