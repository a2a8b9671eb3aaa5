"""The long-lived services of one process, built once from the settings and shared by every
request: the database, Redis, the rate limiter, the persisted-query store, the event bus and
the publication schedule, the login throttle, the password hasher, and the response cache with
its invalidation (and the CDN purge hook)."""

import asyncio
import logging
import time
from dataclasses import dataclass
from datetime import datetime

from redis.asyncio import Redis
from sqlalchemy.exc import SQLAlchemyError

from models.database import Database, create_database
from models.passwords import Passwords, create_passwords
from resolvers import posts, redis_circuit
from resolvers.cache_purge import PurgeHook
from resolvers.cache_tags import post_changed
from resolvers.events import LocalBus, PublishScheduler, RedisBus
from resolvers.observability import instrument_engine
from resolvers.persisted import PersistedQueries, create_persisted_queries
from resolvers.rate_limits import RateLimiter, create_rate_limiter
from resolvers.redis_circuit import RedisBreaker
from resolvers.response_cache import (
    Invalidator,
    MemoryResponses,
    RedisResponses,
    ResponseCache,
)
from resolvers.throttle import LoginThrottle, create_login_throttle
from resolvers.webhook_delivery import (
    WebhookWorker,
    start_webhook_delivery,
    stop_webhook_delivery,
)
from settings import Settings

LOGGER = logging.getLogger("quire.services")


@dataclass(slots=True)
class Services:
    settings: Settings
    database: Database
    passwords: Passwords
    redis: Redis | None
    rate_limiter: RateLimiter | None
    persisted: PersistedQueries
    events: LocalBus
    scheduler: PublishScheduler
    throttle: LoginThrottle
    cache: ResponseCache | None
    purge: PurgeHook | None
    invalidator: Invalidator
    background: set[asyncio.Task[None]]
    webhooks: WebhookWorker | None = None

    async def start(self) -> None:
        await self.events.start()
        self.scheduler.due_listeners.append(self._publication_came)
        self.scheduler.start(await _scheduled_posts(self.database))
        if self.purge is not None:
            self.purge.start()
        self.webhooks = start_webhook_delivery(self.settings, self.database)

    def _publication_came(self, post_id: int) -> None:
        """A scheduled post became visible without a write: its tags are dropped all the same."""
        task = asyncio.create_task(self.invalidator.changed(post_changed(post_id)))
        self.background.add(task)
        task.add_done_callback(self.background.discard)

    async def close(self) -> None:
        await stop_webhook_delivery(self.webhooks)
        await self.scheduler.close()
        await self.events.close()
        if self.background:
            await asyncio.gather(*self.background, return_exceptions=True)
        if self.purge is not None:
            await self.purge.close()
        if self.cache is not None:
            await self.cache.close()
        await close_services(self.database, self.rate_limiter, self.persisted)
        await self.throttle.close()
        if self.redis is not None:
            await self.redis.aclose()


def create_services(settings: Settings) -> Services:
    database = create_database(settings)
    instrument_engine(database.engine)
    if settings.otel_enabled:
        from resolvers.tracing import start_tracing

        start_tracing(settings, database.engine)
    redis = create_redis(settings)
    events = create_event_bus(settings, redis)
    cache = create_response_cache(settings, redis)
    purge = create_purge_hook(settings)
    return Services(
        settings=settings,
        database=database,
        passwords=create_passwords(settings),
        redis=redis,
        rate_limiter=create_rate_limiter(settings, redis),
        persisted=create_persisted_queries(settings, redis),
        events=events,
        scheduler=PublishScheduler(events, time.time),
        throttle=create_login_throttle(settings, redis),
        cache=cache,
        purge=purge,
        invalidator=Invalidator(cache, purge),
        background=set(),
    )


def create_response_cache(settings: Settings, redis: Redis | None) -> ResponseCache | None:
    if not settings.response_cache:
        return None
    if redis is not None:
        return ResponseCache(
            RedisResponses(
                redis,
                prefix=f"{settings.redis_key_prefix}:responses:",
                max_entries=settings.response_cache_redis_entries,
                max_bytes=settings.response_cache_redis_bytes,
            )
        )
    if settings.workers > 1:
        LOGGER.warning(
            "response cache off: %d worker processes cannot share one in memory (set REDIS_URL)",
            settings.workers,
        )
        return None
    return ResponseCache(MemoryResponses(settings.response_cache_memory_bytes))


def create_purge_hook(settings: Settings) -> PurgeHook | None:
    if settings.cache_purge_url is None:
        return None
    return PurgeHook(settings.cache_purge_url, authorization=settings.cache_purge_authorization)


def create_redis(settings: Settings) -> Redis | None:
    """One client (a connection pool, behind one circuit breaker) per process for what Quire
    keeps in Redis."""
    if settings.redis_url is None:
        return None
    return redis_circuit.create_redis(settings, RedisBreaker.from_settings(settings))


def create_event_bus(settings: Settings, redis: Redis | None) -> LocalBus:
    if redis is None:
        return LocalBus(settings.ws_queue_size)
    channel = f"{settings.redis_key_prefix}:events"
    return RedisBus(redis, channel=channel, queue_size=settings.ws_queue_size)


async def close_services(
    database: Database, rate_limiter: RateLimiter | None, persisted: PersistedQueries
) -> None:
    await database.dispose()
    if rate_limiter is not None:
        await rate_limiter.close()
    await persisted.close()


async def _scheduled_posts(database: Database) -> list[tuple[int, datetime]]:
    """Scheduled posts at start; an unreachable database must not stop the start (readiness
    reports it), the schedule then fills from events."""
    try:
        return await posts.scheduled_posts(database)
    except (SQLAlchemyError, OSError) as error:
        logging.getLogger("quire.events").warning(
            "could not load scheduled posts (%s)", type(error).__name__
        )
        return []
