"""Opaque keyset cursors: the sort key and id of a row, tagged with the order they belong to."""

import base64
import binascii
import json
import math
from datetime import UTC, datetime
from typing import Any

from resolvers.errors import BadCursorError

SortValue = datetime | str | int | float
CursorKey = tuple[SortValue, int]

MAX_INT = 2**31 - 1  # ids and counts are 32-bit integer columns
# The longest cursor Quire issues holds a 200-character title, each character escaped as up to
# 12 JSON characters, in base64: about 3,300 characters.
MAX_CURSOR_LENGTH = 4_096
_BAD_CURSOR = "The cursor is not valid for this connection and order; request the first page again."


def encode_cursor(tag: str, key: CursorKey) -> str:
    value, row_id = key
    encoded = value.isoformat() if isinstance(value, datetime) else value
    payload = json.dumps([tag, encoded, row_id], separators=(",", ":"))
    return base64.urlsafe_b64encode(payload.encode()).decode().rstrip("=")


def decode_cursor(cursor: str, *, tag: str, value_type: type[SortValue]) -> CursorKey:
    if len(cursor) > MAX_CURSOR_LENGTH:
        raise BadCursorError(_BAD_CURSOR)
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        cursor_tag, value, row_id = json.loads(raw)
    # RecursionError: JSON nested a few thousand arrays deep fits in a cursor's length.
    except (binascii.Error, UnicodeDecodeError, ValueError, TypeError, RecursionError) as error:
        raise BadCursorError(_BAD_CURSOR) from error
    if cursor_tag != tag or type(row_id) is not int or not 1 <= row_id <= MAX_INT:
        raise BadCursorError(_BAD_CURSOR)
    return _decode_value(value, value_type), row_id


def _decode_value(value: Any, value_type: type[SortValue]) -> SortValue:
    if value_type is datetime:
        if not isinstance(value, str):
            raise BadCursorError(_BAD_CURSOR)
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError as error:
            raise BadCursorError(_BAD_CURSOR) from error
        if parsed.tzinfo is None:
            raise BadCursorError(_BAD_CURSOR)
        try:
            return parsed.astimezone(UTC)  # fails at the ends of the calendar
        except OverflowError as error:
            raise BadCursorError(_BAD_CURSOR) from error
    if value_type is float:
        if type(value) not in (int, float) or not math.isfinite(value):
            raise BadCursorError(_BAD_CURSOR)
        return float(value)
    if type(value) is not value_type:
        raise BadCursorError(_BAD_CURSOR)
    if isinstance(value, int) and not -MAX_INT <= value <= MAX_INT:
        raise BadCursorError(_BAD_CURSOR)
    if isinstance(value, str) and not _is_storable_text(value):
        raise BadCursorError(_BAD_CURSOR)
    assert isinstance(value, (str, int, float))
    return value


def _is_storable_text(value: str) -> bool:
    """Text the drivers can send: JSON escapes can spell U+0000, which PostgreSQL text cannot
    hold, and lone surrogates ("\\ud800"), which are not UTF-8 at all."""
    if "\x00" in value:
        return False
    try:
        value.encode()
    except UnicodeEncodeError:
        return False
    return True
