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


def node_id_of(
    value: strawberry.ID, type_name: str, argument: str, *, also: tuple[str, ...] = ()
) -> int:
    """The row id of a global ID of `type_name` (or of one of the types in `also`)."""
    try:
        global_id = relay.GlobalID.from_id(value)
        if global_id.type_name not in (type_name, *also):
            raise ValueError(global_id.type_name)
        return row_id(global_id.node_id)
    except ValueError as error:
        raise BadUserInputError(f"{value!r} is not a {type_name} ID.", argument=argument) from error


def user_id_of(value: strawberry.ID, argument: str) -> int:
    """A user from a User ID, or from the ID of their Author profile (the same person; clients
    that list authors pass those)."""
    return node_id_of(value, "User", argument, also=("Author",))
