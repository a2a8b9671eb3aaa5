"""Persisted queries: Apollo's APQ flow over POST and GET, trusted-documents mode, the stores."""

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis

from app import create_app
from models.database import Database
from resolvers.persisted import MemoryStore, RedisStore, load_manifest, sha256_hex
from settings import Settings
from tests.conftest import REDIS_URL, StatementLog, client_of
from tests.graphql import error_codes

QUERY = "{ posts(first: 1) { nodes { title } } }"
HASH = sha256_hex(QUERY)


def persisted(sha256: str = HASH) -> dict[str, Any]:
    return {"persistedQuery": {"version": 1, "sha256Hash": sha256}}


async def by_hash(client: httpx.AsyncClient, sha256: str = HASH) -> httpx.Response:
    return await client.post("/graphql", json={"extensions": persisted(sha256)})


async def test_apq_registers_a_query_then_runs_it_by_hash(
    client: httpx.AsyncClient, statements: StatementLog
) -> None:
    unknown = await by_hash(client)
    assert unknown.status_code == 200
    assert error_codes(unknown.json()) == ["PERSISTED_QUERY_NOT_FOUND"]
    assert unknown.json()["errors"][0]["message"] == "PersistedQueryNotFound"
    assert len(statements) == 0

    registered = await client.post("/graphql", json={"query": QUERY, "extensions": persisted()})
    assert registered.json()["data"] == {"posts": {"nodes": []}}

    known = await by_hash(client)
    assert known.json()["data"] == {"posts": {"nodes": []}}


async def test_apq_over_get_so_that_responses_can_be_cached(client: httpx.AsyncClient) -> None:
    await client.post("/graphql", json={"query": QUERY, "extensions": persisted()})

    response = await client.get(
        "/graphql", params={"extensions": json.dumps(persisted())}, headers={"accept": "*/*"}
    )

    assert response.status_code == 200
    assert response.json()["data"] == {"posts": {"nodes": []}}


async def test_a_persisted_mutation_is_refused_over_get(
    app: Any, client: httpx.AsyncClient
) -> None:
    mutation = 'mutation { logOut(refreshToken: "x") { ok } }'
    sha256 = sha256_hex(mutation)
    await app.state.persisted.register(sha256, mutation)

    response = await client.get("/graphql", params={"extensions": json.dumps(persisted(sha256))})

    assert response.status_code == 405
    assert error_codes(response.json()) == ["METHOD_NOT_ALLOWED"]


async def test_a_hash_that_does_not_match_the_query_is_refused(
    client: httpx.AsyncClient,
) -> None:
    other = sha256_hex("{ tags { totalCount } }")
    response = await client.post("/graphql", json={"query": QUERY, "extensions": persisted(other)})

    assert error_codes(response.json()) == ["PERSISTED_QUERY_HASH_MISMATCH"]
    assert error_codes((await by_hash(client, other)).json()) == ["PERSISTED_QUERY_NOT_FOUND"]


async def test_only_documents_that_ran_are_registered(client: httpx.AsyncClient) -> None:
    invalid = "{ postz { title } }"
    await client.post(
        "/graphql", json={"query": invalid, "extensions": persisted(sha256_hex(invalid))}
    )

    response = await by_hash(client, sha256_hex(invalid))
    assert error_codes(response.json()) == ["PERSISTED_QUERY_NOT_FOUND"]


@pytest.mark.parametrize(
    "extensions",
    [
        {"persistedQuery": {"version": 2, "sha256Hash": HASH}},
        {"persistedQuery": {"version": 1, "sha256Hash": "abc"}},
        {"persistedQuery": "yes"},
    ],
)
async def test_malformed_persisted_query_extensions_are_refused(
    client: httpx.AsyncClient, extensions: dict[str, Any]
) -> None:
    response = await client.post("/graphql", json={"query": QUERY, "extensions": extensions})

    assert response.status_code == 200
    assert error_codes(response.json()) == ["PERSISTED_QUERY_INVALID"]


async def test_persisted_queries_can_be_turned_off(settings: Settings, database: Database) -> None:
    async with client_of(settings, persisted_queries="off") as client:
        response = await by_hash(client)
        plain = await client.post("/graphql", json={"query": QUERY})

    assert error_codes(response.json()) == ["PERSISTED_QUERY_NOT_SUPPORTED"]
    assert plain.json()["data"] == {"posts": {"nodes": []}}


@pytest.fixture
def manifest(tmp_path: Path) -> Path:
    path = tmp_path / "trusted-documents.json"
    path.write_text(json.dumps({HASH: QUERY}))
    return path


async def test_trusted_mode_runs_only_manifest_documents(
    settings: Settings, database: Database, manifest: Path
) -> None:
    statements = StatementLog()
    async with client_of(
        settings, log=statements, persisted_queries="trusted", trusted_documents=str(manifest)
    ) as client:
        named = await by_hash(client)
        in_full = await client.post("/graphql", json={"query": QUERY})
        assert len(statements) == 2
        statements.statements.clear()
        other = await client.post("/graphql", json={"query": "{ tags { totalCount } }"})
        other_hash = await by_hash(client, sha256_hex("{ tags { totalCount } }"))

    assert named.json()["data"] == {"posts": {"nodes": []}}
    assert in_full.json()["data"] == {"posts": {"nodes": []}}
    assert error_codes(other.json()) == ["TRUSTED_DOCUMENT_REQUIRED"]
    assert error_codes(other_hash.json()) == ["TRUSTED_DOCUMENT_REQUIRED"]
    assert len(statements) == 0


def test_trusted_mode_needs_a_manifest() -> None:
    with pytest.raises(ValueError, match="QUIRE_TRUSTED_DOCUMENTS"):
        Settings(persisted_queries="trusted", _env_file=None)


def test_a_manifest_with_a_wrong_hash_fails_at_start(settings: Settings, tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"0" * 64: QUERY}))

    with pytest.raises(ValueError, match="is not the SHA-256 of its document"):
        create_app(
            settings.model_copy(
                update={"persisted_queries": "trusted", "trusted_documents": str(path)}
            )
        )


def test_apollo_manifests_are_read(tmp_path: Path) -> None:
    path = tmp_path / "apollo.json"
    operation = {"id": HASH, "body": QUERY, "name": "Feed", "type": "query"}
    path.write_text(
        json.dumps(
            {"format": "apollo-persisted-query-manifest", "version": 1, "operations": [operation]}
        )
    )

    assert load_manifest(path) == {HASH: QUERY}


async def test_the_memory_store_forgets_the_least_recently_used() -> None:
    store = MemoryStore(max_entries=2, max_bytes=1_000)
    await store.put("a", "A")
    await store.put("b", "B")
    assert await store.get("a") == "A"
    await store.put("c", "C")

    assert await store.get("b") is None
    assert [await store.get("a"), await store.get("c")] == ["A", "C"]


async def test_the_memory_store_is_bounded_in_bytes() -> None:
    store = MemoryStore(max_entries=100, max_bytes=2_500)
    for name in "abc":
        await store.put(name, name * 1_000)

    assert await store.get("a") is None  # the oldest went to make room
    assert [await store.get("b"), await store.get("c")] == ["b" * 1_000, "c" * 1_000]
    assert store.bytes == 2_000


# A 1-cost query with a comment far larger than the query: comments are not tokens.
COMMENTED = "{ __typename }\n#" + "x" * 20_000
COMMENTED_HASH = sha256_hex(COMMENTED)


async def test_registered_documents_are_stored_without_comments_or_whitespace(
    app: Any, client: httpx.AsyncClient
) -> None:
    registered = await client.post(
        "/graphql", json={"query": COMMENTED, "extensions": persisted(COMMENTED_HASH)}
    )
    stored = await app.state.persisted.store.get(COMMENTED_HASH)
    by_its_hash = await by_hash(client, COMMENTED_HASH)

    assert registered.json()["data"] == {"__typename": "Query"}
    assert stored == "{__typename}"
    assert by_its_hash.json()["data"] == {"__typename": "Query"}


# Long alias names make a valid document of about 3 KB with 3 tokens a field.
LARGE = "{ " + " ".join(f"{letter * 1_000}: __typename" for letter in "abc") + " }"
LARGE_HASH = sha256_hex(LARGE)


async def test_a_document_over_the_size_bound_runs_but_is_not_stored(
    settings: Settings, database: Database
) -> None:
    async with client_of(settings, persisted_query_max_document_bytes=2_000) as client:
        sent = await client.post(
            "/graphql", json={"query": LARGE, "extensions": persisted(LARGE_HASH)}
        )
        by_its_hash = await by_hash(client, LARGE_HASH)

    assert sent.json()["data"] == {letter * 1_000: "Query" for letter in "abc"}
    assert error_codes(by_its_hash.json()) == ["PERSISTED_QUERY_NOT_FOUND"]


async def test_the_redis_store_is_bounded_in_entries_and_bytes(redis_prefix: str) -> None:
    client = Redis.from_url(REDIS_URL)
    store = RedisStore(
        client, prefix=f"{redis_prefix}:apq:", ttl_seconds=600, max_entries=3, max_bytes=2_500
    )
    for name in "abc":
        await store.put(name, name * 1_000)
    found_after_bytes = [await store.get(name) for name in "abc"]
    for name in "def":
        await store.put(name, name)
    found_after_entries = [await store.get(name) for name in "bcdef"]
    stored_bytes = int(await client.get(f"{redis_prefix}:apq:bytes") or 0)
    await store.close()

    assert found_after_bytes == [None, "b" * 1_000, "c" * 1_000]
    assert found_after_entries == [None, None, "d", "e", "f"]
    assert stored_bytes == 3


async def test_instances_sharing_redis_share_registered_queries(
    settings: Settings, database: Database, redis_prefix: str
) -> None:
    shared: dict[str, Any] = {
        "redis_url": REDIS_URL,
        "redis_key_prefix": redis_prefix,
        "persisted_query_ttl_seconds": 600,
    }
    async with client_of(settings, **shared) as one, client_of(settings, **shared) as other:
        assert error_codes((await by_hash(other)).json()) == ["PERSISTED_QUERY_NOT_FOUND"]
        await one.post("/graphql", json={"query": QUERY, "extensions": persisted()})
        response = await by_hash(other)
    redis = Redis.from_url(REDIS_URL)
    ttl = await redis.ttl(f"{redis_prefix}:apq:{HASH}")
    await redis.aclose()

    assert response.json()["data"] == {"posts": {"nodes": []}}
    assert 0 < ttl <= 600  # unused documents expire


async def test_an_unreachable_redis_store_is_a_miss_not_a_failure(
    settings: Settings, database: Database
) -> None:
    async with client_of(settings, redis_url="redis://127.0.0.1:1/0") as client:
        missing = await by_hash(client)
        full = await client.post("/graphql", json={"query": QUERY, "extensions": persisted()})

    assert error_codes(missing.json()) == ["PERSISTED_QUERY_NOT_FOUND"]
    assert full.json()["data"] == {"posts": {"nodes": []}}
