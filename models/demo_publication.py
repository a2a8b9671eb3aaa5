"""The demo publication: a handful of people, Markdown articles and threaded discussions.

The articles live in `models/demo/*.md` (a `key: value` header, `---`, then the Markdown body)
and the discussions in `models/demo/discussions.json`, so that they read like content, not code.
Rows are built with explicit ids; dates are relative to `now`, so the demo always looks recent.
"""

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from slugify import slugify

from models.markdown import rendered
from models.tables import CommentStatus, PostStatus, Role

CONTENT = Path(__file__).parent / "demo"


@dataclass(frozen=True, slots=True)
class DemoAccount:
    username: str
    display_name: str
    role: Role
    bio: str
    # One account per role gets a password (development only), so every role can be tried.
    signs_in: bool = False


ACCOUNTS = (
    DemoAccount("margaret", "Margaret Ito", Role.ADMIN, "Runs the publication.", signs_in=True),
    DemoAccount(
        "grace", "Grace Lindqvist", Role.EDITOR, "Editor. Reads every draft twice.", signs_in=True
    ),
    DemoAccount(
        "ada",
        "Ada Brennan",
        Role.AUTHOR,
        "Backend engineer. Writes about Python and distributed systems.",
        signs_in=True,
    ),
    DemoAccount("tomas", "Tomás Reyes", Role.AUTHOR, "API designer. GraphQL, HTTP, retries."),
    DemoAccount("priya", "Priya Raman", Role.AUTHOR, "Database engineer. PostgreSQL all the way."),
    DemoAccount("sam", "Sam Keller", Role.READER, "Site reliability engineer.", signs_in=True),
    DemoAccount("lena", "Lena Vogt", Role.READER, "Frontend developer."),
    DemoAccount("omar", "Omar Haddad", Role.READER, "Infrastructure at a small startup."),
    DemoAccount("yuki", "Yuki Tanaka", Role.READER, "Mobile developer."),
    DemoAccount("noah", "Noah Fischer", Role.READER, ""),
)
STATUSES = {
    "published": PostStatus.PUBLISHED,
    "scheduled": PostStatus.PUBLISHED,
    "draft": PostStatus.DRAFT,
    "archived": PostStatus.ARCHIVED,
}


@dataclass(frozen=True, slots=True)
class Article:
    key: str
    header: dict[str, str]
    body: str


def read_article(path: Path) -> Article:
    header_text, body = path.read_text(encoding="utf-8").split("\n---\n", 1)
    header = dict(line.split(": ", 1) for line in header_text.splitlines())
    return Article(key=path.stem, header=header, body=body.strip())


def read_articles() -> list[Article]:
    return [read_article(path) for path in sorted(CONTENT.glob("*.md"))]


def read_discussions() -> list[dict[str, Any]]:
    discussions: list[dict[str, Any]] = json.loads(
        (CONTENT / "discussions.json").read_text(encoding="utf-8")
    )
    return discussions


class DemoPublication:
    """Rows for every table, from the content files, with `password_hashes` by username."""

    def __init__(self, *, now: datetime, password_hashes: dict[str, str]) -> None:
        self.now = now
        self.password_hashes = password_hashes
        self.user_ids = {account.username: i for i, account in enumerate(ACCOUNTS, 1)}
        self.articles = read_articles()
        self.post_ids = {article.key: i for i, article in enumerate(self.articles, 1)}
        self.tag_ids: dict[str, int] = {}
        for article in self.articles:
            for name in _tag_names(article):
                self.tag_ids.setdefault(name, len(self.tag_ids) + 1)

    def users(self) -> list[dict[str, Any]]:
        return [
            {
                "id": self.user_ids[account.username],
                "username": account.username,
                "email": f"{account.username}@example.com",
                "display_name": account.display_name,
                "bio": account.bio,
                "avatar_url": None,
                "role": account.role,
                "password_hash": self.password_hashes.get(account.username),
                "is_active": True,
                "created_at": self.now - timedelta(days=400 - 10 * self.user_ids[account.username]),
            }
            for account in ACCOUNTS
        ]

    def tags(self) -> list[dict[str, Any]]:
        return [{"id": i, "name": name, "slug": slugify(name)} for name, i in self.tag_ids.items()]

    def posts(self) -> list[dict[str, Any]]:
        return [self._post(article) for article in self.articles]

    def _post(self, article: Article) -> dict[str, Any]:
        header = article.header
        published = self.published_at(article)
        created = (published or self.now) - timedelta(days=3)
        return {
            "id": self.post_ids[article.key],
            "author_id": self.user_ids[header["author"]],
            "title": header["title"],
            "slug": slugify(header["title"]),
            "excerpt": header["excerpt"],
            "body": article.body,
            **rendered(article.body),
            "status": STATUSES[header["status"]],
            "published_at": published,
            "created_at": created,
            "updated_at": min(self.now, published) if published else created,
        }

    def published_at(self, article: Article) -> datetime | None:
        if "days_ago" not in article.header:
            return None
        return self.now - timedelta(days=int(article.header["days_ago"]), hours=7)

    def post_tags(self) -> list[dict[str, Any]]:
        return [
            {"post_id": self.post_ids[article.key], "tag_id": self.tag_ids[name]}
            for article in self.articles
            for name in _tag_names(article)
        ]

    def comments(self) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = []
        published = {a.key: self.published_at(a) for a in self.articles}
        for thread in read_discussions():
            start = published[thread["post"]]
            assert start is not None, f"{thread['post']}: discussions need a published article"
            self._add_comment(rows, thread, post_key=thread["post"], start=start, parent_id=None)
        return rows

    def _add_comment(
        self,
        rows: list[dict[str, Any]],
        comment: dict[str, Any],
        *,
        post_key: str,
        start: datetime,
        parent_id: int | None,
    ) -> None:
        comment_id = len(rows) + 1
        rows.append(
            {
                "id": comment_id,
                "post_id": self.post_ids[post_key],
                "author_id": self.user_ids[comment["author"]],
                "parent_id": parent_id,
                "body": comment["body"],
                "status": CommentStatus(comment["status"].upper()),
                "created_at": min(self.now, start + timedelta(minutes=comment["minutes"])),
            }
        )
        for reply in comment.get("replies", []):
            self._add_comment(rows, reply, post_key=post_key, start=start, parent_id=comment_id)


def _tag_names(article: Article) -> list[str]:
    return [name.strip() for name in article.header["tags"].split(",")]
