"""Caching of public reads: HTTP headers, Quire's response cache, and exact invalidation.

Every kind of write is checked the same way: a public read is cached (the second request is a
hit), the write runs through the API, and the first read after the write's response has
arrived shows the new state. In memory (one instance), and through Redis with the write sent
to one instance and the reads to another.
"""

import asyncio
import gzip
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import brotli
import httpx
import pytest
import uvicorn
from redis.asyncio import Redis
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from app import create_app
from models.columns import utc_now
from models.database import Database
from models.tables import CommentStatus, PostStatus, Role
from resolvers.cache_purge import PurgeHook
from resolvers.cache_tags import EVERYTHING, author_changed, comment_changed, post_changed
from resolvers.read_shapes import Selection
from resolvers.read_tags import ANY_WRITE, tag_plan
from resolvers.response_cache import CachedResponse, MemoryResponses, RedisResponses
from resolvers.services import create_redis, create_response_cache
from resolvers.tokens import issue_access_token
from settings import Settings
from tests.conftest import REDIS_URL, StatementLog, client_of
from tests.factories import create_comment, create_post, create_tag, create_user, tag_post
from tests.live import free_port
from tests.test_subscriptions import global_id

POSTS = "query Posts { posts(first: 10) { nodes { title author { displayName } } } }"
POST_BY_SLUG = """
query Post($slug: String!) {
  post(slug: $slug) {
    title
    commentCount
    comments(first: 10) { nodes { body replies(first: 5) { nodes { body } } } }
  }
}
"""
NODE = "query Node($id: ID!) { node(id: $id) { id ... on Comment { body } } }"
TAGS = "query Tags { tags(first: 10) { nodes { name postCount } } }"
AUTHORS = "query Authors { authors(first: 10) { nodes { username displayName } } }"
AUTHOR = "query Author($username: String!) { author(username: $username) { displayName } }"
ME = "query Me { me { username } }"


def bearer(settings: Settings, user_id: int, role: Role) -> dict[str, str]:
    token, _ = issue_access_token(settings, user_id=user_id, role=role)
    return {"authorization": f"Bearer {token}"}


async def public_get(
    client: httpx.AsyncClient,
    query: str,
    variables: dict[str, Any] | None = None,
    *,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    params = {"query": query}
    if variables:
        params["variables"] = json.dumps(variables)
    return await client.get("/graphql", params=params, headers=headers or {})


async def mutate(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    query: str,
    variables: dict[str, Any] | None = None,
) -> dict[str, Any]:
    response = await client.post(
        "/graphql", json={"query": query, "variables": variables or {}}, headers=headers
    )
    body: dict[str, Any] = response.json()
    assert response.status_code == 200, body
    assert "errors" not in body, body
    for payload in body["data"].values():
        if isinstance(payload, dict):
            assert not payload.get("errors"), payload
    return body


@pytest.fixture
async def cached(settings: Settings, database: Database) -> AsyncIterator[httpx.AsyncClient]:
    async with client_of(settings, response_cache=True) as client:
        yield client


@asynccontextmanager
async def instances(
    settings: Settings,
    redis_prefix: str,
    *,
    log: StatementLog | None = None,
    **overrides: Any,
) -> AsyncIterator[tuple[httpx.AsyncClient, httpx.AsyncClient]]:
    """Two instances sharing one database and one Redis; `log` records the second's SQL."""
    shared: dict[str, Any] = {
        "response_cache": True,
        "redis_url": REDIS_URL,
        "redis_key_prefix": redis_prefix,
        **overrides,
    }
    async with client_of(settings, **shared) as a, client_of(settings, log=log, **shared) as b:
        yield a, b


# The two ways a read is answered: one SQL statement built by the planner, or field by field.
PATHS = {"compiled": True, "resolver path": False}


def compiled(log: StatementLog) -> bool:
    """Whether the statements logged answered a read compiled: one statement whose value is
    the response's JSON text (resolvers/read_statements.py)."""
    return any(statement.startswith("SELECT ('{") for statement in log.statements)


# --- HTTP caching headers ---------------------------------------------------------------


async def test_a_public_get_is_cacheable_with_an_etag_and_tags(
    cached: httpx.AsyncClient, database: Database
) -> None:
    author = await create_user(database, username="ada", display_name="Ada")
    await create_post(database, author_id=author, title="Hello")

    response = await public_get(cached, POSTS)

    assert response.status_code == 200
    assert response.headers["cache-control"] == "public, max-age=5, stale-while-revalidate=10"
    assert response.headers["surrogate-control"] == "max-age=3600"
    assert response.headers["etag"].startswith('"')
    assert response.headers["etag"].endswith('"')
    assert {"Accept", "Accept-Encoding"} <= {
        part.strip() for part in response.headers["vary"].split(",")
    }
    # Compiled (the default): a list of posts and their authors, tagged by type.
    assert set(response.headers["surrogate-key"].split(" ")) == {"posts", "authors", EVERYTHING}
    assert "ratelimit" not in response.headers  # per caller: never on a shared response
    assert response.headers["ratelimit-policy"].startswith('"operations";q=')
    assert "rateLimit" not in response.json().get("extensions", {})


# Compiled reads derive their tags from the plan (resolvers/read_tags.py): what it names by ID
# is tagged by that ID; what is reached through a relation, by type. (The write-kind tests
# below prove they are enough; these show how precise they are.)
TAGGED = {
    "a list with authors, tags and comments (the bench's)": (
        "{ posts(first: 5) { nodes { title author { displayName } tags { name } "
        "commentCount comments(first: 5) { nodes { body author { displayName } } } } } }",
        {"posts", "authors", "comments"},
    ),
    "a post by ID with its thread": (
        "query($post: ID!) { post(id: $post) { title commentCount tags { name } "
        "comments(first: 5) { nodes { body parent { body } replies(first: 5) "
        "{ totalCount nodes { body post { title } } } } } } }",
        {"Post:{post}"},
    ),
    "a post by ID with its author": (
        "query($post: ID!) { post(id: $post) { author { displayName postCount } } }",
        {"Post:{post}", "authors", "posts"},
    ),
    "nodes by ID": (
        "query($post: ID!, $author: ID!) { nodes(ids: [$post, $author]) "
        "{ id ... on Author { displayName } } }",
        {"Post:{post}", "Author:{author}"},
    ),
    "a comment by ID (its post and thread unknown)": (
        "query($comment: ID!) { node(id: $comment) { ... on Comment { body } } }",
        {"Comment:{comment}", "comments", "posts"},
    ),
    "a tag by ID (visible with its posts)": (
        "query($tag: ID!) { node(id: $tag) { ... on Tag { name } } }",
        {"Tag:{tag}", "posts"},
    ),
    "a post by slug": ('{ post(slug: "story") { title } }', {"posts"}),
    "authors with post counts": (
        "{ authors(first: 5) { nodes { username postCount } } }",
        {"authors", "posts"},
    ),
    "posts ordered by comment count": (
        "{ posts(first: 5, orderBy: {field: COMMENT_COUNT, direction: DESC}) "
        "{ totalCount nodes { title } } }",
        {"posts", "comments"},
    ),
}


@pytest.mark.parametrize("read", list(TAGGED))
async def test_a_compiled_read_is_tagged_from_its_plan(
    read: str, settings: Settings, database: Database
) -> None:
    author = await create_user(database, role=Role.AUTHOR)
    post = await create_post(database, author_id=author, title="Story", slug="story")
    comment = await create_comment(database, post_id=post, author_id=author)
    tag = await create_tag(database, name="Python")
    await tag_post(database, post_id=post, tag_id=tag)
    ids = {"post": post, "author": author, "comment": comment, "tag": tag}
    query, expected = TAGGED[read]
    variables = {
        name: global_id(name.capitalize(), value)
        for name, value in ids.items()
        if f"${name}" in query
    }
    log = StatementLog()

    async with client_of(settings, log=log, response_cache=True) as client:
        response = await public_get(client, query, variables)

    assert compiled(log), log.statements
    assert "errors" not in response.json(), response.text
    tags = set(response.headers["surrogate-key"].split(" "))
    assert tags == {tag.format(**ids) for tag in expected} | {EVERYTHING}


def test_every_write_publishes_a_tag_of_every_read_of_its_type() -> None:
    """What a compiled read reached through a relation is tagged by type, and the union of
    those tags is what a read the tag walk does not know gets: every write publishes one."""
    writes = [post_changed(1), comment_changed(2, post_id=1), author_changed(3)]

    assert all(tags & ANY_WRITE for tags in writes)
    unknown = (Selection("me", "me", None, (Selection("username", "username"),)),)
    assert tag_plan(unknown).tags({}) == ANY_WRITE


async def test_a_matching_if_none_match_gets_304_without_a_body(
    cached: httpx.AsyncClient, database: Database
) -> None:
    await create_post(database, author_id=await create_user(database), title="Hello")
    first = await public_get(cached, POSTS)

    again = await public_get(cached, POSTS, headers={"if-none-match": first.headers["etag"]})
    other = await public_get(cached, POSTS, headers={"if-none-match": '"something-else"'})

    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["etag"] == first.headers["etag"]
    assert again.headers["cache-control"].startswith("public")
    assert other.status_code == 200


async def test_two_callers_receive_identical_bytes(settings: Settings, database: Database) -> None:
    await create_post(database, author_id=await create_user(database), title="Hello")
    # Without Quire's cache both responses run: the body holds nothing of who asked.
    async with client_of(settings, response_cache=False) as client:
        one = await public_get(client, POSTS, headers={"x-request-id": "caller-one"})
        two = await public_get(client, POSTS, headers={"x-request-id": "caller-two"})

    assert one.headers["x-quire-cache"] == two.headers["x-quire-cache"] == "miss"
    assert one.content == two.content
    assert one.headers["etag"] == two.headers["etag"]


@pytest.mark.parametrize(
    ("query", "signed_in"),
    [
        (POSTS, True),  # a bearer token: the answer may depend on who asks
        (ME, False),
        ("query Limits { apiLimits { maxCost } }", False),
        ("query Broken { posts(first: 1000) { nodes { title } } }", False),  # an error
    ],
)
async def test_answers_that_depend_on_the_caller_are_private(
    cached: httpx.AsyncClient, settings: Settings, database: Database, query: str, signed_in: bool
) -> None:
    user = await create_user(database, role=Role.READER)
    headers = bearer(settings, user, Role.READER) if signed_in else {}

    first = await public_get(cached, query, headers=headers)
    second = await public_get(cached, query, headers=headers)

    for response in (first, second):
        assert response.headers["cache-control"] == "private, no-store"
        assert "etag" not in response.headers
        assert "surrogate-key" not in response.headers
        assert "x-quire-cache" not in response.headers


async def test_a_private_response_carries_the_callers_rate_limit_state(
    cached: httpx.AsyncClient,
) -> None:
    response = await cached.post("/graphql", json={"query": ME})

    assert response.headers["cache-control"] == "private, no-store"
    operations, cost = response.headers["ratelimit"].split(", ")
    assert operations.startswith('"operations";r=')
    assert ";t=" in operations
    assert cost.startswith('"cost";r=')
    assert "rateLimit" not in response.json().get("extensions", {})


async def test_a_mutation_is_private(cached: httpx.AsyncClient, settings: Settings) -> None:
    response = await cached.post(
        "/graphql",
        json={"query": 'mutation { logOut(refreshToken: "nothing") }'},
    )

    assert response.headers["cache-control"] == "private, no-store"


async def test_large_public_bodies_are_compressed_with_an_etag_per_encoding(
    cached: httpx.AsyncClient, database: Database
) -> None:
    author = await create_user(database)
    for number in range(10):
        await create_post(database, author_id=author, title=f"A long enough title {number} " * 3)

    plain = await public_get(cached, POSTS, headers={"accept-encoding": "identity"})
    brotlied = await public_get(cached, POSTS, headers={"accept-encoding": "gzip, br"})
    gzipped = await public_get(cached, POSTS, headers={"accept-encoding": "gzip"})
    refused = await public_get(cached, POSTS, headers={"accept-encoding": "br;q=0, gzip;q=0"})

    assert "content-encoding" not in plain.headers
    assert brotlied.headers["content-encoding"] == "br"
    assert gzipped.headers["content-encoding"] == "gzip"
    assert "content-encoding" not in refused.headers
    # httpx decodes gzip and br itself: the decoded bodies are the plain body.
    assert brotlied.content == gzipped.content == plain.content == refused.content
    etags = {r.headers["etag"] for r in (plain, brotlied, gzipped)}
    assert len(etags) == 3
    assert len(plain.content) >= 1_000


async def test_compressed_bytes_decode_to_the_plain_body(database: Database) -> None:
    body = b'{"data":' + b"[1,2,3]" * 400 + b"}"
    from resolvers.response_cache import compress

    gzipped, brotlied = compress(body, 1_000)

    assert gzipped is not None
    assert brotlied is not None
    assert gzip.decompress(gzipped) == body
    assert brotli.decompress(brotlied) == body
    assert compress(b"{}", 1_000) == (None, None)


# --- Quire's response cache -------------------------------------------------------------


async def test_a_hit_runs_no_sql_and_returns_the_same_bytes(
    settings: Settings, database: Database
) -> None:
    await create_post(database, author_id=await create_user(database), title="Hello")
    log = StatementLog()
    async with client_of(settings, log=log, response_cache=True) as client:
        miss = await public_get(client, POSTS)
        statements_of_the_miss = len(log)
        hit = await public_get(client, POSTS)
        post_hit = await client.post("/graphql", json={"query": POSTS})

    assert miss.headers["x-quire-cache"] == "miss"
    assert statements_of_the_miss > 0
    assert hit.headers["x-quire-cache"] == "hit"
    assert post_hit.headers["x-quire-cache"] == "hit"
    assert len(log) == statements_of_the_miss
    assert hit.content == miss.content == post_hit.content
    assert post_hit.headers["cache-control"] == "private, no-store"  # POST: Quire's cache only


async def test_the_key_holds_the_variables_and_the_operation(
    cached: httpx.AsyncClient, database: Database
) -> None:
    author = await create_user(database)
    await create_post(database, author_id=author, title="One", slug="one")
    await create_post(database, author_id=author, title="Two", slug="two")

    one = await public_get(cached, POST_BY_SLUG, {"slug": "one"})
    two = await public_get(cached, POST_BY_SLUG, {"slug": "two"})

    assert one.json()["data"]["post"]["title"] == "One"
    assert two.json()["data"]["post"]["title"] == "Two"
    assert two.headers["x-quire-cache"] == "miss"


async def test_a_signed_in_read_is_never_answered_from_the_cache(
    cached: httpx.AsyncClient, settings: Settings, database: Database
) -> None:
    author = await create_user(database)
    await create_post(database, author_id=author, title="Mine", status=PostStatus.DRAFT)
    await public_get(cached, POSTS)
    await public_get(cached, POSTS)  # cached: the draft is not in it

    mine = await public_get(cached, POSTS, headers=bearer(settings, author, Role.AUTHOR))

    assert [n["title"] for n in mine.json()["data"]["posts"]["nodes"]] == ["Mine"]
    assert "x-quire-cache" not in mine.headers


async def test_a_hit_spends_from_the_callers_operation_budget(
    settings: Settings, database: Database
) -> None:
    await create_post(database, author_id=await create_user(database), title="Hello")
    async with client_of(settings, response_cache=True, rate_limit_operations="3/minute") as client:
        statuses = [(await public_get(client, POSTS)).status_code for _ in range(4)]

    assert statuses == [200, 200, 200, 429]


async def test_the_memory_store_is_bounded_in_bytes() -> None:
    store = MemoryResponses(max_bytes=10_000)
    for number in range(10):
        body = bytes(2_000)
        response = CachedResponse(body, f"etag{number}", (f"Post:{number}",))
        await store.put(f"key{number}", response, generation=0, ttl=60)

    assert store.bytes <= 10_000
    assert await store.get("key0") is None
    assert await store.get("key9") is not None


async def test_the_redis_store_is_bounded_in_entries_and_bytes(redis_prefix: str) -> None:
    from redis.asyncio import Redis

    client = Redis.from_url(REDIS_URL)
    store = RedisResponses(client, prefix=f"{redis_prefix}:r:", max_entries=3, max_bytes=10_000)
    try:
        for number in range(5):
            response = CachedResponse(bytes(1_000), f"e{number}", (f"Post:{number}",))
            assert await store.put(f"k{number}", response, generation=0, ttl=60)
        kept = [await store.get(f"k{number}") for number in range(5)]
        big = CachedResponse(bytes(6_000), "big", ("Post:9",))
        await store.put("big1", big, generation=0, ttl=60)
        await store.put("big2", big, generation=0, ttl=60)
        total = int(await client.get(f"{redis_prefix}:r:bytes") or 0)
    finally:
        await client.aclose()

    assert [k is not None for k in kept] == [False, False, True, True, True]
    assert total <= 10_000


@pytest.mark.parametrize("backend", ["memory", "redis"])
async def test_a_read_that_overlapped_a_write_is_not_stored(
    backend: str, redis_prefix: str
) -> None:
    from redis.asyncio import Redis

    client = Redis.from_url(REDIS_URL)
    store = (
        MemoryResponses(max_bytes=100_000)
        if backend == "memory"
        else RedisResponses(client, prefix=f"{redis_prefix}:r:", max_entries=10, max_bytes=10**6)
    )
    try:
        generation = await store.generation()  # the read begins
        await store.invalidate({"Post:1"})  # a write commits meanwhile
        stale = CachedResponse(b'{"data":{}}', "old", ("Post:1",))
        stored = await store.put("key", stale, generation=generation, ttl=60)
        found = await store.get("key")
    finally:
        await client.aclose()

    assert stored is False
    assert found is None


async def test_a_slow_read_overlapping_a_write_leaves_no_stale_data(
    settings: Settings, database: Database
) -> None:
    """The read runs its SQL before the write and tries to store after the write's
    invalidation: the next read must show the write."""
    author = await create_user(database)
    post = await create_post(database, author_id=author, title="Before")
    application = create_app(settings.model_copy(update={"response_cache": True}))
    cache = application.state.services.cache
    read_done, write_done = asyncio.Event(), asyncio.Event()
    original_put = cache.store.put

    async def slow_put(*args: Any, **kwargs: Any) -> bool:
        read_done.set()
        await write_done.wait()
        return bool(await original_put(*args, **kwargs))

    cache.store.put = slow_put
    transport = httpx.ASGITransport(app=application)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://q") as client:
            slow_read = asyncio.create_task(public_get(client, POSTS))
            await read_done.wait()
            await mutate(
                client,
                bearer(settings, author, Role.AUTHOR),
                "mutation($input: UpdatePostInput!) { updatePost(input: $input) "
                "{ errors { message } } }",
                {
                    "input": {
                        "id": global_id("Post", post),
                        "updatedAt": await _updated_at(client, settings, author, post),
                        "title": "After",
                    }
                },
            )
            write_done.set()
            stale = await slow_read
            cache.store.put = original_put
            fresh = await public_get(client, POSTS)
    finally:
        await application.state.services.close()

    assert stale.json()["data"]["posts"]["nodes"][0]["title"] == "Before"
    assert fresh.headers["x-quire-cache"] == "miss"
    assert fresh.json()["data"]["posts"]["nodes"][0]["title"] == "After"


async def _updated_at(client: httpx.AsyncClient, settings: Settings, author: int, post: int) -> str:
    response = await client.post(
        "/graphql",
        json={
            "query": "query($id: ID!) { node(id: $id) { ... on Post { updatedAt } } }",
            "variables": {"id": global_id("Post", post)},
        },
        headers=bearer(settings, author, Role.AUTHOR),
    )
    updated_at: str = response.json()["data"]["node"]["updatedAt"]
    return updated_at


async def test_without_redis_several_workers_run_without_the_response_cache(
    settings: Settings,
) -> None:
    several = settings.model_copy(update={"response_cache": True, "workers": 2})
    single = settings.model_copy(update={"response_cache": True})

    assert create_response_cache(several, None) is None
    assert create_response_cache(single, None) is not None


async def test_with_redis_down_reads_are_answered_without_the_cache(
    settings: Settings, database: Database
) -> None:
    await create_post(database, author_id=await create_user(database), title="Hello")
    unreachable = f"redis://127.0.0.1:{free_port()}/0"
    async with client_of(
        settings, response_cache=True, redis_url=unreachable, rate_limit_enabled=False
    ) as client:
        responses = [await public_get(client, POSTS) for _ in range(2)]

    for response in responses:
        assert response.status_code == 200
        assert response.json()["data"]["posts"]["nodes"][0]["title"] == "Hello"
        assert response.headers["x-quire-cache"] == "miss"


async def test_an_invalidation_that_failed_bypasses_the_cache_until_it_is_emptied(
    settings: Settings,
) -> None:
    """Redis stopped answering while a write's tags were dropped: the cache may hold what the
    write changed, so nothing is served from it until every entry is dropped. Redis is a
    private server here, paused (CLIENT PAUSE) so that its entries outlive the failure."""
    port = free_port()
    server = await _redis_server(port)
    shared = settings.model_copy(
        update={
            "response_cache": True,
            "redis_url": f"redis://127.0.0.1:{port}/0",
            "redis_circuit_failures": 100,
            "redis_timeout_seconds": 0.3,
        }
    )
    redis = create_redis(shared)
    assert redis is not None
    control = Redis.from_url(f"redis://127.0.0.1:{port}/0")
    try:
        await _wait_for_redis(redis)
        cache = create_response_cache(shared, redis)
        assert cache is not None
        entry = CachedResponse(b"{}", "e", ("Post:1",))
        await cache.put("k", entry, generation=0, ttl=60)
        await control.client_pause(1500, all=True)
        await cache.invalidate({"Post:1"})  # times out: Redis does not answer
        bypassed = cache.bypass
        while_bypassed = await cache.get("k")  # Redis answers again soon: still not served
        kept_meanwhile = await control.exists(f"{shared.redis_key_prefix}:responses:entry:k")
        for _ in range(100):
            if not cache.bypass:
                break
            await asyncio.sleep(0.1)
        recovered = not cache.bypass
        after = await cache.get("k")
        await cache.close()
    finally:
        await control.aclose()
        server.terminate()
        await server.wait()
        await redis.aclose()

    assert bypassed is True
    assert while_bypassed is None
    assert kept_meanwhile == 1  # the entry was still there: only the bypass kept it unserved
    assert recovered is True
    assert after is None  # the recovery dropped everything, this entry included


async def _redis_server(port: int) -> asyncio.subprocess.Process:
    """A private redis-server on a loopback port, which the test may pause."""
    arguments = ["--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    return await asyncio.create_subprocess_exec(
        "redis-server", *arguments, stdout=asyncio.subprocess.DEVNULL
    )


async def _wait_for_redis(redis: Any) -> None:
    for _ in range(100):
        try:
            await redis.ping()
            return
        except Exception:
            await asyncio.sleep(0.05)
    raise AssertionError("redis-server did not start")


# --- Exact invalidation for every write -------------------------------------------------


@dataclass
class Write:
    """A public read, a write through the API, and what the read shows before and after."""

    read: str
    variables: dict[str, Any]
    write: Callable[[httpx.AsyncClient], Awaitable[Any]]
    before: Any
    after: Any
    shows: Callable[[dict[str, Any]], Any]


PUBLISH = "mutation($id: ID!) { publishPost(id: $id) { errors { message } } }"
UNPUBLISH = "mutation($id: ID!) { unpublishPost(id: $id) { errors { message } } }"
ARCHIVE = "mutation($id: ID!) { archivePost(id: $id) { errors { message } } }"
DELETE_POST = "mutation($id: ID!) { deletePost(id: $id) { deletedId } }"
CREATE_POST = """
mutation($input: CreatePostInput!) { createPost(input: $input) { post { id } errors { message } } }
"""
ADD_COMMENT = """
mutation($input: AddCommentInput!) { addComment(input: $input) { errors { message } } }
"""
EDIT_COMMENT = """
mutation($id: ID!, $body: String!) { editComment(id: $id, body: $body) { errors { message } } }
"""
DELETE_COMMENT = "mutation($id: ID!) { deleteComment(id: $id) { deletedId } }"
MODERATE = """
mutation($id: ID!) { moderateComment(id: $id, status: APPROVED) { errors { message } } }
"""
UPDATE_PROFILE = """
mutation($input: UpdateProfileInput!) { updateProfile(input: $input) { errors { message } } }
"""
SIGN_UP = """
mutation($input: SignUpInput!) { signUp(input: $input) { errors { message } } }
"""
SET_ROLE = "mutation($id: ID!) { setUserRole(userId: $id, role: READER) { id } }"
MODERATE_SEVERAL = """
mutation($ids: [ID!]!) { moderateComments(ids: $ids, status: APPROVED) { comments { id } } }
"""
REVISIONS = """
query($id: ID!) {
  node(id: $id) { ... on Post { updatedAt revisions(first: 10) { nodes { id } } } }
}
"""
UPDATE_POST = """
mutation($input: UpdatePostInput!) { updatePost(input: $input) { errors { message } } }
"""
RESTORE = "mutation($id: ID!) { restoreRevision(id: $id) { errors { message } } }"
SET_ACTIVE = "mutation($id: ID!) { setUserActive(userId: $id, active: false) { id } }"


def _titles(data: dict[str, Any]) -> list[str]:
    return [node["title"] for node in data["posts"]["nodes"]]


async def _publish_a_new_post(database: Database, settings: Settings) -> Write:
    author = await create_user(database, role=Role.AUTHOR)
    headers = bearer(settings, author, Role.AUTHOR)

    async def write(client: httpx.AsyncClient) -> None:
        created = await mutate(
            client,
            headers,
            CREATE_POST,
            {"input": {"title": "Fresh", "body": "b", "tags": ["New"]}},
        )
        await mutate(client, headers, PUBLISH, {"id": created["data"]["createPost"]["post"]["id"]})

    return Write(
        "query { posts(first: 10) { nodes { title } } tags(first: 10) { nodes { name } } }",
        {},
        write,
        ([], []),
        (["Fresh"], ["New"]),
        lambda d: (_titles(d), [n["name"] for n in d["tags"]["nodes"]]),
    )


async def _edit_a_post(database: Database, settings: Settings) -> Write:
    author = await create_user(database, role=Role.AUTHOR)
    post = await create_post(database, author_id=author, title="Old title", slug="story")
    headers = bearer(settings, author, Role.AUTHOR)

    async def write(client: httpx.AsyncClient) -> None:
        updated_at = await _updated_at(client, settings, author, post)
        await mutate(
            client,
            headers,
            "mutation($input: UpdatePostInput!) { updatePost(input: $input) "
            "{ errors { message } } }",
            {"input": {"id": global_id("Post", post), "updatedAt": updated_at, "title": "New"}},
        )

    return Write(
        POST_BY_SLUG, {"slug": "story"}, write, "Old title", "New", lambda d: d["post"]["title"]
    )


async def _post_status_change(
    database: Database, settings: Settings, mutation: str, status: PostStatus
) -> Write:
    author = await create_user(database, role=Role.AUTHOR)
    post = await create_post(database, author_id=author, title="Story", status=status)
    headers = bearer(settings, author, Role.AUTHOR)

    async def write(client: httpx.AsyncClient) -> None:
        await mutate(client, headers, mutation, {"id": global_id("Post", post)})

    visible = status is PostStatus.PUBLISHED
    return Write(
        POSTS,
        {},
        write,
        ["Story"] if visible else [],
        [] if visible else ["Story"],
        _titles,
    )


async def _unpublish_a_post(database: Database, settings: Settings) -> Write:
    return await _post_status_change(database, settings, UNPUBLISH, PostStatus.PUBLISHED)


async def _archive_a_post(database: Database, settings: Settings) -> Write:
    return await _post_status_change(database, settings, ARCHIVE, PostStatus.PUBLISHED)


async def _publish_a_draft(database: Database, settings: Settings) -> Write:
    return await _post_status_change(database, settings, PUBLISH, PostStatus.DRAFT)


async def _delete_a_post(database: Database, settings: Settings) -> Write:
    author = await create_user(database, role=Role.AUTHOR)
    post = await create_post(database, author_id=author, title="Story")
    headers = bearer(settings, author, Role.AUTHOR)

    async def write(client: httpx.AsyncClient) -> None:
        await mutate(client, headers, DELETE_POST, {"id": global_id("Post", post)})

    return Write(
        "query($id: ID!) { node(id: $id) { ... on Post { title } } }",
        {"id": global_id("Post", post)},
        write,
        {"title": "Story"},
        None,
        lambda d: d["node"],
    )


async def _add_a_comment(database: Database, settings: Settings) -> Write:
    author = await create_user(database, role=Role.AUTHOR)
    post = await create_post(database, author_id=author, title="Story", slug="story")
    headers = bearer(settings, author, Role.AUTHOR)

    async def write(client: httpx.AsyncClient) -> None:
        comment = {"postId": global_id("Post", post), "body": "First!"}
        await mutate(client, headers, ADD_COMMENT, {"input": comment})

    return Write(
        POST_BY_SLUG,
        {"slug": "story"},
        write,
        (0, []),
        (1, ["First!"]),
        lambda d: (d["post"]["commentCount"], [n["body"] for n in d["post"]["comments"]["nodes"]]),
    )


async def _comment_write(
    database: Database, settings: Settings, mutation: str, variables: Callable[[int], Any]
) -> tuple[int, Callable[[httpx.AsyncClient], Awaitable[None]]]:
    author = await create_user(database, role=Role.AUTHOR)
    post = await create_post(database, author_id=author, title="Story", slug="story")
    comment = await create_comment(database, post_id=post, author_id=author, body="Original")
    headers = bearer(settings, author, Role.EDITOR)

    async def write(client: httpx.AsyncClient) -> None:
        await mutate(client, headers, mutation, variables(comment))

    return comment, write


async def _edit_a_comment(database: Database, settings: Settings) -> Write:
    _, write = await _comment_write(
        database,
        settings,
        EDIT_COMMENT,
        lambda c: {"id": global_id("Comment", c), "body": "Edited"},
    )
    return Write(
        POST_BY_SLUG,
        {"slug": "story"},
        write,
        ["Original"],
        ["Edited"],
        lambda d: [n["body"] for n in d["post"]["comments"]["nodes"]],
    )


async def _delete_a_reply(database: Database, settings: Settings) -> Write:
    author = await create_user(database, role=Role.AUTHOR)
    post = await create_post(database, author_id=author, title="Story", slug="story")
    parent = await create_comment(database, post_id=post, author_id=author, body="Parent")
    reply = await create_comment(
        database, post_id=post, author_id=author, body="Reply", parent_id=parent
    )
    headers = bearer(settings, author, Role.AUTHOR)

    async def write(client: httpx.AsyncClient) -> None:
        await mutate(client, headers, DELETE_COMMENT, {"id": global_id("Comment", parent)})

    return Write(
        NODE,
        {"id": global_id("Comment", reply)},
        write,
        "Reply",
        None,
        lambda d: d["node"] and d["node"]["body"],
    )


async def _approve_a_comment(database: Database, settings: Settings) -> Write:
    author = await create_user(database, role=Role.AUTHOR)
    editor = await create_user(database, role=Role.EDITOR)
    post = await create_post(database, author_id=author, title="Story", slug="story")
    comment = await create_comment(
        database, post_id=post, author_id=author, body="Waiting", status=CommentStatus.PENDING
    )
    headers = bearer(settings, editor, Role.EDITOR)

    async def write(client: httpx.AsyncClient) -> None:
        await mutate(client, headers, MODERATE, {"id": global_id("Comment", comment)})

    return Write(
        POST_BY_SLUG,
        {"slug": "story"},
        write,
        [],
        ["Waiting"],
        lambda d: [n["body"] for n in d["post"]["comments"]["nodes"]],
    )


async def _approve_several_comments(database: Database, settings: Settings) -> Write:
    author = await create_user(database, role=Role.AUTHOR)
    editor = await create_user(database, role=Role.EDITOR)
    post = await create_post(database, author_id=author, title="Story", slug="story")
    waiting = [
        await create_comment(
            database, post_id=post, author_id=author, body=body, status=CommentStatus.PENDING
        )
        for body in ("One", "Two")
    ]
    headers = bearer(settings, editor, Role.EDITOR)

    async def write(client: httpx.AsyncClient) -> None:
        ids = [global_id("Comment", comment) for comment in waiting]
        await mutate(client, headers, MODERATE_SEVERAL, {"ids": ids})

    return Write(
        POST_BY_SLUG,
        {"slug": "story"},
        write,
        [],
        ["One", "Two"],
        lambda d: [n["body"] for n in d["post"]["comments"]["nodes"]],
    )


async def _restore_a_revision(database: Database, settings: Settings) -> Write:
    author = await create_user(database, role=Role.AUTHOR)
    headers = bearer(settings, author, Role.AUTHOR)
    setup = httpx.ASGITransport(app=create_app(settings))
    async with httpx.AsyncClient(transport=setup, base_url="http://q") as client:
        draft = {"title": "First title", "body": "b"}
        created = await mutate(client, headers, CREATE_POST, {"input": draft})
        post_id = created["data"]["createPost"]["post"]["id"]
        await mutate(client, headers, PUBLISH, {"id": post_id})
        revisions = await mutate(client, headers, REVISIONS, {"id": post_id})
        first = revisions["data"]["node"]["revisions"]["nodes"][-1]["id"]
        updated_at = revisions["data"]["node"]["updatedAt"]
        change = {"id": post_id, "updatedAt": updated_at, "title": "Second title"}
        await mutate(client, headers, UPDATE_POST, {"input": change})
    await setup.app.state.services.close()  # type: ignore[attr-defined]

    async def write(client: httpx.AsyncClient) -> None:
        await mutate(client, headers, RESTORE, {"id": first})

    return Write(POSTS, {}, write, ["Second title"], ["First title"], _titles)


async def _update_a_profile(database: Database, settings: Settings) -> Write:
    author = await create_user(database, role=Role.AUTHOR, display_name="Before")
    await create_post(database, author_id=author, title="Story")
    headers = bearer(settings, author, Role.AUTHOR)

    async def write(client: httpx.AsyncClient) -> None:
        await mutate(client, headers, UPDATE_PROFILE, {"input": {"displayName": "After"}})

    return Write(
        POSTS,
        {},
        write,
        "Before",
        "After",
        lambda d: d["posts"]["nodes"][0]["author"]["displayName"],
    )


async def _sign_up(database: Database, settings: Settings) -> Write:
    async def write(client: httpx.AsyncClient) -> None:
        account = {
            "username": "newcomer",
            "email": "newcomer@example.com",
            "password": "a long enough passphrase",
            "displayName": "Newcomer",
        }
        await mutate(client, {}, SIGN_UP, {"input": account})

    return Write(
        AUTHOR,
        {"username": "newcomer"},
        write,
        None,
        {"displayName": "Newcomer"},
        lambda d: d["author"],
    )


async def _administer(database: Database, settings: Settings, mutation: str) -> Write:
    admin = await create_user(database, role=Role.ADMIN, username="boss")
    writer = await create_user(database, role=Role.AUTHOR, username="writer")
    headers = bearer(settings, admin, Role.ADMIN)

    async def write(client: httpx.AsyncClient) -> None:
        await mutate(client, headers, mutation, {"id": global_id("User", writer)})

    return Write(
        AUTHORS,
        {},
        write,
        ["boss", "writer"],
        ["boss"],
        lambda d: sorted(n["username"] for n in d["authors"]["nodes"]),
    )


async def _demote_an_author(database: Database, settings: Settings) -> Write:
    return await _administer(database, settings, SET_ROLE)


async def _deactivate_an_author(database: Database, settings: Settings) -> Write:
    return await _administer(database, settings, SET_ACTIVE)


# Reads whose tags a compiled read derives differently from the resolver path: objects
# reached through a relation (tagged by type), nodes by ID, a page ordered by comment count.


async def _comment_on_a_listed_post(database: Database, settings: Settings) -> Write:
    author = await create_user(database, role=Role.AUTHOR)
    post = await create_post(database, author_id=author, title="Story")
    headers = bearer(settings, author, Role.AUTHOR)

    async def write(client: httpx.AsyncClient) -> None:
        comment = {"postId": global_id("Post", post), "body": "First!"}
        await mutate(client, headers, ADD_COMMENT, {"input": comment})

    return Write(
        "query { posts(first: 5) { nodes { commentCount "
        "comments(first: 5) { nodes { body author { displayName } } } } } }",
        {},
        write,
        (0, []),
        (1, ["First!"]),
        lambda d: (
            d["posts"]["nodes"][0]["commentCount"],
            [n["body"] for n in d["posts"]["nodes"][0]["comments"]["nodes"]],
        ),
    )


async def _comment_reorders_a_page(database: Database, settings: Settings) -> Write:
    """The page holds one post; a comment on the other one brings that one in."""
    author = await create_user(database, role=Role.AUTHOR)
    first = await create_post(database, author_id=author, title="Commented")
    await create_comment(database, post_id=first, author_id=author)
    other = await create_post(database, author_id=author, title="Quiet")
    await create_comment(database, post_id=other, author_id=author, status=CommentStatus.PENDING)
    headers = bearer(settings, author, Role.AUTHOR)

    async def write(client: httpx.AsyncClient) -> None:
        for body in ("One", "Two"):
            comment = {"postId": global_id("Post", other), "body": body}
            await mutate(client, headers, ADD_COMMENT, {"input": comment})

    return Write(
        "query { posts(first: 1, orderBy: {field: COMMENT_COUNT, direction: DESC}) "
        "{ nodes { title } } }",
        {},
        write,
        ["Commented"],
        ["Quiet"],
        _titles,
    )


async def _unpublish_a_commented_post(database: Database, settings: Settings) -> Write:
    author = await create_user(database, role=Role.AUTHOR)
    post = await create_post(database, author_id=author, title="Story")
    comment = await create_comment(database, post_id=post, author_id=author, body="Said")
    headers = bearer(settings, author, Role.AUTHOR)

    async def write(client: httpx.AsyncClient) -> None:
        await mutate(client, headers, UNPUBLISH, {"id": global_id("Post", post)})

    return Write(
        NODE,
        {"id": global_id("Comment", comment)},
        write,
        "Said",
        None,
        lambda d: d["node"] and d["node"]["body"],
    )


async def _unpublish_a_tagged_post(database: Database, settings: Settings) -> Write:
    author = await create_user(database, role=Role.AUTHOR)
    post = await create_post(database, author_id=author, title="Story")
    tag = await create_tag(database, name="Lonely")
    await tag_post(database, post_id=post, tag_id=tag)
    headers = bearer(settings, author, Role.AUTHOR)

    async def write(client: httpx.AsyncClient) -> None:
        await mutate(client, headers, UNPUBLISH, {"id": global_id("Post", post)})

    return Write(
        "query($id: ID!) { node(id: $id) { ... on Tag { name } } }",
        {"id": global_id("Tag", tag)},
        write,
        {"name": "Lonely"},
        None,
        lambda d: d["node"],
    )


async def _update_a_profile_by_id(database: Database, settings: Settings) -> Write:
    author = await create_user(database, role=Role.AUTHOR, display_name="Before")
    headers = bearer(settings, author, Role.AUTHOR)

    async def write(client: httpx.AsyncClient) -> None:
        await mutate(client, headers, UPDATE_PROFILE, {"input": {"displayName": "After"}})

    return Write(
        "query($id: ID!) { node(id: $id) { ... on Author { displayName } } }",
        {"id": global_id("Author", author)},
        write,
        "Before",
        "After",
        lambda d: d["node"]["displayName"],
    )


WRITES: dict[str, Callable[[Database, Settings], Awaitable[Write]]] = {
    "createPost+publishPost (new tag)": _publish_a_new_post,
    "updatePost": _edit_a_post,
    "publishPost": _publish_a_draft,
    "unpublishPost": _unpublish_a_post,
    "archivePost": _archive_a_post,
    "deletePost": _delete_a_post,
    "addComment": _add_a_comment,
    "editComment": _edit_a_comment,
    "deleteComment (its replies)": _delete_a_reply,
    "moderateComment": _approve_a_comment,
    "moderateComments": _approve_several_comments,
    "restoreRevision": _restore_a_revision,
    "updateProfile": _update_a_profile,
    "signUp": _sign_up,
    "setUserRole": _demote_an_author,
    "setUserActive": _deactivate_an_author,
    "addComment (a listed post's comments)": _comment_on_a_listed_post,
    "addComment (a page ordered by comment count)": _comment_reorders_a_page,
    "unpublishPost (its comment by ID)": _unpublish_a_commented_post,
    "unpublishPost (a tag by ID)": _unpublish_a_tagged_post,
    "updateProfile (an author by ID)": _update_a_profile_by_id,
}
# Mutations that change nothing an anonymous reader sees.
WITHOUT_PUBLIC_EFFECT = {
    "logIn",
    "refreshToken",
    "logOut",
    "logOutEverywhere",
    "changePassword",
    "createPreviewToken",
    "revokePreviewTokens",
    "createWebhookEndpoint",
    "setWebhookEndpointActive",
    "deleteWebhookEndpoint",
}


async def _check_write(
    case: Write,
    *,
    reader: httpx.AsyncClient,
    writer: httpx.AsyncClient,
    log: StatementLog,
    path: str,
) -> None:
    log.statements.clear()
    first = await public_get(reader, case.read, case.variables)
    # The read that is cached ran on the path under test (its tags are that path's own).
    assert compiled(log) is PATHS[path], log.statements
    second = await public_get(reader, case.read, case.variables)
    assert second.headers["x-quire-cache"] == "hit", second.text
    assert case.shows(second.json()["data"]) == case.before

    await case.write(writer)
    after = await public_get(reader, case.read, case.variables)

    assert first.headers["x-quire-cache"] == "miss"
    assert after.headers["x-quire-cache"] == "miss"
    assert case.shows(after.json()["data"]) == case.after


@pytest.mark.parametrize("path", list(PATHS))
@pytest.mark.parametrize("write", list(WRITES))
async def test_a_write_drops_what_it_changed_from_the_cache(
    write: str, path: str, settings: Settings, database: Database
) -> None:
    case = await WRITES[write](database, settings)
    log = StatementLog()

    async with client_of(
        settings, log=log, response_cache=True, compiled_reads=PATHS[path]
    ) as client:
        await _check_write(case, reader=client, writer=client, log=log, path=path)


@pytest.mark.parametrize("path", list(PATHS))
@pytest.mark.parametrize("write", list(WRITES))
async def test_a_write_on_one_instance_drops_the_shared_cache_of_another(
    write: str, path: str, settings: Settings, database: Database, redis_prefix: str
) -> None:
    case = await WRITES[write](database, settings)
    log = StatementLog()

    async with instances(settings, redis_prefix, log=log, compiled_reads=PATHS[path]) as (a, b):
        await _check_write(case, reader=b, writer=a, log=log, path=path)


def test_every_mutation_is_checked_or_changes_nothing_public(settings: Settings) -> None:
    from strawberry.printer import print_schema

    from schema.root import create_schema

    schema = create_schema()._schema
    mutations = set(schema.mutation_type.fields) if schema.mutation_type else set()
    checked = {name.split(" ")[0] for case in WRITES for name in case.split("+")}

    assert mutations - WITHOUT_PUBLIC_EFFECT == checked, print_schema


@pytest.mark.parametrize("path", list(PATHS))
async def test_an_unrelated_write_keeps_other_entries(
    path: str, settings: Settings, database: Database
) -> None:
    """A post read by ID keeps its cached copy through a comment on another post, on both
    paths. (Read by slug, a compiled read is tagged `comments` and would be dropped: see
    resolvers/read_tags.py.)"""
    author = await create_user(database, role=Role.AUTHOR)
    one = await create_post(database, author_id=author, title="One", slug="one")
    two = await create_post(database, author_id=author, title="Two", slug="two")
    await create_comment(database, post_id=one, author_id=author)
    read = (
        "query($id: ID!) { post(id: $id) { title commentCount "
        "comments(first: 10) { nodes { body author { displayName } } } } }"
    )
    variables = {"id": global_id("Post", two)}

    async with client_of(settings, response_cache=True, compiled_reads=PATHS[path]) as client:
        await public_get(client, read, variables)
        await mutate(
            client,
            bearer(settings, author, Role.AUTHOR),
            ADD_COMMENT,
            {"input": {"postId": global_id("Post", one), "body": "More"}},
        )
        again = await public_get(client, read, variables)

    assert again.headers["x-quire-cache"] == "hit"


# --- Scheduled publication -----------------------------------------------------------


async def test_a_cached_list_does_not_outlive_the_next_scheduled_publication(
    settings: Settings, database: Database
) -> None:
    author = await create_user(database, role=Role.AUTHOR)
    await create_post(database, author_id=author, title="Now")
    due = utc_now() + timedelta(seconds=2)
    await create_post(database, author_id=author, title="Soon", published_at=due)
    application = create_app(settings.model_copy(update={"response_cache": True}))
    services = application.state.services
    await services.start()  # loads the schedule
    transport = httpx.ASGITransport(app=application)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://q") as client:
            before = await public_get(client, POSTS)
            await asyncio.sleep(2.5)
            after = await public_get(client, POSTS)
    finally:
        await services.close()

    assert _titles(before.json()["data"]) == ["Now"]
    max_age = int(before.headers["cache-control"].split("max-age=")[1].split(",")[0])
    assert max_age <= 2
    assert before.headers["surrogate-control"] in ("max-age=0", "max-age=1", "max-age=2")
    assert after.headers["x-quire-cache"] == "miss"
    assert sorted(_titles(after.json()["data"])) == ["Now", "Soon"]


# --- The CDN purge hook ----------------------------------------------------------------


@asynccontextmanager
async def receiver(failures: int = 0, delay: float = 0.0) -> AsyncIterator[tuple[str, list[Any]]]:
    """A purge endpoint on 127.0.0.1 that records what it receives; it answers 503 to the
    first `failures` calls."""
    received: list[Any] = []

    async def purge(request: Request) -> Response:
        received.append((dict(request.headers), await request.json()))
        await asyncio.sleep(delay)
        if len(received) <= failures:
            return Response(status_code=503)
        return Response(status_code=200)

    port = free_port()
    config = uvicorn.Config(
        Starlette(routes=[Route("/purge", purge, methods=["POST"])]),
        host="127.0.0.1",
        port=port,
        log_config=None,
        lifespan="off",
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    await _wait_for(lambda: server.started)
    try:
        yield f"http://127.0.0.1:{port}/purge", received
    finally:
        server.should_exit = True
        await task


async def _wait_for(condition: Callable[[], bool]) -> None:
    for _ in range(200):
        if condition():
            return
        await asyncio.sleep(0.025)
    raise AssertionError("timed out")


async def test_a_write_calls_the_purge_hook_with_its_tags_without_waiting(
    settings: Settings, database: Database
) -> None:
    author = await create_user(database, role=Role.AUTHOR)
    post = await create_post(database, author_id=author, title="Story")
    async with receiver(delay=1.0) as (url, received):
        application = create_app(
            settings.model_copy(
                update={"cache_purge_url": url, "cache_purge_authorization": "Bearer purge-key"}
            )
        )
        services = application.state.services
        await services.start()
        transport = httpx.ASGITransport(app=application)
        try:
            async with httpx.AsyncClient(transport=transport, base_url="http://q") as client:
                started = asyncio.get_running_loop().time()
                await mutate(
                    client,
                    bearer(settings, author, Role.AUTHOR),
                    UNPUBLISH,
                    {"id": global_id("Post", post)},
                )
                elapsed = asyncio.get_running_loop().time() - started
                await _wait_for(lambda: len(received) == 1)
        finally:
            await services.close()

    headers, body = received[0]
    assert elapsed < 1.0  # the receiver takes a second: the write did not wait for it
    assert headers["authorization"] == "Bearer purge-key"
    assert sorted(body["tags"]) == sorted([f"Post:{post}", "posts"])


async def test_a_failed_purge_is_retried() -> None:
    async with receiver(failures=2) as (url, received):
        hook = PurgeHook(url, authorization=None, first_delay=0.01)
        hook.start()
        hook.enqueue({"Post:1"})
        await _wait_for(lambda: len(received) == 3)
        await hook.close()

    assert [body["tags"] for _, body in received] == [["Post:1"]] * 3


async def test_the_purge_queue_is_bounded() -> None:
    hook = PurgeHook("http://127.0.0.1:9/purge", authorization=None, max_pending=3)
    hook.enqueue([f"Post:{number}" for number in range(5)])

    assert list(hook.pending) == ["Post:2", "Post:3", "Post:4"]
    await hook.close()


async def test_tags_are_published_for_unrelated_untagged_data_too(
    cached: httpx.AsyncClient, database: Database
) -> None:
    """A node looked up by ID and not found is cached with that ID's tag, so that it appears
    once it exists."""
    author = await create_user(database, role=Role.AUTHOR)
    tag = await create_tag(database, name="Python")
    post = await create_post(database, author_id=author, title="Hidden", status=PostStatus.DRAFT)
    await tag_post(database, post_id=post, tag_id=tag)

    missing = await public_get(cached, NODE, {"id": global_id("Post", post)})

    assert missing.json()["data"]["node"] is None
    assert f"Post:{post}" in missing.headers["surrogate-key"].split(" ")


async def test_scheduling_a_post_caps_the_lifetime_of_cached_lists(
    settings: Settings, database: Database
) -> None:
    author = await create_user(database, role=Role.AUTHOR)
    await create_post(database, author_id=author, title="Now")
    draft = await create_post(database, author_id=author, title="Soon", status=PostStatus.DRAFT)
    application = create_app(settings.model_copy(update={"response_cache": True}))
    services = application.state.services
    await services.start()
    transport = httpx.ASGITransport(app=application)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://q") as client:
            await public_get(client, POSTS)  # cached before anything is scheduled
            at = (utc_now() + timedelta(seconds=2)).isoformat()
            await mutate(
                client,
                bearer(settings, author, Role.AUTHOR),
                "mutation($id: ID!, $at: DateTime) { publishPost(id: $id, publishedAt: $at) "
                "{ errors { message } } }",
                {"id": global_id("Post", draft), "at": at},
            )
            before = await public_get(client, POSTS)
            await asyncio.sleep(2.5)
            after = await public_get(client, POSTS)
    finally:
        await services.close()

    assert _titles(before.json()["data"]) == ["Now"]
    assert int(before.headers["cache-control"].split("max-age=")[1].split(",")[0]) <= 2
    assert after.headers["x-quire-cache"] == "miss"
    assert sorted(_titles(after.json()["data"])) == ["Now", "Soon"]


async def test_instances_with_other_limits_never_share_cached_reads(
    settings: Settings, database: Database, redis_prefix: str
) -> None:
    """A hit skips every check: an instance with a lower page-size limit must not answer a read
    that another instance's limits allowed."""
    await create_post(database, author_id=await create_user(database), title="Hello")
    shared: dict[str, Any] = {
        "response_cache": True,
        "redis_url": REDIS_URL,
        "redis_key_prefix": redis_prefix,
    }
    async with (
        client_of(settings, **shared) as lenient,
        client_of(settings, max_page_size=5, **shared) as strict,
    ):
        allowed = await public_get(lenient, POSTS)  # first: 10
        refused = await public_get(strict, POSTS)

    assert allowed.status_code == 200
    assert refused.headers.get("x-quire-cache") != "hit"
    assert refused.json()["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
