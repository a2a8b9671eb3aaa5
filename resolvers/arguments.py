"""Bounds on the text arguments that reach SQL (slugs, usernames, search queries), checked
before any statement runs: a value longer than its column matches nothing anyway, and an
unbounded one costs the database work (PostgreSQL's search parser recursed through a 130 KB
query into a stack overflow after 4.5 s)."""

import re
from typing import Any

import sqlalchemy as sa

from resolvers.errors import BadUserInputError
from settings import Settings

# Runs of letters and digits: the words both databases search for.
WORD = re.compile(r"[^\W_]+")


def column_length(column: sa.Column[Any]) -> int:
    # SQLModel's string type wraps sa.String and hands its length through.
    length = getattr(column.type, "length", None)
    assert isinstance(length, int), f"{column} has no length"
    return length


def require_fits(value: str, column: sa.Column[Any], *, argument: str) -> None:
    """`value` is compared with `column`: refuse what the column could never hold."""
    limit = column_length(column)
    if len(value) > limit:
        raise BadUserInputError(
            f"{argument} may hold at most {limit} characters.", argument=argument, limit=limit
        )


def require_search_query(query: str, *, settings: Settings) -> None:
    characters, words = settings.max_search_characters, settings.max_search_words
    if len(query) > characters:
        raise BadUserInputError(
            f"query may hold at most {characters} characters; search for fewer words.",
            argument="query",
            limit=characters,
        )
    found = len(WORD.findall(query))
    if found > words:
        raise BadUserInputError(
            f"query may hold at most {words} words; search for fewer words.",
            argument="query",
            limit=words,
        )
    if found == 0:
        raise BadUserInputError("query must contain at least one word.", argument="query")
