"""Seeding: the demo publication (`quire seed`), or volume from Faker (`quire seed --posts N`).

The demo publication (models/demo_publication.py) is what a new user explores: real articles,
threaded discussions and one account per role. The volume data is for benchmarks and load
tests: Faker text in the same shape. Rows are built in Python with explicit ids and written in
large multi-row batches, so that the big set (1,000 authors, 10,000 posts, 100,000 comments)
takes seconds, not minutes.
"""

import random
import secrets
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from faker import Faker
from slugify import slugify
from sqlalchemy.ext.asyncio import AsyncConnection

from models.columns import utc_now
from models.database import create_unpooled_engine
from models.markdown import rendered
from models.demo_publication import ACCOUNTS, DemoPublication
from models.passwords import Passwords
from models.tables import (
    CommentStatus,
    PostStatus,
    Role,
    comments_table,
    post_tags_table,
    posts_table,
    refresh_tokens_table,
    tags_table,
    users_table,
)

BATCH_ROWS = 2_000
TABLES = [
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


@dataclass(frozen=True, slots=True)
class SeedSizes:
    authors: int = 25
    readers: int = 100
    posts: int = 200
    comments: int = 2_000
    tags: int = 30


class DemoData:
    def __init__(self, *, sizes: SeedSizes, random_seed: int, now: datetime) -> None:
        self.sizes = sizes
        self.random = random.Random(random_seed)
        self.fake = Faker()
        self.fake.seed_instance(random_seed)
        self.now = now

    def users(self) -> list[dict[str, Any]]:
        total = self.sizes.authors + self.sizes.readers
        rows = []
        for user_id in range(1, total + 1):
            role = self._author_role(user_id) if user_id <= self.sizes.authors else Role.READER
            name = self.fake.name()
            username = f"{slugify(name, separator='_')[:28]}_{user_id}"
            rows.append(
                {
                    "id": user_id,
                    "username": username,
                    "email": f"{username}@example.com",
                    "display_name": name,
                    "bio": self.fake.sentence(nb_words=12),
                    "avatar_url": f"https://avatars.example.com/{username}.png",
                    "role": role,
                    "password_hash": None,
                    "is_active": True,
                    "created_at": self.now - timedelta(days=self.random.randint(400, 900)),
                }
            )
        return rows

    def _author_role(self, user_id: int) -> Role:
        if user_id == 1:
            return Role.ADMIN
        return Role.EDITOR if user_id % 10 == 2 else Role.AUTHOR

    def tags(self) -> list[dict[str, Any]]:
        words = sorted({self.fake.unique.word().capitalize() for _ in range(self.sizes.tags)})
        return [{"id": i, "name": w, "slug": slugify(w)} for i, w in enumerate(words, 1)]

    def posts(self) -> list[dict[str, Any]]:
        rows = []
        for post_id in range(1, self.sizes.posts + 1):
            title = self.fake.sentence(nb_words=self.random.randint(4, 9)).rstrip(".")
            created = self.now - timedelta(minutes=self.random.randint(60, 600 * 24 * 60))
            status = self._post_status()
            published = self._published_at(status, created)
            # Drawn in the order of the keys below, so a random seed gives the same data.
            author_id = self.random.randint(1, max(1, self.sizes.authors))
            excerpt = self.fake.sentence(nb_words=24)
            body = self._markdown_body()
            rows.append(
                {
                    "id": post_id,
                    "author_id": author_id,
                    "title": title,
                    "slug": f"{slugify(title)[:200]}-{post_id}",
                    "excerpt": excerpt,
                    "body": body,
                    **rendered(body),
                    "status": status,
                    "published_at": published,
                    "created_at": created,
                    "updated_at": published or created,
                }
            )
        return rows

    def _post_status(self) -> PostStatus:
        draw = self.random.random()
        if draw < 0.85:
            return PostStatus.PUBLISHED
        return PostStatus.DRAFT if draw < 0.95 else PostStatus.ARCHIVED

    def _published_at(self, status: PostStatus, created: datetime) -> datetime | None:
        if status is PostStatus.DRAFT:
            return None
        return min(self.now, created + timedelta(minutes=self.random.randint(5, 3000)))

    def _markdown_body(self) -> str:
        parts = [f"## {self.fake.sentence(nb_words=5).rstrip('.')}"]
        for _ in range(self.random.randint(3, 7)):
            parts.append(self.fake.paragraph(nb_sentences=self.random.randint(3, 8)))
        if self.random.random() < 0.5:
            parts.append("\n".join(f"- {self.fake.sentence(nb_words=6)}" for _ in range(3)))
        if self.random.random() < 0.3:
            parts.append(f"> {self.fake.sentence(nb_words=14)}")
        return "\n\n".join(parts)

    def post_tags(self, tag_count: int) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = []
        for post_id in range(1, self.sizes.posts + 1):
            chosen = self.random.sample(
                range(1, tag_count + 1), k=min(tag_count, self.random.randint(1, 4))
            )
            rows.extend({"post_id": post_id, "tag_id": tag_id} for tag_id in chosen)
        return rows

    def comments(self, posts: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        """Comments land on published posts; about a third reply to an earlier comment."""
        published = [post for post in posts if post["status"] is PostStatus.PUBLISHED]
        if not published:
            return []
        users = self.sizes.authors + self.sizes.readers
        by_post: dict[int, list[dict[str, Any]]] = {}
        rows = []
        for comment_id in range(1, self.sizes.comments + 1):
            post = self.random.choice(published)
            earlier = by_post.setdefault(post["id"], [])
            parent = (
                self.random.choice(earlier) if earlier and self.random.random() < 0.35 else None
            )
            created = (parent or post)["published_at" if parent is None else "created_at"]
            row = {
                "id": comment_id,
                "post_id": post["id"],
                "author_id": self.random.randint(1, users),
                "parent_id": parent["id"] if parent else None,
                "body": self.fake.paragraph(nb_sentences=self.random.randint(1, 4)),
                "status": self._comment_status(),
                "created_at": min(
                    self.now, created + timedelta(minutes=self.random.randint(1, 5000))
                ),
            }
            earlier.append(row)
            rows.append(row)
        return rows

    def _comment_status(self) -> CommentStatus:
        draw = self.random.random()
        if draw < 0.85:
            return CommentStatus.APPROVED
        return CommentStatus.PENDING if draw < 0.95 else CommentStatus.REJECTED


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
    sizes: SeedSizes,
    random_seed: int = 2026,
    reset: bool = False,
    if_empty: bool = False,
) -> bool:
    """Write Faker volume data in one transaction. Returns False if it left the database as it
    was."""
    data = DemoData(sizes=sizes, random_seed=random_seed, now=utc_now())
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
