"""The keys of one batch, as a single SQL parameter named `keys`.

`id IN (1, 2, ...)` makes SQLAlchemy coerce and render each key and PostgreSQL prepare a new
statement for every batch size. On PostgreSQL the keys travel as one array parameter
(`id = ANY($1)`), so a batch of any size is the same prepared statement; SQLite gets one
expanding parameter. Either way the statement is built once and the keys come at execution.
"""

from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.sql import ColumnElement


def key_in(column: ColumnElement[Any], *, as_array: bool) -> ColumnElement[bool]:
    if as_array:
        return column == sa.any_(sa.bindparam("keys", type_=postgresql.ARRAY(sa.Integer)))
    return column.in_(sa.bindparam("keys", expanding=True))
