"""Query limits and cost: refused before any SQL runs, reported on every response."""

import httpx
import pytest

from models.database import Database
from settings import Settings
from tests.conftest import StatementLog
from tests.graphql import execute

NESTED = """
query ($posts: Int!, $comments: Int!) {
  posts(first: $posts) {
    nodes { title comments(first: $comments) { nodes { body author { displayName } } } }
  }
}
"""


async def test_every_response_reports_its_cost(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    body = await execute(client, NESTED, {"posts": 20, "comments": 10})

    # posts 1 + 20 x (nodes 1 + title 1 + comments 1 + 10 x (nodes 1 + body 1 + author 2))
    assert body["extensions"]["cost"] == {
        "requested": 1 + 20 * (1 + 1 + 1 + 10 * (1 + 1 + 2)),
        "limit": settings.max_query_cost,
    }


async def test_costly_query_is_refused_before_any_sql(
    client: httpx.AsyncClient, database: Database, settings: Settings, statements: StatementLog
) -> None:
    body = await execute(client, NESTED, {"posts": 100, "comments": 100})

    error = body["errors"][0]
    assert error["extensions"]["code"] == "QUERY_TOO_COSTLY"
    assert error["extensions"]["limit"] == settings.max_query_cost
    assert error["extensions"]["actual"] > settings.max_query_cost
    assert body["data"] is None
    assert len(statements) == 0


async def test_deep_query_is_refused(
    client: httpx.AsyncClient, database: Database, settings: Settings, statements: StatementLog
) -> None:
    inner = "id"
    for _ in range(settings.max_query_depth):
        inner = f"parent {{ {inner} }}"
    query = f"{{ posts {{ nodes {{ comments {{ nodes {{ {inner} }} }} }} }} }}"

    body = await execute(client, query)

    assert body["errors"][0]["extensions"]["code"] == "QUERY_TOO_DEEP"
    assert body["errors"][0]["extensions"]["limit"] == settings.max_query_depth
    assert len(statements) == 0


async def test_too_many_aliases_are_refused(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    aliases = " ".join(f"a{n}: __typename" for n in range(settings.max_query_aliases + 1))

    body = await execute(client, f"{{ {aliases} }}")

    assert body["errors"][0]["extensions"] == {
        "code": "TOO_MANY_ALIASES",
        "limit": settings.max_query_aliases,
        "actual": settings.max_query_aliases + 1,
    }


@pytest.mark.parametrize(
    "query",
    [
        "fragment F on Post { comments { nodes { body } } } { posts { nodes { ...F } } }",
        "{ posts { nodes { ... on Post { comments { nodes { body } } } } } }",
    ],
)
async def test_fragments_count_like_inline_selections(
    client: httpx.AsyncClient, database: Database, query: str
) -> None:
    body = await execute(client, query)

    # 1 + 20 * (1 + 1 + 20 * (1 + 1)) with default page sizes.
    assert body["extensions"]["cost"]["requested"] == 1 + 20 * (1 + 1 + 20 * 2)


async def test_api_limits_tells_clients_their_limits(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    body = await execute(client, "{ apiLimits { maxDepth maxAliases maxCost maxPageSize } }")

    assert body["data"]["apiLimits"] == {
        "maxDepth": settings.max_query_depth,
        "maxAliases": settings.max_query_aliases,
        "maxCost": settings.max_query_cost,
        "maxPageSize": settings.max_page_size,
    }


async def test_huge_documents_are_refused_by_the_parser(
    client: httpx.AsyncClient, database: Database, settings: Settings, statements: StatementLog
) -> None:
    query = "{ " + " ".join("__typename" for _ in range(settings.max_query_tokens)) + " }"

    body = await execute(client, query)

    assert body["data"] is None
    assert f"more than {settings.max_query_tokens} tokens" in body["errors"][0]["message"]
    assert len(statements) == 0
