"""JSON text built by the database, for compiled reads (resolvers/read_statements.py).

Every expression here is SQL that yields JSON *text*, compact and byte-identical to what the
resolver path's serialiser (orjson) writes for the same value: strings escaped alike
(PostgreSQL's to_json and SQLite's json_quote escape exactly as orjson does), DateTime as
Python's `isoformat()` of an aware UTC value, global IDs and cursors in their base64 forms.
Text is concatenated rather than built with json_build_object/json_object: PostgreSQL's JSON
functions put spaces and newlines between members, and SQLite 3.40 has no ORDER BY inside
aggregates, so the order of arrays comes from ordered subqueries there.
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSON, aggregate_order_by
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql import ColumnElement
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

Part = str | ColumnElement[Any]


class concat_text(FunctionElement[str]):
    """`a || b || c` without the nesting (and recursion) of chained binary expressions."""

    type = sa.Text()
    inherit_cache = True


@compiles(concat_text)
def _compile_concat(element: concat_text, compiler: SQLCompiler, **kw: Any) -> str:
    parts = [compiler.process(clause, **kw) for clause in element.clauses]
    return "(" + " || ".join(parts) + ")"


def sql_string(text: str) -> ColumnElement[str]:
    """A constant written into the statement: only names from the schema and the document
    (field names, aliases, type names, cursor tags), never a value from a request."""
    return sa.literal_column("'" + text.replace("'", "''") + "'", type_=sa.Text())


class JsonSql:
    """The JSON text expressions of one database dialect."""

    def __init__(self, dialect_name: str) -> None:
        self.postgresql = dialect_name == "postgresql"

    def concat(self, parts: Sequence[Part]) -> ColumnElement[str]:
        merged: list[Part] = []
        for part in parts:
            if isinstance(part, str) and merged and isinstance(merged[-1], str):
                merged[-1] += part
            else:
                merged.append(part)
        clauses = [sql_string(part) if isinstance(part, str) else part for part in merged]
        if len(clauses) == 1:
            return clauses[0]
        return concat_text(*clauses)

    def obj(self, members: Sequence[tuple[str, ColumnElement[str]]]) -> ColumnElement[str]:
        parts: list[Part] = ["{"]
        for index, (key, value) in enumerate(members):
            parts.extend([("," if index else "") + f'"{key}":', value])
        parts.append("}")
        return self.concat(parts)

    def string(self, value: ColumnElement[Any]) -> ColumnElement[str]:
        if self.postgresql:
            quoted = sa.cast(sa.func.to_json(value), sa.Text())
            return sa.func.coalesce(quoted, sql_string("null"))
        json_quoted: ColumnElement[str] = sa.func.json_quote(value)  # NULL becomes null
        return json_quoted

    def integer(self, value: ColumnElement[Any]) -> ColumnElement[str]:
        return sa.cast(value, sa.Text())

    def boolean(self, condition: ColumnElement[bool]) -> ColumnElement[str]:
        return sa.case((condition, sql_string("true")), else_=sql_string("false"))

    def nullable(self, value: ColumnElement[Any], text: ColumnElement[str]) -> ColumnElement[str]:
        return sa.case((value.is_(None), sql_string("null")), else_=text)

    def or_null(self, text: ColumnElement[Any]) -> ColumnElement[str]:
        return sa.func.coalesce(text, sql_string("null"))

    def iso_datetime(self, value: ColumnElement[Any]) -> ColumnElement[str]:
        """`datetime.isoformat()` of an aware UTC value, unquoted: microseconds only when
        non-zero, always six digits then."""
        micro: ColumnElement[str]
        seconds: ColumnElement[str]
        if self.postgresql:
            utc = sa.func.timezone(sql_string("UTC"), value)
            micro = sa.func.to_char(utc, sql_string("US"))
            seconds = sa.func.to_char(utc, sql_string('YYYY-MM-DD"T"HH24:MI:SS'))
        else:
            # SQLAlchemy stores naive UTC text: 'YYYY-MM-DD HH:MM:SS.ffffff'.
            micro = sa.func.substr(value, 21)
            seconds = self.concat([sa.func.substr(value, 1, 10), "T", sa.func.substr(value, 12, 8)])
        fraction = sa.case(
            (micro.in_([sql_string(""), sql_string("000000")]), sql_string("")),
            else_=self.concat([".", micro]),
        )
        return self.concat([seconds, fraction, "+00:00"])

    def datetime(self, value: ColumnElement[Any]) -> ColumnElement[str]:
        return self.concat(['"', self.iso_datetime(value), '"'])

    def string_list(self, array: ColumnElement[Any]) -> ColumnElement[str]:
        """A JSON array of text held in a column, written out again element by element, so
        that the text is what the resolver path's serialiser writes whatever its spacing."""
        if self.postgresql:
            items = (
                sa.func.json_array_elements_text(sa.cast(array, JSON()))
                .table_valued("value", with_ordinality="n")
                .render_derived()
            )
            element = sa.cast(sa.func.to_json(items.c.value), sa.Text())
            joined = sa.func.string_agg(element, aggregate_order_by(sql_string(","), items.c.n))
        else:
            items = sa.func.json_each(array).table_valued("value")
            joined = sa.func.group_concat(sa.func.json_quote(items.c.value), sql_string(","))
        listed = sa.select(joined).scalar_subquery()
        return self.concat(["[", sa.func.coalesce(listed, sql_string("")), "]"])

    def name_list(self, names: ColumnElement[Any]) -> ColumnElement[str]:
        """Comma-separated lower-case names (a revision's changed fields) as the JSON array of
        their enum names: "title,body" -> ["TITLE","BODY"]; "" -> []."""
        separated = sa.func.replace(names, sql_string(","), sql_string('","'))
        quoted = self.concat(['["', sa.func.upper(separated), '"]'])
        return sa.case((names == sql_string(""), sql_string("[]")), else_=quoted)

    def python_float(self, value: ColumnElement[Any]) -> ColumnElement[str]:
        """A double as Python's json.dumps writes it (a cursor's search rank): the shortest
        text that reads back as the same double, with ".0" on whole numbers."""
        if not self.postgresql:
            # SQLite writes 15 significant digits, too few to read back every double.
            python: ColumnElement[str] = sa.func.quire_json(value)
            return python
        # PostgreSQL's float8 output is that shortest text since version 12; it turns to an
        # exponent from 1e15 where Python does from 1e16 (far above any rank).
        text = sa.cast(value, sa.Text())
        whole = sa.and_(value == sa.func.trunc(value), sa.func.abs(value) < 1e15)
        return sa.case((whole, self.concat([text, ".0"])), else_=text)

    def ascii_string(self, value: ColumnElement[Any]) -> ColumnElement[str]:
        """Text as Python's json.dumps writes it (a cursor's title, username or tag name):
        escaped as to_json/json_quote do, and every character beyond ASCII as \\uXXXX
        (surrogate pairs above the Basic Multilingual Plane)."""
        if not self.postgresql:
            python: ColumnElement[str] = sa.func.quire_json(value)
            return python
        quoted = sa.cast(sa.func.to_json(value), sa.Text())
        characters = (
            sa.func.regexp_split_to_table(quoted, sql_string(""))
            .table_valued("c", with_ordinality="n")
            .render_derived()
        )
        code = sa.func.ascii(characters.c.c)
        astral = code - 65536
        escaped = sa.case(
            (code < 127, characters.c.c),
            (code < 65536, self._u_escape(code)),
            else_=self.concat(
                [
                    self._u_escape(astral.op(">>")(10) + 55296),
                    self._u_escape(astral.op("&")(1023) + 56320),
                ]
            ),
        )
        joined = sa.select(
            sa.func.string_agg(escaped, aggregate_order_by(sql_string(""), characters.c.n))
        ).scalar_subquery()
        beyond_ascii = quoted.op("~")(sql_string("[^ -~]"))
        return sa.case((beyond_ascii, joined), else_=quoted)

    def _u_escape(self, code: ColumnElement[int]) -> ColumnElement[str]:
        return self.concat(["\\u", sa.func.lpad(sa.func.to_hex(code), 4, sql_string("0"))])

    def base64(self, text: ColumnElement[str]) -> ColumnElement[str]:
        if self.postgresql:
            # encode() breaks lines every 76 characters.
            encoded = sa.func.encode(
                sa.func.convert_to(text, sql_string("UTF8")), sql_string("base64")
            )
            return sa.func.replace(encoded, sa.literal_column("E'\\n'"), sql_string(""))
        return sa.func.quire_base64(text)  # registered on each connection (models/database.py)

    def global_id(self, type_name: str, row_id: ColumnElement[int]) -> ColumnElement[str]:
        """Relay's global ID: base64 of "Type:id"."""
        return self.concat(['"', self.base64(self.concat([f"{type_name}:", row_id])), '"'])

    def cursor(self, payload: ColumnElement[str]) -> ColumnElement[str]:
        """An opaque cursor (resolvers/cursors.py): URL-safe base64 of its JSON, unpadded."""
        if self.postgresql:
            encoded = sa.func.rtrim(self.base64(payload), sql_string("="))
            text = sa.func.translate(encoded, sql_string("+/"), sql_string("-_"))
        else:
            text = sa.func.quire_base64url(payload)
        return self.concat(['"', text, '"'])

    def array(
        self,
        element: ColumnElement[str],
        *,
        order_by: Sequence[ColumnElement[Any]],
        where: ColumnElement[bool] | None = None,
    ) -> ColumnElement[str]:
        """Elements joined into a JSON array. On SQLite the rows must come from a subquery
        already in this order (group_concat keeps the order of its input)."""
        aggregate: ColumnElement[Any]
        if self.postgresql:
            aggregate = sa.func.string_agg(element, aggregate_order_by(sql_string(","), *order_by))
        else:
            aggregate = sa.func.group_concat(element, sql_string(","))
        if where is not None:
            aggregate = aggregate.filter(where)
        return self.concat(["[", sa.func.coalesce(aggregate, sql_string("")), "]"])
