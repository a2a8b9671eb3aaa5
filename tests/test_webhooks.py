"""Webhooks: admins register https endpoints; every content event reaches a real receiver on
127.0.0.1 once, signed; failures are retried with backoff and shown to admins; the outbox
survives a restart, holds nothing for a rolled-back write, and two workers send each event
once."""

import asyncio
import base64
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from prometheus_client import REGISTRY

from models.columns import utc_now
from models.database import Database, create_database
from models.tables import CommentStatus, PostStatus, Role, posts_table, webhook_deliveries_table
from resolvers import post_writes
from resolvers.tokens import issue_access_token
from resolvers.webhook_delivery import WebhookWorker
from settings import Settings
from tests.conftest import client_of
from tests.factories import create_comment, create_post, create_user
from tests.webhook_receiver import receiver

REGISTER = """
mutation Register($input: CreateWebhookEndpointInput!) {
  createWebhookEndpoint(input: $input) { endpoint { id url events } secret errors { code } }
}
"""
ENDPOINTS = """
query Endpoints {
  webhookEndpoints {
    url
    deliveries(first: 10) {
      nodes { event status attempts lastStatusCode lastError deliveredAt }
    }
  }
}
"""
PUBLISH = "mutation Publish($id: ID!) { publishPost(id: $id) { post { status } } }"
UNPUBLISH = "mutation Unpublish($id: ID!) { unpublishPost(id: $id) { post { status } } }"
DELETE = "mutation Delete($id: ID!) { deletePost(id: $id) { deletedId } }"
UPDATE = """
mutation Update($input: UpdatePostInput!) {
  updatePost(input: $input) { post { title } errors { code } }
}
"""
MODERATE = """
mutation Moderate($id: ID!) { moderateComment(id: $id, status: APPROVED) { comment { status } } }
"""
ALL_EVENTS = [
    "POST_PUBLISHED",
    "POST_UPDATED",
    "POST_UNPUBLISHED",
    "POST_DELETED",
    "COMMENT_APPROVED",
]


def _id(type_name: str, row_id: int) -> str:
    return base64.b64encode(f"{type_name}:{row_id}".encode()).decode()


def _webhook_settings(settings: Settings, **overrides: Any) -> Settings:
    values = {
        "webhook_allow_loopback_http": True,
        "webhook_retry_first_seconds": 0.05,
        "webhook_retry_longest_seconds": 0.2,
        "webhook_poll_seconds": 0.05,
        "webhook_timeout_seconds": 5.0,
        **overrides,
    }
    return settings.model_copy(update=values)


async def _headers(
    database: Database, settings: Settings, role: Role
) -> tuple[int, dict[str, str]]:
    user_id = await create_user(database, role=role)
    token, _ = issue_access_token(settings, user_id=user_id, role=role)
    return user_id, {"Authorization": f"Bearer {token}"}


async def _run(
    client: httpx.AsyncClient, query: str, variables: dict[str, Any], headers: dict[str, str]
) -> dict[str, Any]:
    response = await client.post(
        "/graphql", json={"query": query, "variables": variables}, headers=headers
    )
    body: dict[str, Any] = response.json()
    return body


async def _register(
    client: httpx.AsyncClient, headers: dict[str, str], url: str, events: list[str]
) -> str:
    body = await _run(client, REGISTER, {"input": {"url": url, "events": events}}, headers)
    payload = body["data"]["createWebhookEndpoint"]
    assert payload["errors"] == [], payload
    secret: str = payload["secret"]
    return secret


@asynccontextmanager
async def _worker(settings: Settings, database: Database) -> AsyncIterator[WebhookWorker]:
    worker = WebhookWorker(settings=settings, database=database)
    try:
        yield worker
    finally:
        await worker.close()


async def _pending(database: Database) -> int:
    deliveries = webhook_deliveries_table.c
    async with database.engine.connect() as connection:
        count = await connection.scalar(
            sa.select(sa.func.count()).where(deliveries.status == "PENDING")
        )
        return int(count or 0)


async def _drain(worker: WebhookWorker, database: Database, *, seconds: float = 10.0) -> None:
    """Sends until nothing is pending (retries included)."""
    async with asyncio.timeout(seconds):
        while True:
            if await worker.deliver_due() == 0:
                if await _pending(database) == 0:
                    return
                await asyncio.sleep(0.02)


async def _deliveries(database: Database) -> list[Any]:
    deliveries = webhook_deliveries_table.c
    async with database.engine.connect() as connection:
        rows = await connection.execute(
            sa.select(deliveries.event, deliveries.status, deliveries.attempts).order_by(
                deliveries.id
            )
        )
        return list(rows.all())


async def test_only_admins_register_https_endpoints(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    _, admin = await _headers(database, settings, Role.ADMIN)
    _, editor = await _headers(database, settings, Role.EDITOR)

    def register(url: str) -> dict[str, Any]:
        return {"input": {"url": url, "events": ["POST_PUBLISHED"]}}

    plain = await _run(client, REGISTER, register("http://example.com/hook"), admin)
    loopback = await _run(client, REGISTER, register("http://127.0.0.1:9/hook"), admin)
    with_credentials = await _run(client, REGISTER, register("https://u:p@example.com/"), admin)
    by_editor = await _run(client, REGISTER, register("https://example.com/hook"), editor)
    secure = await _run(client, REGISTER, register("https://example.com/hook"), admin)

    for refused in (plain, loopback, with_credentials):
        assert refused["data"]["createWebhookEndpoint"]["errors"] == [{"code": "URL_NOT_ALLOWED"}]
    assert [error["extensions"]["code"] for error in by_editor["errors"]] == ["FORBIDDEN"]
    created = secure["data"]["createWebhookEndpoint"]
    assert created["endpoint"]["url"] == "https://example.com/hook"
    assert created["endpoint"]["events"] == ["POST_PUBLISHED"]
    assert len(created["secret"]) >= 32
    listed = await _run(client, ENDPOINTS, {}, admin)
    assert [endpoint["url"] for endpoint in listed["data"]["webhookEndpoints"]] == [
        "https://example.com/hook"
    ]


async def test_loopback_http_is_allowed_only_by_the_setting(
    database: Database, settings: Settings
) -> None:
    _, admin = await _headers(database, settings, Role.ADMIN)
    async with client_of(settings, webhook_allow_loopback_http=True) as client:
        body = await _run(
            client,
            REGISTER,
            {"input": {"url": "http://127.0.0.1:9/hook", "events": ["POST_DELETED"]}},
            admin,
        )

    assert body["data"]["createWebhookEndpoint"]["errors"] == []


async def test_each_content_event_reaches_the_receiver_once_and_signed(
    database: Database, settings: Settings
) -> None:
    hooks = _webhook_settings(settings)
    author_id, author = await _headers(database, settings, Role.AUTHOR)
    _, admin = await _headers(database, settings, Role.ADMIN)
    reader = await create_user(database, role=Role.READER)
    post = await create_post(database, author_id=author_id, status=PostStatus.DRAFT, title="T")
    async with receiver() as everything, receiver() as comments_only:
        async with client_of(hooks) as client:
            secret = await _register(client, admin, everything.url, ALL_EVENTS)
            comment_secret = await _register(client, admin, comments_only.url, ["COMMENT_APPROVED"])
            await _run(client, PUBLISH, {"id": _id("Post", post)}, author)
            updated_at = (
                await _run(
                    client,
                    "query P($id: ID!) { post(id: $id) { updatedAt } }",
                    {"id": _id("Post", post)},
                    author,
                )
            )["data"]["post"]["updatedAt"]
            await _run(
                client,
                UPDATE,
                {"input": {"id": _id("Post", post), "updatedAt": updated_at, "title": "New"}},
                author,
            )
            comment = await create_comment(
                database, post_id=post, author_id=reader, status=CommentStatus.PENDING
            )
            await _run(client, MODERATE, {"id": _id("Comment", comment)}, admin)
            await _run(client, UNPUBLISH, {"id": _id("Post", post)}, author)
            await _run(client, DELETE, {"id": _id("Post", post)}, author)
        async with _worker(hooks, database) as worker:
            await _drain(worker, database)
            assert await worker.deliver_due() == 0

        events = [request.json["event"] for request in everything.received]
        assert events == [
            "post.published",
            "post.updated",
            "comment.approved",
            "post.unpublished",
            "post.deleted",
        ]
        assert all(request.signed_with(secret) for request in everything.received)
        assert len({request.json["id"] for request in everything.received}) == 5
        first = everything.received[0]
        assert first.headers["x-quire-event"] == "post.published"
        assert first.json["data"]["postId"] == _id("Post", post)
        assert first.json["data"]["status"] == "PUBLISHED"
        assert first.json["tags"] == sorted([f"Post:{post}", "posts"])
        assert [request.json["event"] for request in comments_only.received] == ["comment.approved"]
        assert comments_only.received[0].signed_with(comment_secret)
        assert not comments_only.received[0].signed_with(secret)


async def test_a_failing_receiver_gets_retries_with_backoff_until_it_answers(
    database: Database, settings: Settings
) -> None:
    hooks = _webhook_settings(settings)
    author_id, author = await _headers(database, settings, Role.AUTHOR)
    _, admin = await _headers(database, settings, Role.ADMIN)
    post = await create_post(database, author_id=author_id, status=PostStatus.DRAFT)
    async with receiver(statuses=[500, 503]) as flaky, client_of(hooks) as client:
        secret = await _register(client, admin, flaky.url, ["POST_PUBLISHED"])
        await _run(client, PUBLISH, {"id": _id("Post", post)}, author)
        async with _worker(hooks, database) as worker:
            await _drain(worker, database)
        listed = await _run(client, ENDPOINTS, {}, admin)

    assert len(flaky.received) == 3
    assert len({request.json["id"] for request in flaky.received}) == 1
    assert all(request.signed_with(secret) for request in flaky.received)
    [delivery] = listed["data"]["webhookEndpoints"][0]["deliveries"]["nodes"]
    assert delivery["status"] == "DELIVERED"
    assert delivery["attempts"] == 3
    assert delivery["lastStatusCode"] == 200
    assert delivery["lastError"] is None


async def test_a_receiver_that_keeps_failing_is_given_up_on_visibly(
    database: Database, settings: Settings
) -> None:
    hooks = _webhook_settings(settings, webhook_max_attempts=2)
    author_id, author = await _headers(database, settings, Role.AUTHOR)
    _, admin = await _headers(database, settings, Role.ADMIN)
    post = await create_post(database, author_id=author_id, status=PostStatus.DRAFT)
    labels = {"outcome": "failed"}
    failed_before = REGISTRY.get_sample_value("quire_webhook_deliveries_total", labels) or 0.0
    async with receiver(statuses=[500, 500, 500]) as broken, client_of(hooks) as client:
        await _register(client, admin, broken.url, ["POST_PUBLISHED"])
        await _run(client, PUBLISH, {"id": _id("Post", post)}, author)
        async with _worker(hooks, database) as worker:
            await _drain(worker, database)
        listed = await _run(client, ENDPOINTS, {}, admin)

    assert len(broken.received) == 2
    [delivery] = listed["data"]["webhookEndpoints"][0]["deliveries"]["nodes"]
    assert (delivery["status"], delivery["attempts"], delivery["lastStatusCode"]) == (
        "FAILED",
        2,
        500,
    )
    assert delivery["lastError"] == "The endpoint did not answer 2xx."
    failed_after = REGISTRY.get_sample_value("quire_webhook_deliveries_total", labels)
    assert failed_after == failed_before + 1


async def test_an_event_survives_a_restart_between_commit_and_delivery(
    database: Database, settings: Settings
) -> None:
    hooks = _webhook_settings(settings)
    author_id, author = await _headers(database, settings, Role.AUTHOR)
    _, admin = await _headers(database, settings, Role.ADMIN)
    post = await create_post(database, author_id=author_id, status=PostStatus.DRAFT)
    async with receiver() as endpoint:
        # The first instance commits the change and stops before sending anything.
        async with client_of(hooks) as client:
            secret = await _register(client, admin, endpoint.url, ["POST_PUBLISHED"])
            await _run(client, PUBLISH, {"id": _id("Post", post)}, author)
        assert endpoint.received == []
        # A new instance, with a database connection of its own, finds it in the outbox.
        restarted = create_database(hooks)
        try:
            async with _worker(hooks, restarted) as worker:
                await _drain(worker, restarted)
        finally:
            await restarted.dispose()

    assert [request.json["event"] for request in endpoint.received] == ["post.published"]
    assert endpoint.received[0].signed_with(secret)


async def test_a_rolled_back_write_sends_nothing(
    database: Database, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    hooks = _webhook_settings(settings)
    author_id, author = await _headers(database, settings, Role.AUTHOR)
    _, admin = await _headers(database, settings, Role.ADMIN)
    post = await create_post(
        database, author_id=author_id, status=PostStatus.PUBLISHED, title="Old"
    )

    async def failing_tags(*_args: Any) -> None:
        raise RuntimeError("the tag write failed")

    async with receiver() as endpoint, client_of(hooks) as client:
        await _register(client, admin, endpoint.url, ALL_EVENTS)
        seen = (
            await _run(
                client,
                "query P($id: ID!) { post(id: $id) { updatedAt } }",
                {"id": _id("Post", post)},
                author,
            )
        )["data"]["post"]["updatedAt"]
        monkeypatch.setattr(post_writes, "_set_tags", failing_tags)
        body = await _run(
            client,
            UPDATE,
            {"input": {"id": _id("Post", post), "updatedAt": seen, "title": "New", "tags": ["x"]}},
            author,
        )
        async with _worker(hooks, database) as worker:
            claimed = await worker.deliver_due()

    assert [error["extensions"]["code"] for error in body["errors"]] == ["INTERNAL_SERVER_ERROR"]
    assert claimed == 0
    assert endpoint.received == []
    assert await _deliveries(database) == []
    async with database.engine.connect() as connection:
        title = await connection.scalar(
            sa.select(posts_table.c.title).where(posts_table.c.id == post)
        )
    assert title == "Old"


async def test_two_workers_deliver_each_event_once(database: Database, settings: Settings) -> None:
    hooks = _webhook_settings(settings, webhook_batch_size=3)
    author_id, _ = await _headers(database, settings, Role.AUTHOR)
    _, admin = await _headers(database, settings, Role.ADMIN)
    reader = await create_user(database, role=Role.READER)
    post = await create_post(database, author_id=author_id)
    comments = [
        await create_comment(database, post_id=post, author_id=reader, status=CommentStatus.PENDING)
        for _ in range(24)
    ]
    async with receiver() as endpoint:
        async with client_of(hooks) as client:
            await _register(client, admin, endpoint.url, ["COMMENT_APPROVED"])
            body = await _run(
                client,
                "mutation M($ids: [ID!]!) { moderateComments(ids: $ids, status: APPROVED) "
                "{ comments { id } } }",
                {"ids": [_id("Comment", comment) for comment in comments]},
                admin,
            )
            assert len(body["data"]["moderateComments"]["comments"]) == 24
        first, second = create_database(hooks), create_database(hooks)
        try:
            async with _worker(hooks, first) as one, _worker(hooks, second) as two:
                await asyncio.gather(_drain(one, first), _drain(two, second))
        finally:
            await first.dispose()
            await second.dispose()

    event_ids = [request.json["id"] for request in endpoint.received]
    assert len(event_ids) == 24
    assert len(set(event_ids)) == 24
    assert {status for _, status, _ in await _deliveries(database)} == {"DELIVERED"}
    assert {attempts for _, _, attempts in await _deliveries(database)} == {1}


async def test_the_apps_lifespan_runs_the_delivery_worker(
    database: Database, settings: Settings
) -> None:
    from app import create_app

    author_id, author = await _headers(database, settings, Role.AUTHOR)
    _, admin = await _headers(database, settings, Role.ADMIN)
    post = await create_post(database, author_id=author_id, status=PostStatus.DRAFT)
    application = create_app(_webhook_settings(settings))
    async with receiver() as endpoint, application.router.lifespan_context(application):
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://quire.test") as client:
            await _register(client, admin, endpoint.url, ["POST_PUBLISHED"])
            await _run(client, PUBLISH, {"id": _id("Post", post)}, author)
            async with asyncio.timeout(10):
                await endpoint.arrived.wait()

    assert [request.json["event"] for request in endpoint.received] == ["post.published"]


SCHEDULE = """
mutation Schedule($id: ID!, $at: DateTime!) {
  publishPost(id: $id, publishedAt: $at) { post { status } }
}
"""


async def test_a_scheduled_post_is_announced_when_it_appears_and_not_if_taken_down_first(
    database: Database, settings: Settings
) -> None:
    hooks = _webhook_settings(settings)
    author_id, author = await _headers(database, settings, Role.AUTHOR)
    _, admin = await _headers(database, settings, Role.ADMIN)
    soon = await create_post(database, author_id=author_id, status=PostStatus.DRAFT)
    later = await create_post(database, author_id=author_id, status=PostStatus.DRAFT)
    async with receiver() as endpoint, client_of(hooks) as client:
        await _register(client, admin, endpoint.url, ALL_EVENTS)
        soon_at = utc_now() + timedelta(seconds=1)
        later_at = utc_now() + timedelta(hours=1)
        await _run(client, SCHEDULE, {"id": _id("Post", soon), "at": soon_at.isoformat()}, author)
        await _run(client, SCHEDULE, {"id": _id("Post", later), "at": later_at.isoformat()}, author)
        await _run(client, UNPUBLISH, {"id": _id("Post", later)}, author)
        async with _worker(hooks, database) as worker:
            assert await worker.deliver_due() == 1  # the unpublication; nothing is due yet
            await _drain(worker, database)

    announced = [
        (request.json["event"], request.json["data"]["postId"]) for request in endpoint.received
    ]
    assert announced == [
        ("post.unpublished", _id("Post", later)),
        ("post.published", _id("Post", soon)),
    ]
    assert utc_now() >= soon_at


PAUSE = """
mutation Pause($id: ID!, $active: Boolean!) {
  setWebhookEndpointActive(id: $id, active: $active) { active }
}
"""
DELETE_ENDPOINT = "mutation Remove($id: ID!) { deleteWebhookEndpoint(id: $id) }"


async def test_a_paused_or_removed_endpoint_gets_no_new_events(
    database: Database, settings: Settings
) -> None:
    hooks = _webhook_settings(settings)
    author_id, author = await _headers(database, settings, Role.AUTHOR)
    _, admin = await _headers(database, settings, Role.ADMIN)
    posts = [
        await create_post(database, author_id=author_id, status=PostStatus.DRAFT) for _ in range(3)
    ]
    async with receiver() as endpoint, client_of(hooks) as client:
        body = await _run(
            client, REGISTER, {"input": {"url": endpoint.url, "events": ALL_EVENTS}}, admin
        )
        endpoint_id = body["data"]["createWebhookEndpoint"]["endpoint"]["id"]
        paused = await _run(client, PAUSE, {"id": endpoint_id, "active": False}, admin)
        await _run(client, PUBLISH, {"id": _id("Post", posts[0])}, author)
        await _run(client, PAUSE, {"id": endpoint_id, "active": True}, admin)
        await _run(client, PUBLISH, {"id": _id("Post", posts[1])}, author)
        async with _worker(hooks, database) as worker:
            await _drain(worker, database)
        removed = await _run(client, DELETE_ENDPOINT, {"id": endpoint_id}, admin)
        await _run(client, PUBLISH, {"id": _id("Post", posts[2])}, author)

    assert paused["data"]["setWebhookEndpointActive"] == {"active": False}
    assert [request.json["data"]["postId"] for request in endpoint.received] == [
        _id("Post", posts[1])
    ]
    assert removed["data"]["deleteWebhookEndpoint"] == endpoint_id
    assert await _deliveries(database) == []


ADD_COMMENT = """
mutation Add($input: AddCommentInput!) { addComment(input: $input) { comment { status } } }
"""


async def test_a_comment_approved_as_it_is_written_is_announced(
    database: Database, settings: Settings
) -> None:
    """An author's comment (or a trusted reader's) skips moderation: it appears at once, and
    a static frontend must hear of it as of an approved one."""
    hooks = _webhook_settings(settings)
    author_id, author = await _headers(database, settings, Role.AUTHOR)
    _, admin = await _headers(database, settings, Role.ADMIN)
    post = await create_post(database, author_id=author_id)
    async with receiver() as endpoint:
        async with client_of(hooks) as client:
            await _register(client, admin, endpoint.url, ["COMMENT_APPROVED"])
            added = await _run(
                client,
                ADD_COMMENT,
                {"input": {"postId": _id("Post", post), "body": "At once"}},
                author,
            )
        async with _worker(hooks, database) as worker:
            await _drain(worker, database)

    assert added["data"]["addComment"]["comment"]["status"] == "APPROVED"
    assert [request.json["event"] for request in endpoint.received] == ["comment.approved"]
    assert endpoint.received[0].json["data"]["postId"] == _id("Post", post)
