"""Seeding: the demo publication (`quire seed`), or volume from Faker (`quire seed --posts N`).

The demo publication (models/demo_publication.py) is what a new user explores: real articles,
threaded discussions and one account per role. The volume data is for benchmarks and load
tests: Faker text in the same shape. Rows are built in Python with explicit ids and written in
large multi-row batches, so that the big set (1,000 authors, 10,000 posts, 100,000 comments)
takes seconds, not minutes.
"""

import secrets
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from models.columns import utc_now
from models.database import create_unpooled_engine
from models.demo_publication import ACCOUNTS, DemoPublication
from models.passwords import Passwords
from models.tables import (
    Role,
    comments_table,
    post_revisions_table,
    post_tags_table,
    posts_table,
    preview_tokens_table,
    refresh_tokens_table,
    tags_table,
    users_table,
    webhook_deliveries_table,
    webhook_endpoints_table,
)

if TYPE_CHECKING:
    from models.volume_data import SeedSizes

BATCH_ROWS = 2_000
# Everything that refers to users or posts goes first.
TABLES = [
    webhook_deliveries_table,
    webhook_endpoints_table,
    preview_tokens_table,
    post_revisions_table,
    refresh_tokens_table,
    post_tags_table,
    comments_table,
    posts_table,
    tags_table,
    users_table,
]


@dataclass(frozen=True, slots=True)
class SeedRows:
    users: list[dict[str, Any]]
    tags: list[dict[str, Any]]
    posts: list[dict[str, Any]]
    post_tags: list[dict[str, Any]]
    comments: list[dict[str, Any]]


@dataclass(frozen=True, slots=True)
class DemoAccountPassword:
    username: str
    role: Role
    password: str


def _batches(rows: Sequence[dict[str, Any]]) -> Iterator[Sequence[dict[str, Any]]]:
    for start in range(0, len(rows), BATCH_ROWS):
        yield rows[start : start + BATCH_ROWS]


async def _insert(
    connection: AsyncConnection, table: sa.Table, rows: Sequence[dict[str, Any]]
) -> None:
    for batch in _batches(rows):
        await connection.execute(sa.insert(table), list(batch))


async def _reset_sequences(connection: AsyncConnection) -> None:
    """Explicit ids leave PostgreSQL sequences behind; move them past the highest id."""
    if connection.dialect.name != "postgresql":
        return
    for table in ("users", "posts", "tags", "comments"):
        await connection.execute(
            sa.text(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "  # noqa: S608
                f"coalesce((SELECT max(id) FROM {table}), 0) + 1, false)"
            )
        )


async def _has_posts(connection: AsyncConnection) -> bool:
    posts: sa.Table = posts_table
    count = await connection.scalar(sa.select(sa.func.count()).select_from(posts))
    return bool(count)


async def seed_database(
    database_url: str,
    *,
    sizes: "SeedSizes",
    random_seed: int = 2026,
    reset: bool = False,
    if_empty: bool = False,
) -> bool:
    """Write Faker volume data in one transaction. Returns False if it left the database as it
    was."""
    # Faker is a development dependency: serving and the demo publication do without it.
    from models.volume_data import VolumeData

    data = VolumeData(sizes=sizes, random_seed=random_seed, now=utc_now())
    users, tags, posts = data.users(), data.tags(), data.posts()
    rows = SeedRows(users, tags, posts, data.post_tags(len(tags)), data.comments(posts))
    return await _write(database_url, rows, reset=reset, if_empty=if_empty)


async def seed_demo_publication(
    database_url: str,
    *,
    passwords: Passwords | None,
    reset: bool = False,
    if_empty: bool = False,
) -> list[DemoAccountPassword] | None:
    """Write the demo publication in one transaction; None if it left the database as it was.

    With `passwords`, one account per role gets a new random password, returned so that it can
    be shown once; without (production), no demo account can sign in.
    """
    accounts = [a for a in ACCOUNTS if a.signs_in] if passwords is not None else []
    credentials = [
        DemoAccountPassword(a.username, a.role, secrets.token_urlsafe(12)) for a in accounts
    ]
    hashes = {c.username: await passwords.hash(c.password) for c in credentials if passwords}
    data = DemoPublication(now=utc_now(), password_hashes=hashes)
    rows = SeedRows(data.users(), data.tags(), data.posts(), data.post_tags(), data.comments())
    if not await _write(database_url, rows, reset=reset, if_empty=if_empty):
        return None
    return credentials


async def _write(database_url: str, rows: SeedRows, *, reset: bool, if_empty: bool) -> bool:
    engine = create_unpooled_engine(database_url)
    try:
        async with engine.begin() as connection:
            if await _has_posts(connection):
                if if_empty:
                    return False
                if not reset:
                    raise SystemExit(
                        "The database already has posts: pass --reset to replace them."
                    )
                for table in TABLES:
                    await connection.execute(sa.delete(table))
            await _insert(connection, users_table, rows.users)
            await _insert(connection, tags_table, rows.tags)
            await _insert(connection, posts_table, rows.posts)
            await _insert(connection, post_tags_table, rows.post_tags)
            await _insert(connection, comments_table, rows.comments)
            await _reset_sequences(connection)
    finally:
        await engine.dispose()
    return True
