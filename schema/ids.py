"""Global IDs in mutation arguments."""

import strawberry
from strawberry import relay

from resolvers.errors import BadUserInputError

MAX_ROW_ID = 2**31 - 1  # ids are 32-bit integer columns


def row_id(text: str) -> int:
    """A row id from a global ID: a positive integer that fits the id columns (a larger one
    would fail in the driver, not find nothing)."""
    number = int(text)
    if not 1 <= number <= MAX_ROW_ID:
        raise ValueError(text)
    return number


def node_id_of(value: strawberry.ID, type_name: str, argument: str) -> int:
    try:
        global_id = relay.GlobalID.from_id(value)
        if global_id.type_name != type_name:
            raise ValueError(global_id.type_name)
        return row_id(global_id.node_id)
    except ValueError as error:
        raise BadUserInputError(f"{value!r} is not a {type_name} ID.", argument=argument) from error
