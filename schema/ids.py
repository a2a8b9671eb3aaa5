"""Global IDs in mutation arguments."""

import strawberry
from strawberry import relay

from resolvers.errors import BadUserInputError


def node_id_of(value: strawberry.ID, type_name: str, argument: str) -> int:
    try:
        global_id = relay.GlobalID.from_id(value)
        if global_id.type_name != type_name:
            raise ValueError(global_id.type_name)
        return int(global_id.node_id)
    except ValueError as error:
        raise BadUserInputError(f"{value!r} is not a {type_name} ID.", argument=argument) from error
