"""The keys of one batch, rendered as a single SQL parameter.

`id IN (1, 2, ...)` makes SQLAlchemy coerce and render each key and PostgreSQL prepare a new
statement for every batch size. On PostgreSQL the keys travel as one array parameter
(`id = ANY($1)`), so a batch of any size is the same prepared statement; SQLite gets one
expanding parameter.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.sql import ColumnElement


@dataclass(frozen=True, slots=True)
class Keys:
    values: Sequence[int]
    as_array: bool

    def match(self, column: ColumnElement[Any]) -> ColumnElement[bool]:
        if self.as_array:
            array = sa.bindparam(None, list(self.values), type_=postgresql.ARRAY(sa.Integer))
            return column == sa.any_(array)
        return column.in_(sa.bindparam(None, list(self.values), expanding=True))
