"""Webhooks as administrators see them: endpoints, the events they want, and what was
delivered to them (attempts, status codes, failures)."""

from datetime import datetime
from enum import Enum
from typing import Any, Self

import strawberry
from sqlalchemy.engine import Row
from strawberry import relay

from models.tables import DeliveryStatus
from resolvers import webhooks
from resolvers.context import Info
from resolvers.webhook_outbox import WebhookEvent
from schema.accounts import UserError
from schema.connections import Connection, connection_from_page
from schema.ids import node_id_of
from schema.permissions import IsAdmin
from schema.types import request_page


@strawberry.enum(description="Content events a webhook endpoint can receive.")
class WebhookEventName(Enum):
    POST_PUBLISHED = "post.published"
    POST_UPDATED = "post.updated"
    POST_UNPUBLISHED = "post.unpublished"
    POST_DELETED = "post.deleted"
    COMMENT_APPROVED = "comment.approved"


WebhookDeliveryStatus = strawberry.enum(DeliveryStatus, name="WebhookDeliveryStatus")


def _endpoint_id(row_id: int) -> strawberry.ID:
    return strawberry.ID(relay.to_base64("WebhookEndpoint", row_id))


@strawberry.type(description="One event for one endpoint, and how sending it went.")
class WebhookDelivery:
    id: strawberry.ID
    event_id: str = strawberry.field(
        description="The event's id (X-Quire-Event-Id): the same for every endpoint."
    )
    event: WebhookEventName
    status: DeliveryStatus
    attempts: int
    next_attempt_at: datetime | None = strawberry.field(
        description="When it is tried again (pending deliveries only)."
    )
    last_status_code: int | None
    last_error: str | None
    created_at: datetime
    delivered_at: datetime | None

    @classmethod
    def from_row(cls, row: Row[Any]) -> Self:
        pending = row.status == DeliveryStatus.PENDING
        return cls(
            id=strawberry.ID(relay.to_base64("WebhookDelivery", row.id)),
            event_id=row.event_id,
            event=WebhookEventName(row.event),
            status=DeliveryStatus(row.status),
            attempts=row.attempts,
            next_attempt_at=row.next_attempt_at if pending else None,
            last_status_code=row.last_status_code,
            last_error=row.last_error,
            created_at=row.created_at,
            delivered_at=row.delivered_at,
        )


@strawberry.type(description="An HTTPS endpoint that receives signed content events.")
class WebhookEndpoint:
    id: strawberry.ID
    url: str
    events: list[WebhookEventName]
    active: bool
    created_at: datetime
    row_id: strawberry.Private[int]

    @classmethod
    def from_row(cls, row: Row[Any]) -> Self:
        return cls(
            id=_endpoint_id(row.id),
            url=row.url,
            events=[WebhookEventName(name) for name in row.events.split(",") if name],
            active=row.is_active,
            created_at=row.created_at,
            row_id=row.id,
        )

    @strawberry.field(description="Deliveries, newest first.")
    async def deliveries(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        status: DeliveryStatus | None = None,
    ) -> Connection[WebhookDelivery]:
        request = request_page(
            info, sort=webhooks.DELIVERY_SORT, first=first, after=after, last=None, before=None
        )
        database, endpoint_id = info.context.database, self.row_id
        page = await webhooks.recent_deliveries(
            database, endpoint_id=endpoint_id, status=status, request=request
        )
        return connection_from_page(
            page,
            to_node=WebhookDelivery.from_row,
            counter=lambda: webhooks.count_deliveries(
                database, endpoint_id=endpoint_id, status=status
            ),
        )


@strawberry.input
class CreateWebhookEndpointInput:
    url: str = strawberry.field(description="https:// (see QUIRE_WEBHOOK_ALLOW_LOOPBACK_HTTP).")
    events: list[WebhookEventName]


@strawberry.type
class CreateWebhookEndpointPayload:
    endpoint: WebhookEndpoint | None = None
    secret: str | None = strawberry.field(
        default=None,
        description="Shown only now: verify X-Quire-Signature (HMAC-SHA256 of "
        "'<X-Quire-Timestamp>.<body>', hex, after 'v1=') with it.",
    )
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class WebhookQuery:
    @strawberry.field(permission_classes=[IsAdmin], description="Admins: webhook endpoints.")
    async def webhook_endpoints(self, info: Info) -> list[WebhookEndpoint]:
        rows = await webhooks.list_endpoints(info.context.database)
        return [WebhookEndpoint.from_row(row) for row in rows]


@strawberry.type
class WebhookMutation:
    @strawberry.mutation(
        permission_classes=[IsAdmin], description="Admins: register a webhook endpoint."
    )
    async def create_webhook_endpoint(
        self, info: Info, input: CreateWebhookEndpointInput
    ) -> CreateWebhookEndpointPayload:
        context = info.context
        assert context.viewer.user_id is not None
        events: list[WebhookEvent] = [event.value for event in input.events]
        registration = await webhooks.register_endpoint(
            context.database,
            settings=context.settings,
            admin_id=context.viewer.user_id,
            url=input.url,
            events=events,
        )
        if registration.problems or registration.endpoint_id is None:
            return CreateWebhookEndpointPayload(
                errors=[UserError.from_problem(problem) for problem in registration.problems or []]
            )
        row = await webhooks.endpoint_by_id(context.database, registration.endpoint_id)
        assert row is not None
        return CreateWebhookEndpointPayload(
            endpoint=WebhookEndpoint.from_row(row), secret=registration.secret
        )

    @strawberry.mutation(
        permission_classes=[IsAdmin],
        description="Admins: remove an endpoint and its deliveries (pending ones are not sent).",
    )
    async def delete_webhook_endpoint(self, info: Info, id: strawberry.ID) -> strawberry.ID:
        await webhooks.delete_endpoint(
            info.context.database, endpoint_id=node_id_of(id, "WebhookEndpoint", "id")
        )
        return id

    @strawberry.mutation(
        permission_classes=[IsAdmin],
        description="Admins: pause (no new events) or resume an endpoint.",
    )
    async def set_webhook_endpoint_active(
        self, info: Info, id: strawberry.ID, active: bool
    ) -> WebhookEndpoint:
        endpoint_id = node_id_of(id, "WebhookEndpoint", "id")
        database = info.context.database
        await webhooks.set_endpoint_active(database, endpoint_id=endpoint_id, active=active)
        row = await webhooks.endpoint_by_id(database, endpoint_id)
        assert row is not None
        return WebhookEndpoint.from_row(row)
