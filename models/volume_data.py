"""Volume data from Faker, for benchmarks and load tests: authors, readers, tagged Markdown
posts and threaded comments in the shape of the demo publication, in any quantity."""

import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from faker import Faker
from slugify import slugify

from models.markdown import rendered
from models.tables import CommentStatus, PostStatus, Role


@dataclass(frozen=True, slots=True)
class SeedSizes:
    authors: int = 25
    readers: int = 100
    posts: int = 200
    comments: int = 2_000
    tags: int = 30


class VolumeData:
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
