"""Sending the webhook outbox: any number of instances poll it; each due delivery is claimed
by exactly one of them (PostgreSQL: FOR UPDATE SKIP LOCKED; SQLite: its single writer makes
the claiming UPDATE atomic), signed, sent, and recorded, with exponential backoff on failure.

A claim is a lease: a worker that dies mid-delivery leaves it to be claimed again once the
lease lapses, so an event is sent once unless an instance stops between sending and
recording (the receiver then sees the same event id twice: receivers deduplicate by it).
"""

import asyncio
import contextlib
import hashlib
import hmac
import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
import sqlalchemy as sa

from models.columns import utc_now
from models.database import Database, begin, fetch_all
from models.tables import DeliveryStatus, webhook_deliveries_table, webhook_endpoints_table
from resolvers.observability import WEBHOOK_DELIVERIES, WEBHOOK_LATENCY
from resolvers.webhooks import url_allowed
from settings import Settings

LOGGER = logging.getLogger("quire.webhooks")
DELIVERIES = webhook_deliveries_table.c
ENDPOINTS = webhook_endpoints_table.c
# Beyond the request timeout, how long a claim outlives its attempt.
LEASE_MARGIN_SECONDS = 30.0
SIGNATURE_HEADER = "x-quire-signature"
TIMESTAMP_HEADER = "x-quire-timestamp"


def signature(secret: str, *, timestamp: str, body: bytes) -> str:
    """HMAC-SHA256 over `<timestamp>.<body>` with the endpoint's secret, hex: receivers
    recompute it and refuse timestamps too far from their clock (replays)."""
    message = timestamp.encode() + b"." + body
    return "v1=" + hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


@dataclass(frozen=True, slots=True)
class Claimed:
    id: int
    attempts: int
    event: str
    event_id: str
    payload: str
    url: str
    secret: str


def _claim_statement(*, now: datetime, lease_until: datetime, limit: int) -> Any:
    due = (
        sa.select(DELIVERIES.id)
        .where(
            DELIVERIES.status == DeliveryStatus.PENDING.value,
            DELIVERIES.next_attempt_at <= now,
            sa.or_(DELIVERIES.claimed_until.is_(None), DELIVERIES.claimed_until < now),
        )
        .order_by(DELIVERIES.next_attempt_at, DELIVERIES.id)
        .limit(limit)
        # PostgreSQL: rows another worker is claiming are skipped, not waited for. SQLite
        # renders no locking clause: its one writer runs the whole UPDATE at a time.
        .with_for_update(skip_locked=True)
    )
    return (
        sa.update(webhook_deliveries_table)
        .where(
            DELIVERIES.id.in_(due.scalar_subquery()),
            DELIVERIES.status == DeliveryStatus.PENDING.value,
        )
        .values(claimed_until=lease_until, attempts=DELIVERIES.attempts + 1)
        .returning(
            DELIVERIES.id,
            DELIVERIES.endpoint_id,
            DELIVERIES.attempts,
            DELIVERIES.event,
            DELIVERIES.event_id,
            DELIVERIES.payload,
        )
    )


_ANY_DUE = (
    sa.select(DELIVERIES.id)
    .where(
        DELIVERIES.status == DeliveryStatus.PENDING.value,
        DELIVERIES.next_attempt_at <= sa.bindparam("now"),
        sa.or_(DELIVERIES.claimed_until.is_(None), DELIVERIES.claimed_until < sa.bindparam("now")),
    )
    .limit(1)
)


async def claim_due(database: Database, *, settings: Settings, limit: int) -> list[Claimed]:
    now = utc_now()
    # An idle outbox costs a read per poll, not a write transaction (SQLite's one write lock).
    if not await fetch_all(database, _ANY_DUE, {"now": now}):
        return []
    lease = timedelta(seconds=settings.webhook_timeout_seconds + LEASE_MARGIN_SECONDS)
    async with begin(database.engine) as connection:
        claimed = (
            await connection.execute(
                _claim_statement(now=now, lease_until=now + lease, limit=limit)
            )
        ).all()
    if not claimed:
        return []
    endpoint_ids = list({row.endpoint_id for row in claimed})
    endpoints = {
        row.id: row
        for row in await fetch_all(
            database,
            sa.select(ENDPOINTS.id, ENDPOINTS.url, ENDPOINTS.secret).where(
                ENDPOINTS.id.in_(endpoint_ids)
            ),
        )
    }
    return [
        Claimed(
            id=row.id,
            attempts=row.attempts,
            event=row.event,
            event_id=row.event_id,
            payload=row.payload,
            url=endpoints[row.endpoint_id].url,
            secret=endpoints[row.endpoint_id].secret,
        )
        for row in claimed
        if row.endpoint_id in endpoints  # removed meanwhile: its deliveries went with it
    ]


@dataclass(frozen=True, slots=True)
class Outcome:
    delivered: bool
    status_code: int | None = None
    error: str | None = None


async def send(client: httpx.AsyncClient, delivery: Claimed, *, settings: Settings) -> Outcome:
    if not url_allowed(delivery.url, settings):
        return Outcome(False, error="The endpoint's URL is no longer allowed (https:// only).")
    body = delivery.payload.encode()
    timestamp = str(int(time.time()))
    headers = {
        "content-type": "application/json",
        "user-agent": "Quire-Webhooks/1",
        "x-quire-event": delivery.event,
        "x-quire-event-id": delivery.event_id,
        "x-quire-delivery": str(delivery.id),
        TIMESTAMP_HEADER: timestamp,
        SIGNATURE_HEADER: signature(delivery.secret, timestamp=timestamp, body=body),
    }
    started = time.perf_counter()
    try:
        response = await client.post(delivery.url, content=body, headers=headers)
    except httpx.HTTPError as error:
        # The error's type only: its text may quote the URL, which may carry a token.
        return Outcome(False, error=f"{type(error).__name__} while sending")
    finally:
        WEBHOOK_LATENCY.observe(time.perf_counter() - started)
    if 200 <= response.status_code < 300:
        return Outcome(True, status_code=response.status_code)
    return Outcome(
        False, status_code=response.status_code, error="The endpoint did not answer 2xx."
    )


def retry_delay(settings: Settings, attempts: int) -> float:
    """After the n-th failed attempt: the first delay, doubled n - 1 times, capped."""
    delay = settings.webhook_retry_first_seconds * 2 ** min(attempts - 1, 30)
    return float(min(delay, settings.webhook_retry_longest_seconds))


def _outcome_values(settings: Settings, delivery: Claimed, outcome: Outcome) -> dict[str, Any]:
    now = utc_now()
    common = {"claimed_until": None, "last_status_code": outcome.status_code}
    if outcome.delivered:
        return {
            **common,
            "status": DeliveryStatus.DELIVERED,
            "delivered_at": now,
            "last_error": None,
        }
    if delivery.attempts >= settings.webhook_max_attempts:
        return {**common, "status": DeliveryStatus.FAILED, "last_error": outcome.error}
    retry_at = now + timedelta(seconds=retry_delay(settings, delivery.attempts))
    return {**common, "next_attempt_at": retry_at, "last_error": outcome.error}


def _outcome_label(values: dict[str, Any]) -> str:
    status = values.get("status")
    if status is DeliveryStatus.DELIVERED:
        return "delivered"
    return "failed" if status is DeliveryStatus.FAILED else "retry"


async def record(
    database: Database, delivery: Claimed, outcome: Outcome, *, settings: Settings
) -> None:
    """Only over this worker's own claim (the attempt it made)."""
    values = _outcome_values(settings, delivery, outcome)
    async with begin(database.engine) as connection:
        await connection.execute(
            sa.update(webhook_deliveries_table)
            .where(DELIVERIES.id == delivery.id, DELIVERIES.attempts == delivery.attempts)
            .values(**values)
        )
    WEBHOOK_DELIVERIES.labels(_outcome_label(values)).inc()
    if not outcome.delivered:
        LOGGER.warning(
            "webhook delivery %s (%s) attempt %s failed: %s",
            delivery.id,
            delivery.event,
            delivery.attempts,
            outcome.error,
        )


class WebhookWorker:
    """Polls the outbox and sends what is due, until closed."""

    def __init__(
        self, *, settings: Settings, database: Database, client: httpx.AsyncClient | None = None
    ) -> None:
        self.settings, self.database = settings, database
        self.client = client or httpx.AsyncClient(
            timeout=settings.webhook_timeout_seconds, follow_redirects=False
        )
        self.task: asyncio.Task[None] | None = None

    async def deliver_due(self) -> int:
        """Claims and sends one batch of due deliveries; how many it claimed."""
        claimed = await claim_due(
            self.database, settings=self.settings, limit=self.settings.webhook_batch_size
        )
        await asyncio.gather(*(self._deliver(delivery) for delivery in claimed))
        return len(claimed)

    async def _deliver(self, delivery: Claimed) -> None:
        outcome = await send(self.client, delivery, settings=self.settings)
        await record(self.database, delivery, outcome, settings=self.settings)

    async def _run(self) -> None:
        while True:
            try:
                claimed = await self.deliver_due()
            except asyncio.CancelledError:
                raise
            except Exception:
                # A database outage must not end the loop: it tries again after a pause.
                LOGGER.exception("webhook delivery loop failed; retrying")
                claimed = 0
            if claimed < self.settings.webhook_batch_size:
                await asyncio.sleep(self.settings.webhook_poll_seconds)

    def start(self) -> None:
        self.task = asyncio.create_task(self._run(), name="quire-webhook-delivery")

    async def close(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task
        await self.client.aclose()


def start_webhook_delivery(settings: Settings, database: Database) -> WebhookWorker | None:
    """The app's lifespan starts this instance's worker (none when turned off)."""
    if not settings.webhook_delivery_enabled:
        return None
    worker = WebhookWorker(settings=settings, database=database)
    worker.start()
    return worker


async def stop_webhook_delivery(worker: WebhookWorker | None) -> None:
    if worker is not None:
        await worker.close()
