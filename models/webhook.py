import enum
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from models.columns import UTCDateTime, enum_column, utc_now


class DeliveryStatus(enum.StrEnum):
    PENDING = "PENDING"
    DELIVERED = "DELIVERED"
    FAILED = "FAILED"


class WebhookEndpoint(SQLModel, table=True):
    """A URL that administrators registered for content events, with the secret that signs
    what is sent to it."""

    __tablename__ = "webhook_endpoints"

    id: int | None = Field(default=None, primary_key=True)
    url: str = Field(max_length=2000)
    secret: str = Field(max_length=128)
    # Event names, comma-separated (post.published, ...).
    events: str = Field(max_length=500)
    is_active: bool = Field(default=True, sa_column_kwargs={"server_default": sa.true()})
    created_by: int = Field(
        sa_column=sa.Column(sa.ForeignKey("users.id", ondelete="RESTRICT"), nullable=False)
    )
    created_at: datetime = Field(default_factory=utc_now, sa_type=UTCDateTime, nullable=False)


class WebhookDelivery(SQLModel, table=True):
    """The outbox: one event for one endpoint, written in the transaction of the change it
    reports, then claimed and sent by whichever instance gets to it first."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        # Workers look for due pending deliveries; admins list an endpoint's newest first.
        sa.Index("ix_webhook_deliveries_status_next_attempt_at", "status", "next_attempt_at"),
        sa.Index("ix_webhook_deliveries_endpoint_id_id", "endpoint_id", "id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    endpoint_id: int = Field(
        sa_column=sa.Column(
            sa.ForeignKey("webhook_endpoints.id", ondelete="CASCADE"), nullable=False
        )
    )
    event_id: str = Field(max_length=64)
    event: str = Field(max_length=40)
    # The global ID of what the event is about (a later change may cancel an announcement).
    subject: str = Field(max_length=64)
    payload: str = Field(sa_type=sa.Text)
    status: DeliveryStatus = Field(
        default=DeliveryStatus.PENDING,
        sa_column=enum_column(DeliveryStatus, nullable=False, server_default="PENDING"),
    )
    attempts: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    next_attempt_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    # A worker's claim: nobody else sends it before this time (a crashed worker's claim lapses).
    claimed_until: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_status_code: int | None = None
    last_error: str | None = Field(default=None, max_length=500)
    created_at: datetime = Field(default_factory=utc_now, sa_type=UTCDateTime, nullable=False)
    delivered_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
