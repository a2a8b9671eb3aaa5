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

    # posts 1 + nodes 1 + 20 x (post 1 + title 1 + comments 1 + nodes 1
    #   + 10 x (comment 1 + body 1 + author 2))
    assert body["extensions"]["cost"] == {
        "requested": 1 + 1 + 20 * (1 + 1 + 1 + 1 + 10 * (1 + 1 + 2)),
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

    # posts, nodes, 20 x (post, comments, nodes, 20 x (comment, body)), default page sizes.
    assert body["extensions"]["cost"]["requested"] == 1 + 1 + 20 * (1 + 1 + 1 + 20 * 2)


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
    assert body["errors"][0]["extensions"] == {
        "code": "TOO_MANY_TOKENS",
        "limit": settings.max_query_tokens,
        "actual": settings.max_query_tokens + 1,
    }
    assert len(statements) == 0


async def test_repeated_fields_are_refused_before_validation(
    client: httpx.AsyncClient,
    database: Database,
    settings: Settings,
    statements: StatementLog,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from schema import limits

    def never(*_args: object) -> None:
        raise AssertionError("validated a document over the limits")

    monkeypatch.setattr(limits, "validate", never)
    limits._validate.cache_clear()
    repeated = " ".join(["title"] * (settings.max_repeated_fields + 1))
    query = f"{{ posts {{ nodes {{ {repeated} }} }} }}"

    body = await execute(client, query)

    assert body["errors"][0]["extensions"] == {
        "code": "TOO_MANY_REPEATED_FIELDS",
        "limit": settings.max_repeated_fields,
        "actual": settings.max_repeated_fields + 1,
    }
    assert len(statements) == 0


async def test_fields_repeated_through_fragments_count_too(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    spreads = " ".join(f"...F{i}" for i in range(settings.max_repeated_fields + 1))
    fragments = " ".join(
        f"fragment F{i} on Post {{ title }}" for i in range(settings.max_repeated_fields + 1)
    )
    body = await execute(client, f"{{ posts {{ nodes {{ {spreads} }} }} }} {fragments}")

    assert body["errors"][0]["extensions"]["code"] == "TOO_MANY_REPEATED_FIELDS"


async def test_a_field_repeated_within_the_limit_runs(client: httpx.AsyncClient) -> None:
    body = await execute(client, "{ posts { nodes { title title id id } } }")

    assert "errors" not in body


async def test_batches_are_off_by_default(client: httpx.AsyncClient) -> None:
    response = await client.post("/graphql", json=[{"query": "{ __typename }"}] * 2)

    assert response.status_code == 400
    assert response.json()["errors"][0]["extensions"]["code"] == "BATCHING_DISABLED"


async def test_batches_are_bounded_and_share_one_cost_limit(
    settings: Settings, database: Database
) -> None:
    statements = StatementLog()
    from tests.conftest import client_of

    query = "{ posts(first: 10) { nodes { title } } }"  # cost 1 + 1 + 10 x 2
    async with client_of(
        settings, log=statements, max_batch_operations=3, max_query_cost=50
    ) as client:
        two = await client.post("/graphql", json=[{"query": query}] * 2)
        four = await client.post("/graphql", json=[{"query": "{ __typename }"}] * 4)
        statements.statements.clear()
        three = await client.post("/graphql", json=[{"query": query}] * 3)

    assert two.status_code == 200
    assert [result["data"] for result in two.json()] == [{"posts": {"nodes": []}}] * 2
    assert four.status_code == 400
    assert four.json()["errors"][0]["extensions"] == {
        "code": "TOO_MANY_OPERATIONS",
        "limit": 3,
        "actual": 4,
    }
    results = three.json()
    assert [result.get("data") for result in results[:2]] == [{"posts": {"nodes": []}}] * 2
    assert results[2]["errors"][0]["extensions"] == {
        "code": "QUERY_TOO_COSTLY",
        "limit": 50,
        "actual": 66,
    }
    assert len(statements) == 2  # the refused third operation sent none
