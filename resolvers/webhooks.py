"""Webhook endpoints as administrators manage them: register (HTTPS only), remove, and read
what was delivered to them."""

import ipaddress
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import sqlalchemy as sa
from sqlalchemy.engine import Row
from sqlalchemy.sql import Select

from models.columns import utc_now
from models.database import Database, begin, fetch_all
from models.tables import DeliveryStatus, webhook_deliveries_table, webhook_endpoints_table
from resolvers.errors import NotFoundError, Problem
from resolvers.pagination import Page, PageRequest, Sort, page_parameters, paginate, to_page
from resolvers.webhook_outbox import WEBHOOK_EVENTS, WebhookEvent
from settings import Settings

ENDPOINTS = webhook_endpoints_table.c
DELIVERIES = webhook_deliveries_table.c
URL_LENGTH = 2000
# Endpoints one Quire may have (every change writes a row per subscribed endpoint).
MAX_ENDPOINTS = 50
TOO_MANY_ENDPOINTS = Problem(
    "url", f"At most {MAX_ENDPOINTS} endpoints: remove one first.", "TOO_MANY_ENDPOINTS"
)


@dataclass(frozen=True, slots=True)
class Registration:
    endpoint_id: int | None = None
    # Shown once, at registration: receivers verify signatures with it.
    secret: str | None = None
    problems: list[Problem] | None = None


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def url_allowed(url: str, settings: Settings) -> bool:
    """https:// anywhere; http:// only to a loopback address, and only when the setting
    allows it (tests and development)."""
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:
        return False
    if not host or parts.username is not None or parts.password is not None:
        return False
    if parts.scheme == "https":
        return True
    return parts.scheme == "http" and settings.webhook_allow_loopback_http and _loopback(host)


def registration_problems(
    url: str, events: Sequence[WebhookEvent], settings: Settings
) -> list[Problem]:
    problems = []
    if len(url) > URL_LENGTH or not url_allowed(url, settings):
        problems.append(
            Problem(
                "url",
                f"Use an https:// URL of at most {URL_LENGTH} characters, without credentials "
                "(http:// only to a loopback address, when QUIRE_WEBHOOK_ALLOW_LOOPBACK_HTTP "
                "is on).",
                "URL_NOT_ALLOWED",
            )
        )
    if not events:
        problems.append(Problem("events", "Choose at least one event.", "EVENTS_EMPTY"))
    return problems


async def register_endpoint(
    database: Database,
    *,
    settings: Settings,
    admin_id: int,
    url: str,
    events: Sequence[WebhookEvent],
) -> Registration:
    problems = registration_problems(url, events, settings)
    if problems:
        return Registration(problems=problems)
    secret = secrets.token_urlsafe(32)
    chosen = [event for event in WEBHOOK_EVENTS if event in events]
    async with begin(database.engine) as connection:
        existing = await connection.scalar(
            sa.select(sa.func.count()).select_from(webhook_endpoints_table)
        )
        if (existing or 0) >= MAX_ENDPOINTS:
            return Registration(problems=[TOO_MANY_ENDPOINTS])
        endpoint_id = await connection.scalar(
            sa.insert(webhook_endpoints_table)
            .values(
                url=url,
                secret=secret,
                events=",".join(chosen),
                is_active=True,
                created_by=admin_id,
                created_at=utc_now(),
            )
            .returning(ENDPOINTS.id)
        )
    return Registration(endpoint_id=endpoint_id, secret=secret)


async def delete_endpoint(database: Database, *, endpoint_id: int) -> None:
    """Removes the endpoint and its deliveries (pending ones are not sent)."""
    async with begin(database.engine) as connection:
        deleted = await connection.execute(
            sa.delete(webhook_endpoints_table).where(ENDPOINTS.id == endpoint_id)
        )
    if deleted.rowcount != 1:
        raise NotFoundError("No such webhook endpoint.")


async def set_endpoint_active(database: Database, *, endpoint_id: int, active: bool) -> None:
    """A paused endpoint gets no new events; deliveries already in the outbox still go out."""
    async with begin(database.engine) as connection:
        updated = await connection.execute(
            sa.update(webhook_endpoints_table)
            .where(ENDPOINTS.id == endpoint_id)
            .values(is_active=active)
        )
    if updated.rowcount != 1:
        raise NotFoundError("No such webhook endpoint.")


ENDPOINT_COLUMNS = (
    ENDPOINTS.id,
    ENDPOINTS.url,
    ENDPOINTS.events,
    ENDPOINTS.is_active,
    ENDPOINTS.created_at,
)


async def list_endpoints(database: Database) -> Sequence[Row[Any]]:
    return await fetch_all(database, sa.select(*ENDPOINT_COLUMNS).order_by(ENDPOINTS.id))


async def endpoint_by_id(database: Database, endpoint_id: int) -> Row[Any] | None:
    rows = await fetch_all(
        database, sa.select(*ENDPOINT_COLUMNS).where(ENDPOINTS.id == endpoint_id)
    )
    return rows[0] if rows else None


DELIVERY_COLUMNS = (
    DELIVERIES.id,
    DELIVERIES.endpoint_id,
    DELIVERIES.event_id,
    DELIVERIES.event,
    DELIVERIES.status,
    DELIVERIES.attempts,
    DELIVERIES.next_attempt_at,
    DELIVERIES.last_status_code,
    DELIVERIES.last_error,
    DELIVERIES.created_at,
    DELIVERIES.delivered_at,
)


# Newest first.
DELIVERY_SORT = Sort("delivery", DELIVERIES.id, DELIVERIES.id, int, True)


def _deliveries_of(endpoint_id: int, status: DeliveryStatus | None) -> Select[Any]:
    statement = sa.select(*DELIVERY_COLUMNS).where(DELIVERIES.endpoint_id == endpoint_id)
    if status is not None:
        statement = statement.where(DELIVERIES.status == status.value)
    return statement


async def recent_deliveries(
    database: Database, *, endpoint_id: int, status: DeliveryStatus | None, request: PageRequest
) -> Page[Row[Any]]:
    """An endpoint's deliveries, newest first."""
    statement = paginate(_deliveries_of(endpoint_id, status), sort=DELIVERY_SORT, request=request)
    rows = await fetch_all(database, statement, page_parameters(request))
    return to_page(rows, sort=DELIVERY_SORT, request=request, items=list(rows))


async def count_deliveries(
    database: Database, *, endpoint_id: int, status: DeliveryStatus | None
) -> int:
    counted = sa.select(sa.func.count()).select_from(_deliveries_of(endpoint_id, status).subquery())
    rows = await fetch_all(database, counted)
    return int(rows[0][0])
