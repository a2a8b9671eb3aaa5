"""The event bus behind subscriptions: writes publish small events (a kind and ids) after their
transaction commits; every subscriber gets them through a bounded queue of its own.

Two implementations behind one interface: `LocalBus` (this process only, the default) and
`RedisBus` (Redis pub/sub, when REDIS_URL is set), which publishes to a channel every
instance listens to and hands what arrives to its own LocalBus. If Redis fails, events are
still delivered to this instance's subscribers and the listener reconnects with backoff.

A subscriber that falls `queue_size` events behind is dropped (the socket is closed with a
reason), so a slow client never holds up the publisher or the other subscribers.
"""

import asyncio
import contextlib
import heapq
import logging
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any, Literal

import orjson
from redis.asyncio import Redis
from redis.exceptions import RedisError

from resolvers.observability import EVENTS_DELIVERED, SUBSCRIBERS_DROPPED
from resolvers.redis_circuit import failure_log_level

LOGGER = logging.getLogger("quire.events")

# credentials_changed (id: the user): the user's password, role, active flag or sessions
# changed; every instance closes that user's sockets.
EventKind = Literal[
    "comment_added", "comment_approved", "post_published", "post_scheduled", "credentials_changed"
]


@dataclass(frozen=True, slots=True)
class Event:
    kind: EventKind
    id: int
    post_id: int | None = None
    status: str | None = None
    at: float | None = None  # post_scheduled: when the post becomes visible (epoch seconds)

    def encode(self) -> bytes:
        return orjson.dumps(asdict(self))

    @classmethod
    def decode(cls, raw: bytes | str) -> "Event":
        return cls(**orjson.loads(raw))


class SubscriberTooSlow(Exception):
    """The subscriber's queue overflowed: it missed events and is dropped."""


_OVERFLOW = object()


class Subscription:
    def __init__(self, bus: "LocalBus", kinds: frozenset[str], queue_size: int) -> None:
        self.bus, self.kinds = bus, kinds
        self.queue: asyncio.Queue[Any] = asyncio.Queue(maxsize=queue_size)
        self.overflowed = False

    def offer(self, event: Event) -> None:
        if self.overflowed or event.kind not in self.kinds:
            return
        try:
            self.queue.put_nowait(event)
        except asyncio.QueueFull:
            self.overflowed = True
            SUBSCRIBERS_DROPPED.inc()
            while not self.queue.empty():
                self.queue.get_nowait()
            self.queue.put_nowait(_OVERFLOW)

    def __aiter__(self) -> AsyncIterator[Event]:
        return self

    async def __anext__(self) -> Event:
        item = await self.queue.get()
        if item is _OVERFLOW:
            raise SubscriberTooSlow(
                f"The subscriber fell more than {self.queue.maxsize} events behind."
            )
        EVENTS_DELIVERED.inc()
        event: Event = item
        return event


class LocalBus:
    """In-process delivery; the base of RedisBus."""

    def __init__(self, queue_size: int) -> None:
        self.queue_size = queue_size
        self.subscriptions: set[Subscription] = set()
        self.listeners: list[Callable[[Event], None]] = []

    async def publish(self, event: Event) -> None:
        self.deliver_locally(event)

    def deliver_locally(self, event: Event) -> None:
        for listener in self.listeners:
            listener(event)
        for subscription in list(self.subscriptions):
            subscription.offer(event)

    @contextlib.contextmanager
    def subscribe(self, kinds: Iterable[EventKind]) -> Iterator[Subscription]:
        subscription = Subscription(self, frozenset(kinds), self.queue_size)
        self.subscriptions.add(subscription)
        try:
            yield subscription
        finally:
            self.subscriptions.discard(subscription)

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        self.subscriptions.clear()


class RedisBus(LocalBus):
    def __init__(self, redis: Redis, *, channel: str, queue_size: int) -> None:
        super().__init__(queue_size)
        self.redis, self.channel = redis, channel
        self.listener: asyncio.Task[None] | None = None
        self.connected = asyncio.Event()

    async def publish(self, event: Event) -> None:
        try:
            await self.redis.publish(self.channel, event.encode())
        except (RedisError, OSError) as error:
            # Degraded: the other instances miss this event, this one still delivers it.
            LOGGER.log(
                failure_log_level(error),
                "event bus: Redis unavailable (%s); delivered locally only",
                type(error).__name__,
            )
            self.deliver_locally(event)

    async def start(self) -> None:
        self.listener = asyncio.create_task(self._listen(), name="quire-event-listener")

    async def _listen(self) -> None:
        backoff = 0.5
        while True:
            try:
                async with self.redis.pubsub(ignore_subscribe_messages=True) as pubsub:
                    await pubsub.subscribe(self.channel)
                    self.connected.set()
                    backoff = 0.5
                    async for message in pubsub.listen():
                        if message.get("type") == "message":
                            self._dispatch(message["data"])
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError) as error:
                self.connected.clear()
                LOGGER.log(
                    failure_log_level(error),
                    "event bus: Redis listener lost (%s); retrying in %.1f s",
                    type(error).__name__,
                    backoff,
                )
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 10.0)

    def _dispatch(self, raw: bytes | str) -> None:
        try:
            event = Event.decode(raw)
        except (ValueError, TypeError):
            LOGGER.warning("event bus: ignored a malformed message")
            return
        self.deliver_locally(event)

    async def close(self) -> None:
        if self.listener is not None:
            self.listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.listener
        await super().close()


class PublishScheduler:
    """Posts published for a future time become visible then: each instance keeps the
    schedule (loaded at start, kept current by post_scheduled events) and, when a post's time
    comes, delivers post_published to its own subscribers (no instance repeats another's)."""

    def __init__(self, bus: LocalBus, clock: Callable[[], float]) -> None:
        self.bus, self.clock = bus, clock
        self.heap: list[tuple[float, int]] = []
        self.wake = asyncio.Event()
        self.task: asyncio.Task[None] | None = None
        # Called with a post's id when its time comes (the response cache drops its tags).
        self.due_listeners: list[Callable[[int], None]] = []
        bus.listeners.append(self._on_event)

    def next_due(self) -> float | None:
        """When the next scheduled post becomes visible (epoch seconds), if one is scheduled."""
        return self.heap[0][0] if self.heap else None

    def add(self, post_id: int, at: float) -> None:
        heapq.heappush(self.heap, (at, post_id))
        self.wake.set()

    def _on_event(self, event: Event) -> None:
        if event.kind == "post_scheduled" and event.at is not None:
            self.add(event.id, event.at)

    def start(self, scheduled: Iterable[tuple[int, datetime]]) -> None:
        for post_id, at in scheduled:
            self.add(post_id, at.timestamp())
        self.task = asyncio.create_task(self._run(), name="quire-publish-scheduler")

    async def _run(self) -> None:
        while True:
            self.wake.clear()
            now = self.clock()
            while self.heap and self.heap[0][0] <= now:
                _, post_id = heapq.heappop(self.heap)
                for listener in self.due_listeners:
                    listener(post_id)
                self.bus.deliver_locally(Event("post_published", post_id))
            delay = self.heap[0][0] - now if self.heap else None
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(delay):
                    await self.wake.wait()

    async def close(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task


async def publish(context: Any, event: Event) -> None:
    """Publishes after the write committed (callers call this once their transaction is
    done); without a bus (tools, some tests) there is no one to tell."""
    bus: LocalBus | None = getattr(context, "events", None)
    if bus is not None:
        await bus.publish(event)
