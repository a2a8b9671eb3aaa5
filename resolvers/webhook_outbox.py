"""The webhook outbox: content events written in the transaction of the change they report,
one row per endpoint that wants them, so that an event exists exactly when its change
committed (resolvers/webhook_delivery.py sends them)."""

import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import Any, Literal

import orjson
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection
from strawberry.relay import to_base64

from models.columns import utc_now
from models.tables import DeliveryStatus, webhook_deliveries_table, webhook_endpoints_table

ENDPOINTS = webhook_endpoints_table.c

WebhookEvent = Literal[
    "post.published", "post.updated", "post.unpublished", "post.deleted", "comment.approved"
]
WEBHOOK_EVENTS: tuple[WebhookEvent, ...] = (
    "post.published",
    "post.updated",
    "post.unpublished",
    "post.deleted",
    "comment.approved",
)


def event_payload(
    *,
    event_id: str,
    event: WebhookEvent,
    occurred_at: datetime,
    data: dict[str, Any],
    tags: Iterable[str],
) -> str:
    """The JSON body every endpoint receives. `tags` are the cache tags the change dropped
    (resolvers/cache_tags.py): a frontend or CDN that caches by tag purges exactly those."""
    body = {
        "id": event_id,
        "event": event,
        "occurredAt": occurred_at.isoformat(),
        "data": data,
        "tags": sorted(tags),
    }
    return orjson.dumps(body).decode()


def _subscribed(event: WebhookEvent) -> sa.ColumnElement[bool]:
    # `events` is a comma-separated list; commas around it make every name a whole word.
    wrapped = sa.literal(",") + ENDPOINTS.events + sa.literal(",")
    return sa.and_(ENDPOINTS.is_active.is_(True), wrapped.like(sa.literal(f"%,{event},%")))


async def enqueue_event(
    connection: AsyncConnection,
    event: WebhookEvent,
    *,
    subject: str,
    data: dict[str, Any],
    tags: Iterable[str],
    not_before: datetime | None = None,
) -> None:
    """One delivery per active endpoint subscribed to `event`, in the caller's transaction:
    a rollback takes the event with it. `not_before` holds a delivery back (a post scheduled
    for later is announced when it appears)."""
    now = utc_now()
    event_id = uuid.uuid4().hex
    payload = event_payload(event_id=event_id, event=event, occurred_at=now, data=data, tags=tags)
    due = max(now, not_before) if not_before is not None else now
    rows = sa.select(
        ENDPOINTS.id,
        sa.literal(event_id),
        sa.literal(event),
        sa.literal(subject),
        sa.literal(payload),
        sa.literal(DeliveryStatus.PENDING.value),
        sa.literal(0),
        sa.bindparam("due", due, type_=webhook_deliveries_table.c.next_attempt_at.type),
        sa.bindparam("now", now, type_=webhook_deliveries_table.c.created_at.type),
    ).where(_subscribed(event))
    columns = [
        "endpoint_id",
        "event_id",
        "event",
        "subject",
        "payload",
        "status",
        "attempts",
        "next_attempt_at",
        "created_at",
    ]
    await connection.execute(sa.insert(webhook_deliveries_table).from_select(columns, rows))


async def cancel_announcements(connection: AsyncConnection, *, subject: str) -> None:
    """A post taken down or deleted before its scheduled time never appeared: its pending
    post.published announcements, not yet due, are dropped (in the caller's transaction)."""
    deliveries = webhook_deliveries_table.c
    await connection.execute(
        sa.delete(webhook_deliveries_table).where(
            deliveries.subject == subject,
            deliveries.event == "post.published",
            deliveries.status == DeliveryStatus.PENDING.value,
            deliveries.attempts == 0,
            deliveries.next_attempt_at > utc_now(),
        )
    )


def post_subject(post_id: int) -> str:
    return to_base64("Post", post_id)


def post_event_data(post: Any) -> dict[str, Any]:
    """What an event says about a post: enough to find the page to rebuild, no content."""
    published_at = post.published_at
    return {
        "postId": post_subject(post.id),
        "slug": post.slug,
        "status": str(post.status),
        "publishedAt": published_at.isoformat() if published_at is not None else None,
    }


def comment_event_data(*, comment_id: int, post_id: int) -> dict[str, Any]:
    return {
        "commentId": to_base64("Comment", comment_id),
        "postId": to_base64("Post", post_id),
    }
