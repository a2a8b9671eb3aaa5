"""Scalars stricter than Strawberry's defaults, so that bad input is a clean GraphQL error and
never reaches the database: a DateTime must carry a UTC offset and lie within the calendar
both databases can store."""

import dataclasses
from datetime import UTC, datetime

from strawberry.schema.types.base_scalars import DateTimeDefinition, wrap_parser
from strawberry.types.scalar import ScalarDefinition


def parse_datetime(value: str) -> datetime:
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        raise ValueError("Add a UTC offset, e.g. 2026-01-01T09:00:00+00:00 or ...Z.")
    try:
        return parsed.astimezone(UTC)
    except OverflowError:
        raise ValueError("The date is out of range.") from None


DATETIME = dataclasses.replace(
    DateTimeDefinition, parse_value=wrap_parser(parse_datetime, "DateTime")
)

SCALAR_MAP: dict[object, ScalarDefinition] = {datetime: DATETIME}
