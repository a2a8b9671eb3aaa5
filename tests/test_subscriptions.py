"""Subscriptions against a live uvicorn server with a real WebSocket client: authentication
in connection_init, visibility and permissions per event, unsubscribe, scheduled posts, token
expiry, and both protocols. Writes go through the server's HTTP API, so the events are the
server's own."""

import json
import os
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import jwt
import pytest

from models.columns import utc_now
from models.database import Database, create_database
from models.tables import PostStatus, Role
from resolvers.tokens import issue_access_token
from settings import Settings
from tests.factories import create_post, create_tag, create_user, tag_post
from tests.live import running_quire
from tests.wsclient import LEGACY_WS, graphql_socket

COMMENT_ADDED = """subscription ($post: ID!) {
  commentAdded(postId: $post) { id body status author { username } post { title } } }"""
POST_PUBLISHED = """subscription ($tag: String) {
  postPublished(tag: $tag) { title author { username } tags { slug } } }"""
MODERATION = "subscription { moderationQueue { body status } }"
ADD_COMMENT = """mutation ($post: ID!, $body: String!) {
  addComment(input: {postId: $post, body: $body}) { comment { id status } errors { code } } }"""
MODERATE = (
    """mutation ($id: ID!) { moderateComment(id: $id, status: APPROVED) { comment { id } } }"""
)
PUBLISH = """mutation ($id: ID!, $at: DateTime) {
  publishPost(id: $id, publishedAt: $at) { post { status } errors { code } } }"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    directory = tmp_path_factory.mktemp("subscriptions")
    url = f"sqlite+aiosqlite:///{directory / 'quire.db'}"
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "QUIRE_RATE_LIMIT_ENABLED": "false",
        "QUIRE_TRUSTED_AFTER_APPROVED_COMMENTS": "0",  # readers' comments wait for moderation
    }
    env.pop("REDIS_URL", None)
    with running_quire(env, directory) as base_url:
        yield base_url, url


@dataclass
class World:
    http: httpx.AsyncClient
    ws_url: str
    settings: Settings
    database: Database
    post: str  # global ID of a published post
    post_id: int
    tokens: dict[str, str]
    ids: dict[str, int]

    async def graphql(self, query: str, as_: str | None = None, **variables: Any) -> Any:
        headers = {"authorization": f"Bearer {self.tokens[as_]}"} if as_ else {}
        response = await self.http.post(
            "/graphql", json={"query": query, "variables": variables}, headers=headers
        )
        body = response.json()
        assert "errors" not in body, body
        return body["data"]

    def bearer(self, who: str) -> dict[str, str]:
        return {"authorization": f"Bearer {self.tokens[who]}"}


def global_id(kind: str, number: int) -> str:
    import base64

    return base64.b64encode(f"{kind}:{number}".encode()).decode()


@pytest.fixture
async def world(server: tuple[str, str]) -> AsyncIterator[World]:
    base_url, database_url = server
    settings = Settings(database_url=database_url, _env_file=None)
    database = create_database(settings)
    ids = {
        role.value.lower(): await create_user(database, role=role)
        for role in (Role.READER, Role.AUTHOR, Role.EDITOR)
    }
    tokens = {
        name: issue_access_token(settings, user_id=user_id, role=Role(name.upper()))[0]
        for name, user_id in ids.items()
    }
    post_id = await create_post(database, author_id=ids["author"], title="Live post")
    async with httpx.AsyncClient(base_url=base_url, trust_env=False) as http:
        yield World(
            http=http,
            ws_url=base_url.replace("http://", "ws://") + "/graphql",
            settings=settings,
            database=database,
            post=global_id("Post", post_id),
            post_id=post_id,
            tokens=tokens,
            ids=ids,
        )
    await database.dispose()


async def test_readers_see_approved_comments_and_pending_ones_once_approved(
    world: World,
) -> None:
    async with graphql_socket(world.ws_url) as socket:
        await socket.subscribe("1", COMMENT_ADDED, {"post": world.post})
        await world.graphql(ADD_COMMENT, "author", post=world.post, body="From the author")
        first = await socket.next_data("1")
        pending = await world.graphql(ADD_COMMENT, "reader", post=world.post, body="Pending")
        await socket.nothing_for(0.5)  # anonymous subscribers never see a pending comment
        await world.graphql(MODERATE, "editor", id=pending["addComment"]["comment"]["id"])
        approved = await socket.next_data("1")

    assert first["data"]["commentAdded"]["body"] == "From the author"
    assert first["data"]["commentAdded"]["author"]["username"]  # nested, through loaders
    assert first["data"]["commentAdded"]["post"] == {"title": "Live post"}
    assert approved["data"]["commentAdded"]["body"] == "Pending"
    assert approved["data"]["commentAdded"]["status"] == "APPROVED"


async def test_editors_see_pending_comments_at_once_and_only_once(world: World) -> None:
    async with graphql_socket(world.ws_url, payload=world.bearer("editor")) as socket:
        await socket.subscribe("c", COMMENT_ADDED, {"post": world.post})
        pending = await world.graphql(ADD_COMMENT, "reader", post=world.post, body="Wait")
        seen = await socket.next_data("c")
        await world.graphql(MODERATE, "editor", id=pending["addComment"]["comment"]["id"])
        await socket.nothing_for(0.5)

    assert seen["data"]["commentAdded"]["status"] == "PENDING"


async def test_comments_on_other_posts_are_not_sent(world: World) -> None:
    other = await create_post(world.database, author_id=world.ids["author"])
    async with graphql_socket(world.ws_url) as socket:
        await socket.subscribe("1", COMMENT_ADDED, {"post": world.post})
        await world.graphql(ADD_COMMENT, "author", post=global_id("Post", other), body="Else")
        await socket.nothing_for(0.5)


async def test_the_moderation_queue_is_for_editors(world: World) -> None:
    async with graphql_socket(world.ws_url, payload=world.bearer("reader")) as reader:
        await reader.subscribe("q", MODERATION)
        refused = await reader.receive()
    async with graphql_socket(world.ws_url, payload=world.bearer("editor")) as editor:
        await editor.subscribe("q", MODERATION)
        await world.graphql(ADD_COMMENT, "author", post=world.post, body="Approved at once")
        await world.graphql(ADD_COMMENT, "reader", post=world.post, body="Needs a look")
        queued = await editor.next_data("q")

    assert refused["type"] == "error"
    assert refused["payload"][0]["extensions"]["code"] == "FORBIDDEN"
    assert queued["data"]["moderationQueue"] == {"body": "Needs a look", "status": "PENDING"}


async def test_posts_appear_when_published_and_scheduled_ones_when_due(world: World) -> None:
    python = await create_tag(world.database, name=f"Python {time.monotonic_ns()}")
    tagged = await create_post(
        world.database, author_id=world.ids["author"], status=PostStatus.DRAFT
    )
    await tag_post(world.database, post_id=tagged, tag_id=python)
    untagged = await create_post(
        world.database, author_id=world.ids["author"], status=PostStatus.DRAFT
    )
    scheduled = await create_post(
        world.database, author_id=world.ids["author"], status=PostStatus.DRAFT, title="Later"
    )
    async with graphql_socket(world.ws_url) as everything, graphql_socket(world.ws_url) as only:
        await everything.subscribe("all", POST_PUBLISHED)
        slug = await _tag_slug(world, python)
        await only.subscribe("tag", POST_PUBLISHED, {"tag": slug})
        await world.graphql(PUBLISH, "author", id=global_id("Post", untagged))
        await world.graphql(PUBLISH, "author", id=global_id("Post", tagged))
        assert (await everything.next_data("all"))["data"]["postPublished"]["tags"] == []
        assert (await everything.next_data("all"))["data"]["postPublished"]["tags"] == [
            {"slug": slug}
        ]
        assert (await only.next_data("tag"))["data"]["postPublished"]["tags"] == [{"slug": slug}]

        due = (utc_now() + timedelta(seconds=2)).isoformat()
        await world.graphql(PUBLISH, "author", id=global_id("Post", scheduled), at=due)
        await everything.nothing_for(1.0)  # not before its time
        later = await everything.next_data("all", seconds=5)

    assert later["data"]["postPublished"]["title"] == "Later"


async def _tag_slug(world: World, tag_id: int) -> str:
    # Read as the author: the tag is carried only by their drafts, hidden from anyone else.
    data = await world.graphql(
        f'{{ node(id: "{global_id("Tag", tag_id)}") {{ ... on Tag {{ slug }} }} }}', "author"
    )
    slug: str = data["node"]["slug"]
    return slug


async def test_unsubscribing_stops_the_events(world: World) -> None:
    async with graphql_socket(world.ws_url) as socket:
        await socket.subscribe("1", COMMENT_ADDED, {"post": world.post})
        await socket.stop("1")
        await world.graphql(ADD_COMMENT, "author", post=world.post, body="Nobody listens")
        await socket.nothing_for(0.5)
        # The connection itself is still alive.
        await socket.send({"type": "ping"})
        assert json.loads(await socket.connection.recv())["type"] == "pong"


async def test_a_bad_token_is_refused_at_connection_init(world: World) -> None:
    async with graphql_socket(
        world.ws_url, payload={"authorization": "Bearer forged"}, acknowledge=False
    ) as socket:
        code, reason = await socket.closed()

    assert (code, reason) == (4403, "Forbidden")


async def test_an_expiring_token_closes_the_socket(world: World) -> None:
    now = int(time.time())
    settings = world.settings
    claims = {
        "sub": str(world.ids["reader"]),
        "role": "READER",
        "iat": now,
        "exp": now + 2,
        "jti": "expiring",
        "iss": settings.jwt_issuer,
        "aud": settings.jwt_audience,
    }
    token = jwt.encode(claims, settings.jwt_signing_key, algorithm=settings.jwt_algorithm)
    async with graphql_socket(world.ws_url, payload={"authorization": f"Bearer {token}"}) as socket:
        code, reason = await socket.closed(seconds=6)

    assert (code, reason) == (4403, "Token expired")


async def test_the_legacy_graphql_ws_protocol_works_too(world: World) -> None:
    async with graphql_socket(world.ws_url, protocol=LEGACY_WS) as socket:
        await socket.subscribe("1", COMMENT_ADDED, {"post": world.post})
        await world.graphql(ADD_COMMENT, "author", post=world.post, body="Old protocol")
        data = await socket.next_data("1")

    assert data["data"]["commentAdded"]["body"] == "Old protocol"


async def test_subscribing_to_a_hidden_post_is_refused(world: World) -> None:
    draft = await create_post(
        world.database, author_id=world.ids["author"], status=PostStatus.DRAFT
    )
    async with graphql_socket(world.ws_url) as socket:
        await socket.subscribe("1", COMMENT_ADDED, {"post": global_id("Post", draft)})
        message = await socket.receive()

    # An error of the event stream itself: one result with the error, then complete.
    assert message["type"] == "next"
    assert message["payload"]["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    assert (await socket.receive())["type"] == "complete"
