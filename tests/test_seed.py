"""Demo data: realistic shape, and never written over existing content by accident."""

import sqlalchemy as sa

from models.database import Database
from models.seed import SeedSizes, seed_database
from models.tables import comments_table, posts_table, users_table

SMALL = SeedSizes(authors=3, readers=4, posts=12, comments=40, tags=5)


async def _count(database: Database, table: sa.Table) -> int:
    async with database.engine.connect() as connection:
        return int(await connection.scalar(sa.select(sa.func.count()).select_from(table)) or 0)


async def test_seed_writes_users_posts_and_threaded_comments(
    database: Database, database_url: str
) -> None:
    assert await seed_database(database_url, sizes=SMALL, random_seed=7)

    assert await _count(database, users_table) == 7
    assert await _count(database, posts_table) == 12
    assert await _count(database, comments_table) == 40
    async with database.engine.connect() as connection:
        replies = await connection.scalar(
            sa.select(sa.func.count()).where(comments_table.c.parent_id.is_not(None))
        )
    assert replies


async def test_seed_if_empty_leaves_existing_content(database: Database, database_url: str) -> None:
    await seed_database(database_url, sizes=SMALL, random_seed=7)

    created = await seed_database(database_url, sizes=SMALL, random_seed=8, if_empty=True)

    assert created is False
    assert await _count(database, posts_table) == 12
