"""Query limits and cost: refused before any SQL runs, reported on every response."""

import asyncio
import json
import os
import time
from collections.abc import Awaitable
from hashlib import sha256
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from graphql import (
    FragmentDefinitionNode,
    GraphQLList,
    GraphQLObjectType,
    Lexer,
    OperationDefinitionNode,
    Source,
    TokenKind,
    get_introspection_query,
    get_nullable_type,
    parse,
)

from app import create_app
from models.database import Database
from resolvers.persisted import load_manifest
from schema import limits
from schema.cost import LIST_BOUNDS, PAGE_FIELDS, Limits, measure_document
from schema.documents import MANIFEST
from schema.root import create_schema
from settings import Settings
from tests.conftest import StatementLog, client_of
from tests.graphql import execute
from tests.live import running_quire
from tests.test_events import served
from tests.wsclient import graphql_socket

T = TypeVar("T")

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


API_LIMITS = """
{
  apiLimits {
    maxDepth maxAliases maxCost maxPageSize
    maxOperations maxFragments maxVariableDepth maxVariableValues
  }
}
"""


async def test_api_limits_tells_clients_their_limits(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    body = await execute(client, API_LIMITS)

    assert body["data"]["apiLimits"] == {
        "maxDepth": settings.max_query_depth,
        "maxAliases": settings.max_query_aliases,
        "maxCost": settings.max_query_cost,
        "maxPageSize": settings.max_page_size,
        "maxOperations": settings.max_query_operations,
        "maxFragments": settings.max_query_fragments,
        "maxVariableDepth": settings.max_variable_depth,
        "maxVariableValues": settings.max_variable_values,
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
    def never(*_args: object) -> None:
        raise AssertionError("validated a document over the limits")

    monkeypatch.setattr(limits, "validate", never)
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
    assert "QUIRE_MAX_BATCH_OPERATIONS" in response.json()["errors"][0]["message"]


async def test_batches_are_bounded_and_share_one_cost_limit(
    settings: Settings, database: Database
) -> None:
    statements = StatementLog()

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


def doubling_chain(levels: int) -> str:
    """`query { ...F0 }` where each fragment spreads the next one twice: naive expansion
    visits 2**levels fragments."""
    fragments = [f"fragment F{n} on Query {{ ...F{n + 1} ...F{n + 1} }}" for n in range(levels)]
    return "\n".join(
        ["query { ...F0 }", *fragments, f"fragment F{levels} on Query {{ __typename }}"]
    )


async def _timed(awaitable: Awaitable[T]) -> tuple[T, float]:
    started = time.perf_counter()
    result = await awaitable
    return result, time.perf_counter() - started


async def test_a_doubling_fragment_chain_is_refused_without_blocking(
    client: httpx.AsyncClient, database: Database, settings: Settings, statements: StatementLog
) -> None:
    (body, refused_in), (health, healthy_in) = await asyncio.gather(
        _timed(execute(client, doubling_chain(40))), _timed(client.get("/healthz"))
    )

    # F35 holds __typename 2**5 = 32 times: the walk stops there.
    assert body["errors"][0]["extensions"] == {
        "code": "TOO_MANY_REPEATED_FIELDS",
        "limit": settings.max_repeated_fields,
        "actual": 32,
    }
    assert health.status_code == 200
    # Expanded naively, 2**40 spreads would take days; the worker answers both at once.
    assert refused_in < 1.0
    assert healthy_in < 1.0
    assert len(statements) == 0


async def test_fragment_definitions_are_bounded(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    levels = settings.max_query_fragments  # one more fragment than the limit: the leaf

    body = await execute(client, doubling_chain(levels))

    assert body["errors"][0]["extensions"] == {
        "code": "TOO_MANY_FRAGMENT_DEFINITIONS",
        "limit": settings.max_query_fragments,
        "actual": settings.max_query_fragments + 1,
    }


ONE_OPERATION = "query Q{number} {{ __typename }}"


async def test_operation_definitions_are_bounded(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    count = settings.max_query_operations + 1
    document = "\n".join(ONE_OPERATION.format(number=number) for number in range(count))

    response = await client.post("/graphql", json={"query": document, "operationName": "Q0"})

    assert response.json()["errors"][0]["extensions"] == {
        "code": "TOO_MANY_OPERATION_DEFINITIONS",
        "limit": settings.max_query_operations,
        "actual": count,
    }


# Each level spreads the next one twice: under `parent` and under the first reply.
DOUBLING_LEVEL = """
fragment C{n} on Comment {{
  parent {{ ...C{next} }}
  replies(first: 1) {{ nodes {{ ...C{next} }} }}
}}
"""
SINGLE_LEVEL = "fragment C{n} on Comment {{ parent {{ ...C{next} }} }}"
COMMENT_CHAIN_QUERY = "query ($id: ID!) { node(id: $id) { ...C0 } }"


def comment_chain(level: str, levels: int) -> str:
    fragments = [level.format(n=n, next=n + 1) for n in range(levels)]
    return "\n".join([COMMENT_CHAIN_QUERY, *fragments, f"fragment C{levels} on Comment {{ id }}"])


async def test_a_fragment_spread_twice_costs_twice(client: httpx.AsyncClient) -> None:
    body = await execute(client, comment_chain(DOUBLING_LEVEL, 5), {"id": "Q29tbWVudDox"})

    # C5 costs 1 (id); C(n) = parent 1 + C(n + 1) + replies 1 + nodes 1 + 1 x (1 + C(n + 1)),
    # that is 4 + 2 C(n + 1): 6, 16, 36, 76, 156 for C0; node 1.
    assert body["extensions"]["cost"]["requested"] == 1 + 156
    assert body["data"] == {"node": None}


async def test_depth_counts_through_fragments(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    chain = comment_chain(SINGLE_LEVEL, settings.max_query_depth)

    body = await execute(client, chain, {"id": "Q29tbWVudDox"})

    assert body["errors"][0]["extensions"] == {
        "code": "QUERY_TOO_DEEP",
        "limit": settings.max_query_depth,
        "actual": settings.max_query_depth + 1,
    }


# Three `parent`s whose selections each hold three `parent`s with `id` three times: execution
# merges 3 x 3 x 3 = 27 `id` fields at parent.parent.id, and validation compares them pairwise.
MERGED = """
query ($id: ID!) { node(id: $id) { ... on Comment {
  parent { parent { id id id } parent { id id id } parent { id id id } }
  parent { parent { id id id } parent { id id id } parent { id id id } }
  parent { parent { id id id } parent { id id id } parent { id id id } }
} } }
"""


async def test_repeats_multiply_down_a_merged_path(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    body = await execute(client, MERGED, {"id": "Q29tbWVudDox"})

    assert settings.max_repeated_fields == 20
    assert body["errors"][0]["extensions"] == {
        "code": "TOO_MANY_REPEATED_FIELDS",
        "limit": 20,
        "actual": 27,
    }


async def test_graphiql_introspection_query_passes_the_limits(
    client: httpx.AsyncClient, database: Database
) -> None:
    query = get_introspection_query(descriptions=True, input_value_deprecation=True)

    body = await execute(client, query)

    assert "errors" not in body
    assert body["data"]["__schema"]["queryType"]["name"] == "Query"


ALIASED = """
query { ...A ...A }
fragment A on Query { a1: __typename a2: __typename a3: __typename a4: __typename }
"""
# Eleven fields with two directives each, spread three times: 66 directives.
DIRECTED = """
query ($yes: Boolean!, $no: Boolean!) { apiLimits { ...D ...D ...D } }
fragment D on ApiLimits {
  maxDepth @include(if: $yes) @skip(if: $no)
  maxAliases @include(if: $yes) @skip(if: $no)
  maxDirectives @include(if: $yes) @skip(if: $no)
  maxRepeatedFields @include(if: $yes) @skip(if: $no)
  maxTokens @include(if: $yes) @skip(if: $no)
  maxBatchOperations @include(if: $yes) @skip(if: $no)
  maxCost @include(if: $yes) @skip(if: $no)
  defaultPageSize @include(if: $yes) @skip(if: $no)
  maxPageSize @include(if: $yes) @skip(if: $no)
  maxNodes @include(if: $yes) @skip(if: $no)
  maxRequestBytes @include(if: $yes) @skip(if: $no)
}
"""


async def test_aliases_count_once_per_spread(settings: Settings, database: Database) -> None:
    async with client_of(settings, max_query_aliases=7) as client:
        body = await execute(client, ALIASED)

    assert body["errors"][0]["extensions"] == {
        "code": "TOO_MANY_ALIASES",
        "limit": 7,
        "actual": 8,
    }


async def test_directives_count_once_per_spread(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    body = await execute(client, DIRECTED, {"yes": True, "no": False})

    assert settings.max_query_directives == 50
    assert body["errors"][0]["extensions"] == {
        "code": "TOO_MANY_DIRECTIVES",
        "limit": 50,
        "actual": 66,
    }


DEFAULT_FIRST = "query ($n: Int = 100) { posts(first: $n) { nodes { id } } }"
NODES = "query ($ids: [ID!]!) { nodes(ids: $ids) { id } }"
NODES_LITERAL = 'query { nodes(ids: ["UG9zdDox", "UG9zdDoy", "UG9zdDoz"]) { id } }'
TAGS = "query ($n: Int!) { posts(first: $n) { nodes { tags { name } } } }"
FIRST_AND_LAST = """
query ($first: Int!, $last: Int!) { posts(first: $first, last: $last) { nodes { id } } }
"""


@pytest.mark.parametrize(
    ("query", "variables", "cost"),
    [
        # posts 1 + nodes 1 + 100 x (post 1 + id 1): the default of $n, not the page size.
        (DEFAULT_FIRST, {}, 2 + 100 * 2),
        (DEFAULT_FIRST, {"n": 3}, 2 + 3 * 2),
        (DEFAULT_FIRST, {"n": None}, 2 + 20 * 2),
        # nodes 1 + one item and its id per id.
        (NODES, {"ids": ["UG9zdDox"] * 50}, 1 + 50 * 2),
        (NODES, {"ids": "UG9zdDox"}, 1 + 1 * 2),
        (NODES_LITERAL, {}, 1 + 3 * 2),
        # Post.tags holds at most TAGS_PER_POST (10) tags: tags 1 + 10 x (tag 1 + name 1).
        (TAGS, {"n": 3}, 2 + 3 * (1 + 1 + 10 * 2)),
        # Refused when they run, but costed as the larger page, capped at the largest.
        (FIRST_AND_LAST, {"first": 2, "last": 50}, 2 + 50 * 2),
        (FIRST_AND_LAST, {"first": 1000, "last": 1}, 2 + 100 * 2),
    ],
)
async def test_cost_bounds_every_list(
    client: httpx.AsyncClient,
    database: Database,
    query: str,
    variables: dict[str, object],
    cost: int,
) -> None:
    response = await client.post("/graphql", json={"query": query, "variables": variables})

    assert response.json()["extensions"]["cost"]["requested"] == cost


def test_every_list_field_has_a_bound() -> None:
    schema = create_schema()._schema
    unbounded = [
        f"{type_.name}.{name}"
        for type_ in schema.type_map.values()
        if isinstance(type_, GraphQLObjectType) and not type_.name.startswith("__")
        for name, field in type_.fields.items()
        if isinstance(get_nullable_type(field.type), GraphQLList)
        and not (type_.name.endswith("Connection") and name in PAGE_FIELDS)
        and f"{type_.name}.{name}" not in LIST_BOUNDS
    ]

    assert unbounded == ["Query.nodes"]  # counted by its ids


UNEXECUTED_COSTLY = """
query Cheap { __typename }
query Costly { posts(first: 100) { nodes { comments(first: 100) { nodes { id } } } } }
"""
UNSPREAD_COSTLY = """
query Cheap { __typename }
fragment Costly on Query { posts(first: 100) { nodes { comments(first: 100) { nodes { id } } } } }
"""


@pytest.mark.parametrize("query", [UNEXECUTED_COSTLY, UNSPREAD_COSTLY])
async def test_operations_and_fragments_that_do_not_run_are_held_to_the_limits(
    client: httpx.AsyncClient, database: Database, query: str
) -> None:
    # graphql-core validates every definition of a document, not only the one that runs.
    response = await client.post("/graphql", json={"query": query, "operationName": "Cheap"})

    assert response.json()["errors"][0]["extensions"]["code"] == "QUERY_TOO_COSTLY"


FILTERED = "query ($filter: PostFilter) { posts(filter: $filter) { totalCount } }"
REGISTERED = (
    "query ($filter: PostFilter) { posts(filter: $filter) { totalCount pageInfo { hasNextPage } } }"
)


def nested_variables(levels: int) -> dict[str, object]:
    """{"filter": {"status": [[...["DRAFT"]...]]}} with `levels` lists."""
    value: object = "DRAFT"
    for _ in range(levels):
        value = [value]
    return {"filter": {"status": value}}


def too_deep(settings: Settings) -> dict[str, object]:
    return {
        "code": "BAD_USER_INPUT",
        "limit": settings.max_variable_depth,
        "actual": settings.max_variable_depth + 1,
    }


async def test_deeply_nested_variables_are_bad_input(
    client: httpx.AsyncClient, database: Database, settings: Settings, statements: StatementLog
) -> None:
    body = await execute(client, FILTERED, nested_variables(330))

    assert body["errors"][0]["extensions"] == too_deep(settings)
    assert "nest more than" in body["errors"][0]["message"]
    assert len(statements) == 0


async def test_variables_within_the_nesting_limit_reach_coercion(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    # The filter object and the string inside the lists count as levels too.
    body = await execute(client, FILTERED, nested_variables(settings.max_variable_depth - 2))

    assert body["errors"][0]["message"] == (
        "Variable '$filter' has invalid value at .status: "
        "Enum 'PostStatus' cannot represent non-string value: [[[...]]]."
    )


async def test_too_many_variable_values_are_bad_input(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    ids = ["UG9zdDox"] * settings.max_variable_values

    body = await execute(client, NODES, {"ids": ids})

    # The variables object, the key "ids" and its list are values too.
    assert body["errors"][0]["extensions"] == {
        "code": "BAD_USER_INPUT",
        "limit": settings.max_variable_values,
        "actual": settings.max_variable_values + 1,
    }


async def test_deep_variables_are_bad_input_over_get_batches_and_persisted_queries(
    settings: Settings, database: Database
) -> None:
    variables = nested_variables(330)
    payload = {"query": REGISTERED, "variables": variables}
    apq = {"persistedQuery": {"version": 1, "sha256Hash": sha256(REGISTERED.encode()).hexdigest()}}
    async with client_of(settings, max_batch_operations=2) as client:
        get = await client.get(
            "/graphql", params={"query": FILTERED, "variables": json.dumps(variables)}
        )
        batch = await client.post("/graphql", json=[payload, payload])
        registered = await client.post("/graphql", json={"query": REGISTERED, "extensions": apq})
        by_hash = await client.post("/graphql", json={"variables": variables, "extensions": apq})

    assert "errors" not in registered.json()
    bodies = [get.json(), *batch.json(), by_hash.json()]
    assert [body["errors"][0]["extensions"] for body in bodies] == [too_deep(settings)] * 4


async def test_deep_variables_are_bad_input_over_a_websocket(
    settings: Settings, tmp_path: Path
) -> None:
    if not settings.is_sqlite:
        pytest.skip("the live server runs on its own SQLite database")
    env = {**os.environ, "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'quire.db'}"}
    env.pop("REDIS_URL", None)
    with running_quire(env, tmp_path) as base_url:
        async with graphql_socket(base_url.replace("http", "ws") + "/graphql") as socket:
            await socket.send(
                {
                    "id": "1",
                    "type": "subscribe",
                    "payload": {"query": FILTERED, "variables": nested_variables(330)},
                }
            )
            answer = await socket.receive()

    assert answer["type"] == "error"
    assert answer["payload"][0]["extensions"] == too_deep(settings)


def _tokens(document: str) -> int:
    lexer, count = Lexer(Source(document)), 0
    while lexer.advance().kind is not TokenKind.EOF:
        count += 1
    return count


def test_shipped_documents_pass_the_default_limits() -> None:
    defaults = Settings(_env_file=None)
    schema = create_schema()._schema
    documents = [*load_manifest(MANIFEST).values(), get_introspection_query(descriptions=True)]

    for document in documents:
        parsed = parse(document)
        # Variables not sent count at their largest (the maximum page size).
        measure_document(
            schema, parsed, operation_name=None, variables={}, limits=Limits.from_settings(defaults)
        )
        kinds = [type(definition) for definition in parsed.definitions]
        # Four times the tokens of the largest shipped document (GraphiQL's introspection).
        assert _tokens(document) * 4 <= defaults.max_query_tokens
        assert kinds.count(OperationDefinitionNode) <= defaults.max_query_operations
        assert kinds.count(FragmentDefinitionNode) <= defaults.max_query_fragments


VALIDATED_ONCE = "{ validatedOnce: __typename }"


async def test_a_repeated_document_is_validated_once(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Validation results are cached by document; only a miss pays for validation (in a
    worker thread)."""
    validations: list[object] = []
    validate = limits._validate

    def counted(*key: Any) -> Any:
        validations.append(key)
        return validate(*key)

    monkeypatch.setattr(limits, "_validate", counted)

    answers = [
        (await client.post("/graphql", json={"query": VALIDATED_ONCE})).json()["data"]
        for _ in range(3)
    ]

    assert answers == [{"validatedOnce": "Query"}] * 3
    assert len(validations) == 1


# A 1-cost query whose comment is far larger than the query: comments are not tokens.
COMMENTED = "{ __typename }\n#" + "x" * 40_000


async def test_a_document_over_the_byte_limit_is_refused_before_parsing(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    response = await client.post("/graphql", json={"query": COMMENTED})

    assert response.json()["errors"][0]["extensions"] == {
        "code": "DOCUMENT_TOO_LARGE",
        "limit": settings.max_query_bytes,
        "actual": len(COMMENTED),
    }


async def test_a_document_over_the_byte_limit_is_refused_on_a_websocket(
    settings: Settings, database: Database
) -> None:
    async with served(create_app(settings)) as url, graphql_socket(url) as socket:
        await socket.subscribe("1", COMMENTED)
        answer = await socket.receive()

    assert answer["type"] == "error"
    assert answer["payload"][0]["extensions"]["code"] == "DOCUMENT_TOO_LARGE"
