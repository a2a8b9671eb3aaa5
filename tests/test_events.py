"""The event bus: bounded queues (a slow subscriber is dropped, the others and the publisher
carry on), events only after a committed write, Redis fan-out between buses, the connection
limit, and the scheduler of future posts."""

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
import uvicorn
from redis.asyncio import Redis
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus
from websockets.typing import Origin

from app import create_app
from models.database import Database
from models.tables import PostStatus, Role
from resolvers.events import Event, LocalBus, PublishScheduler, RedisBus, SubscriberTooSlow
from resolvers.tokens import issue_access_token
from settings import Settings
from tests.conftest import REDIS_URL
from tests.factories import create_post, create_user
from tests.live import free_port
from tests.wsclient import graphql_socket


async def test_a_slow_subscriber_is_dropped_and_the_others_carry_on() -> None:
    bus = LocalBus(queue_size=2)
    with bus.subscribe(["post_published"]) as slow, bus.subscribe(["post_published"]) as fast:
        received: list[int] = []
        for number in range(3):
            await bus.publish(Event("post_published", number))  # never blocks
            received.append((await anext(fast)).id)

        with pytest.raises(SubscriberTooSlow, match="more than 2 events behind"):
            await anext(slow)
        await bus.publish(Event("post_published", 3))
        received.append((await anext(fast)).id)

    assert received == [0, 1, 2, 3]
    assert bus.subscriptions == set()


async def test_subscribers_get_only_the_kinds_they_asked_for() -> None:
    bus = LocalBus(queue_size=10)
    with bus.subscribe(["comment_added"]) as comments:
        await bus.publish(Event("post_published", 1))
        await bus.publish(Event("comment_added", 2, post_id=1, status="APPROVED"))
        event = await asyncio.wait_for(anext(comments), 1)

    assert event == Event("comment_added", 2, post_id=1, status="APPROVED")


async def test_no_event_for_a_write_that_did_not_commit(
    app: Any, client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    author = await create_user(database, role=Role.AUTHOR)
    draft = await create_post(database, author_id=author, status=PostStatus.DRAFT)
    token, _ = issue_access_token(settings, user_id=author, role=Role.AUTHOR)
    add = """mutation ($post: ID!) { addComment(input: {postId: $post, body: "Hi"}) {
      comment { id } errors { code } } }"""
    from tests.test_subscriptions import global_id

    bus: LocalBus = app.state.events
    with bus.subscribe(["comment_added"]) as events:
        refused = await client.post(
            "/graphql",
            json={"query": add, "variables": {"post": global_id("Post", draft)}},
            headers={"authorization": f"Bearer {token}"},
        )
        await asyncio.sleep(0.05)

        assert refused.json()["errors"][0]["extensions"]["code"] == "NOT_FOUND"
        assert events.queue.empty()


async def test_redis_buses_fan_out_to_every_instance(redis_prefix: str) -> None:
    clients = [Redis.from_url(REDIS_URL) for _ in range(2)]
    buses = [RedisBus(c, channel=f"{redis_prefix}:events", queue_size=10) for c in clients]
    for bus in buses:
        await bus.start()
    try:
        await asyncio.wait_for(asyncio.gather(*(b.connected.wait() for b in buses)), 5)
        with (
            buses[1].subscribe(["post_published"]) as other,
            buses[0].subscribe(["post_published"]) as same,
        ):
            await buses[0].publish(Event("post_published", 7))
            assert (await asyncio.wait_for(anext(other), 5)).id == 7
            assert (await asyncio.wait_for(anext(same), 5)).id == 7
    finally:
        for bus, client in zip(buses, clients, strict=True):
            await bus.close()
            await client.aclose()


async def test_without_redis_events_still_reach_local_subscribers() -> None:
    client = Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.2)
    bus = RedisBus(client, channel="quire-test:events", queue_size=10)
    try:
        with bus.subscribe(["post_published"]) as local:
            await bus.publish(Event("post_published", 9))
            assert (await asyncio.wait_for(anext(local), 1)).id == 9
    finally:
        await bus.close()
        await client.aclose()


async def test_the_scheduler_publishes_when_the_time_comes() -> None:
    bus = LocalBus(queue_size=10)
    scheduler = PublishScheduler(bus, time.time)
    with bus.subscribe(["post_published"]) as published:
        scheduler.start([])
        await bus.publish(Event("post_scheduled", 5, at=time.time() + 0.3))
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(anext(published), 0.1)
        event = await asyncio.wait_for(anext(published), 2)
    await scheduler.close()

    assert event == Event("post_published", 5)


@asynccontextmanager
async def served(application: Any) -> AsyncIterator[str]:
    """`application` served by uvicorn in this event loop, on a free port: ws://.../graphql."""
    port = free_port()
    config = uvicorn.Config(application, host="127.0.0.1", port=port, log_level="warning")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110 - uvicorn offers no event to wait on
        await asyncio.sleep(0.02)
    try:
        yield f"ws://127.0.0.1:{port}/graphql"
    finally:
        server.should_exit = True
        await task


async def test_connections_beyond_the_limit_are_refused(
    settings: Settings, database: Database
) -> None:
    limited = create_app(settings.model_copy(update={"ws_max_connections": 1}))
    async with served(limited) as url, graphql_socket(url):
        with pytest.raises(InvalidStatus) as refused:
            async with graphql_socket(url):
                pass

    assert refused.value.response.status_code == 403  # closed before the handshake completed


EVIL = Origin("https://evil.example")
LOCAL = Origin("http://localhost:5173")  # allowed in development


async def test_a_cross_site_page_cannot_open_a_socket(
    settings: Settings, database: Database
) -> None:
    protocols: Any = ["graphql-transport-ws"]
    async with served(create_app(settings)) as url:
        with pytest.raises(InvalidStatus):
            async with connect(url, origin=EVIL, subprotocols=protocols):
                pass
        async with connect(url, origin=LOCAL, subprotocols=protocols) as allowed:
            assert allowed.subprotocol == "graphql-transport-ws"


async def test_a_subscription_over_the_cost_budget_is_refused_cleanly(
    settings: Settings, database: Database
) -> None:
    frugal = create_app(settings.model_copy(update={"rate_limit_cost": "2/minute"}))
    async with served(frugal) as url, graphql_socket(url) as socket:
        await socket.subscribe("1", "subscription { postPublished { title slug } }")
        refused = await socket.receive()

    assert refused["id"] == "1"
    errors = refused["payload"] if refused["type"] == "error" else refused["payload"]["errors"]
    assert errors[0]["extensions"]["code"] == "RATE_LIMITED"


async def test_one_connection_may_subscribe_again_and_again(
    settings: Settings, database: Database
) -> None:
    costly = create_app(settings.model_copy(update={"max_query_cost": 10}))
    async with served(costly) as url, graphql_socket(url) as socket:
        for number in range(5):  # 5 x cost 3: over 10 if they were summed like a batch
            await socket.subscribe(str(number), "subscription { postPublished { title slug } }")
            await socket.stop(str(number))
        await socket.subscribe("last", "subscription { postPublished { title slug } }")
        await socket.nothing_for(0.3)  # no refusal


async def test_subscriptions_spend_from_the_operations_budget(
    settings: Settings, database: Database
) -> None:
    frugal = create_app(settings.model_copy(update={"rate_limit_operations": "2/minute"}))
    query = "subscription { postPublished { title } }"
    async with served(frugal) as url, graphql_socket(url) as socket:
        await socket.subscribe("1", query)
        await socket.subscribe("2", query)
        await socket.subscribe("3", query)
        refused = await socket.receive()

    assert refused["id"] == "3"
    errors = refused["payload"] if refused["type"] == "error" else refused["payload"]["errors"]
    assert errors[0]["extensions"]["code"] == "RATE_LIMITED"
    assert errors[0]["extensions"]["budget"] == "operations"


async def test_subscriptions_per_connection_are_bounded(
    settings: Settings, database: Database
) -> None:
    bounded = create_app(settings.model_copy(update={"ws_max_subscriptions": 2}))
    query = "subscription { postPublished { title } }"
    async with served(bounded) as url, graphql_socket(url) as socket:
        await socket.subscribe("1", query)
        await socket.subscribe("2", query)
        await socket.subscribe("3", query)
        refused = await socket.receive()

    assert (refused["id"], refused["type"]) == ("3", "error")
    assert refused["payload"][0]["message"] == "Subscription limit reached"
