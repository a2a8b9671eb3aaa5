"""Writing posts: create, edit (refusing stale edits), publish, unpublish, archive, delete.

Each change runs in one transaction; input problems come back as `Problem`s and change
nothing; a missing post or a forbidden change is raised.
"""

import hashlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar, cast

import orjson
import sqlalchemy as sa
from slugify import slugify
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Row
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from models.columns import utc_now
from models.database import Database, begin, connect
from models.markdown import rendered
from models.tables import (
    PostStatus,
    post_tags_table,
    posts_table,
    preview_tokens_table,
    tags_table,
)
from resolvers.authorization import require_post_editor
from resolvers.cache_tags import post_changed
from resolvers.errors import NotFoundError, Problem
from resolvers.posts import POST_COLUMNS
from resolvers.revisions import Content, read_content, record_revision
from resolvers.visibility import Viewer, visible_posts
from resolvers.webhook_outbox import (
    cancel_announcements,
    enqueue_event,
    post_event_data,
    post_subject,
)
from settings import Settings

POSTS = posts_table.c
TAGS = tags_table.c
POST_TAGS = post_tags_table.c

TITLE_LENGTH = 200
EXCERPT_LENGTH = 1_000
TAG_LENGTH = 60
TAGS_PER_POST = 10
# Tries at a free slug when concurrent writers keep taking the chosen one first.
SLUG_ATTEMPTS = 5

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class PostDraft:
    """A post's editable content; None leaves a field as it is (on edit)."""

    title: str | None = None
    body: str | None = None
    excerpt: str | None = None
    tags: list[str] | None = None


@dataclass(slots=True)
class PostChange:
    post_id: int | None = None
    problems: list[Problem] | None = None
    # Set when the change published the post (now or for later): subscriptions hear of it.
    published_at: datetime | None = None


def content_problems(draft: PostDraft, settings: Settings) -> list[Problem]:
    problems = []
    if draft.title is not None and not 1 <= len(draft.title.strip()) <= TITLE_LENGTH:
        problems.append(Problem("title", f"Use 1 to {TITLE_LENGTH} characters.", "TITLE_LENGTH"))
    limit = settings.max_post_body_bytes
    if draft.body is not None and len(draft.body.encode()) > limit:
        problems.append(
            Problem("body", f"The body may hold at most {limit} bytes.", "BODY_TOO_LONG")
        )
    if draft.excerpt is not None and len(draft.excerpt) > EXCERPT_LENGTH:
        problems.append(
            Problem("excerpt", f"Use at most {EXCERPT_LENGTH} characters.", "EXCERPT_TOO_LONG")
        )
    if draft.tags is not None:
        problems.extend(_tag_problems(draft.tags))
    return problems


def _tag_problems(tags: list[str]) -> list[Problem]:
    if len(tags) > TAGS_PER_POST:
        return [Problem("tags", f"Use at most {TAGS_PER_POST} tags.", "TOO_MANY_TAGS")]
    if any(not 1 <= len(tag.strip()) <= TAG_LENGTH or not slugify(tag) for tag in tags):
        return [
            Problem(
                "tags",
                f"Each tag needs 1 to {TAG_LENGTH} characters with a letter or digit.",
                "TAG_INVALID",
            )
        ]
    return []


def _slug_base(title: str) -> str:
    return slugify(title, max_length=200) or "post"


async def _free_slug(connection: AsyncConnection, base: str, *, post_id: int | None) -> str:
    taken = set(
        (
            await connection.execute(
                sa.select(POSTS.slug).where(POSTS.slug.like(f"{base}%"), POSTS.id != (post_id or 0))
            )
        ).scalars()
    )
    slug, number = base, 2
    while slug in taken:
        slug, number = f"{base}-{number}", number + 1
    return slug


async def _slug_taken(connection: AsyncConnection, slug: str, *, post_id: int | None) -> bool:
    found = await connection.scalar(
        sa.select(POSTS.id).where(POSTS.slug == slug, POSTS.id != (post_id or 0))
    )
    return found is not None


async def _take_turns_for_slugs(connection: AsyncConnection, base: str) -> None:
    """Writers of titles with the same slug take turns, so that each reads the slugs the
    others committed rather than all choosing the same one: SQLite takes its one write lock
    now (this must be the transaction's first statement), PostgreSQL an advisory lock on the
    slug, both held until the transaction ends."""
    if connection.dialect.name == "sqlite":
        await connection.exec_driver_sql("BEGIN IMMEDIATE")
        return
    digest = hashlib.blake2b(f"posts.slug:{base}".encode(), digest_size=8).digest()
    key = int.from_bytes(digest, "big", signed=True)
    await connection.execute(sa.select(sa.func.pg_advisory_xact_lock(key)))


async def _with_unique_slug(
    connection: AsyncConnection,
    title: str,
    *,
    post_id: int | None,
    write: Callable[[str], Awaitable[T]],
) -> T | None:
    """`write(slug)` with the first free slug for `title`; None if it found none in
    SLUG_ATTEMPTS tries. A concurrent writer of another title may still take that slug first
    ("Launch 2" against the second "Launch"): the write then fails on the unique slug and is
    tried again with the next free one, in a savepoint, so the transaction stays whole."""
    base = _slug_base(title)
    await _take_turns_for_slugs(connection, base)
    for _ in range(SLUG_ATTEMPTS):
        slug = await _free_slug(connection, base, post_id=post_id)
        try:
            async with connection.begin_nested():
                return await write(slug)
        except IntegrityError:
            if not await _slug_taken(connection, slug, post_id=post_id):
                raise  # not the slug: a real fault
    return None


async def _tag_ids(connection: AsyncConnection, names: list[str]) -> list[int]:
    """Tags by name, created on first use; names with the same slug are one tag."""
    wanted: dict[str, str] = {}
    for name in names:
        wanted.setdefault(slugify(name), name.strip())
    select = sa.select(TAGS.slug, TAGS.id).where(TAGS.slug.in_(wanted))
    existing = dict((await connection.execute(select)).all())
    missing = [
        {"name": name, "slug": slug} for slug, name in wanted.items() if slug not in existing
    ]
    if missing:
        # Another writer may create the same new tag at the same moment: skip the conflict
        # (PostgreSQL waits for that writer to commit) and read the ids afterwards.
        insert = _insert_for(connection)(tags_table).on_conflict_do_nothing()
        await connection.execute(insert, missing)
        existing = dict((await connection.execute(select)).all())
    return [existing[slug] for slug in wanted]


def _insert_for(connection: AsyncConnection) -> Any:
    return sqlite_insert if connection.dialect.name == "sqlite" else postgresql_insert


async def _set_tags(connection: AsyncConnection, post_id: int, names: list[str]) -> None:
    await connection.execute(sa.delete(post_tags_table).where(POST_TAGS.post_id == post_id))
    tag_ids = await _tag_ids(connection, names)
    if tag_ids:
        await connection.execute(
            sa.insert(post_tags_table), [{"post_id": post_id, "tag_id": tag} for tag in tag_ids]
        )


async def create_post(
    database: Database, *, settings: Settings, viewer: Viewer, draft: PostDraft
) -> PostChange:
    assert viewer.user_id is not None
    assert draft.title is not None
    assert draft.body is not None
    problems = content_problems(draft, settings)
    if problems:
        return PostChange(problems=problems)
    now = utc_now()
    values = {
        "author_id": viewer.user_id,
        "title": draft.title.strip(),
        "body": draft.body,
        **rendered(draft.body),
        "excerpt": (draft.excerpt or "").strip(),
        "status": PostStatus.DRAFT,
        "created_at": now,
        "updated_at": now,
    }
    async with begin(database.engine) as connection:

        async def insert(slug: str) -> int:
            statement = sa.insert(posts_table).values(**values, slug=slug).returning(POSTS.id)
            return int((await connection.execute(statement)).scalar_one())

        post_id = await _with_unique_slug(connection, draft.title, post_id=None, write=insert)
        if post_id is None:
            return PostChange(problems=[SLUG_BUSY])
        await _set_tags(connection, post_id, draft.tags or [])
        await record_revision(connection, post_id=post_id, author_id=viewer.user_id, before=None)
    return PostChange(post_id=post_id)


async def editable_post(database: Database, *, viewer: Viewer, post_id: int) -> Row[Any]:
    """The post to change: NOT_FOUND when the viewer cannot see it (its existence stays
    private), FORBIDDEN when they can see it but not change it."""
    async with connect(database.engine) as connection:
        result = await connection.execute(
            sa.select(*POST_COLUMNS).where(POSTS.id == post_id, visible_posts(viewer))
        )
        post = cast("Row[Any] | None", result.first())
    if post is None:
        raise NotFoundError("No such post.")
    require_post_editor(viewer, post)
    return post


async def update_post(
    database: Database,
    *,
    settings: Settings,
    viewer: Viewer,
    post_id: int,
    seen_updated_at: datetime,
    draft: PostDraft,
    new_slug: bool,
) -> PostChange:
    await editable_post(database, viewer=viewer, post_id=post_id)
    problems = content_problems(draft, settings)
    if problems:
        return PostChange(problems=problems)
    # Read before the transaction (SQLite's slug lock must be its first statement); the edit
    # only applies over the updated_at seen, so over this very content.
    async with connect(database.engine) as connection:
        before = await read_content(connection, post_id)
    values: dict[str, Any] = {"updated_at": utc_now()}
    if draft.title is not None:
        values["title"] = draft.title.strip()
    if draft.body is not None:
        values["body"] = draft.body
        values.update(rendered(draft.body))
    if draft.excerpt is not None:
        values["excerpt"] = draft.excerpt.strip()
    unchanged_since_seen = sa.update(posts_table).where(
        POSTS.id == post_id, POSTS.updated_at == seen_updated_at
    )
    async with begin(database.engine) as connection:

        async def update(slug: str | None) -> int:
            slugged = values if slug is None else {**values, "slug": slug}
            return (await connection.execute(unchanged_since_seen.values(**slugged))).rowcount

        if new_slug and draft.title is not None:
            changed = await _with_unique_slug(
                connection, draft.title, post_id=post_id, write=update
            )
            if changed is None:
                return PostChange(problems=[SLUG_BUSY])
        else:
            changed = await update(None)
        if changed != 1:
            return PostChange(problems=[STALE_EDIT])
        if draft.tags is not None:
            await _set_tags(connection, post_id, draft.tags)
        await _after_content_change(connection, viewer=viewer, post_id=post_id, before=before)
    return PostChange(post_id=post_id)


async def _after_content_change(
    connection: AsyncConnection,
    *,
    viewer: Viewer,
    post_id: int,
    before: Content | None,
    restored_from_id: int | None = None,
) -> None:
    """In the save's transaction: the revision, and the post.updated event."""
    assert viewer.user_id is not None
    stored = await record_revision(
        connection,
        post_id=post_id,
        author_id=viewer.user_id,
        before=before,
        restored_from_id=restored_from_id,
    )
    if stored:
        post = (await connection.execute(sa.select(*POST_COLUMNS).where(POSTS.id == post_id))).one()
        await enqueue_event(
            connection,
            "post.updated",
            subject=post_subject(post_id),
            data=post_event_data(post),
            tags=post_changed(post_id),
        )


SLUG_BUSY = Problem(
    "title",
    "Other posts with this title are being saved at this moment: save again.",
    "SLUG_BUSY",
)
STALE_EDIT = Problem(
    "updatedAt",
    "The post changed since you loaded it: reload it and apply your edit again.",
    "CONFLICT",
)


async def set_status(
    database: Database,
    *,
    viewer: Viewer,
    post_id: int,
    status: PostStatus,
    published_at: datetime | None = None,
) -> PostChange:
    """Publish (now, or at a future time: the post appears then), unpublish or archive."""
    post = await editable_post(database, viewer=viewer, post_id=post_id)
    if status is PostStatus.PUBLISHED:
        published_at = published_at or utc_now()
    elif status is PostStatus.ARCHIVED:
        published_at = post.published_at
    async with begin(database.engine) as connection:
        updated = (
            await connection.execute(
                sa.update(posts_table)
                .where(POSTS.id == post_id)
                .values(status=status, published_at=published_at, updated_at=utc_now())
                .returning(*POST_COLUMNS)
            )
        ).one()
        await _announce_status(connection, before=post, after=updated)
    published = published_at if status is PostStatus.PUBLISHED else None
    return PostChange(post_id=post_id, published_at=published)


async def _announce_status(
    connection: AsyncConnection, *, before: Row[Any], after: Row[Any]
) -> None:
    """Publishing ends the post's earlier previews and is announced (when the post appears,
    for a scheduled one); taking a published post down is announced."""
    if after.status == PostStatus.PUBLISHED:
        await revoke_tokens_of_post(connection, post_id=after.id)
        # Rescheduled: only the newest time is announced.
        await cancel_announcements(connection, subject=post_subject(after.id))
        await enqueue_event(
            connection,
            "post.published",
            subject=post_subject(after.id),
            data=post_event_data(after),
            tags=post_changed(after.id),
            not_before=after.published_at,
        )
    elif before.status == PostStatus.PUBLISHED:
        await cancel_announcements(connection, subject=post_subject(after.id))
        await enqueue_event(
            connection,
            "post.unpublished",
            subject=post_subject(after.id),
            data=post_event_data(after),
            tags=post_changed(after.id),
        )


async def revoke_tokens_of_post(connection: AsyncConnection, *, post_id: int) -> int:
    """Revokes the post's live preview tokens, in the caller's transaction."""
    tokens = preview_tokens_table.c
    result = await connection.execute(
        sa.update(preview_tokens_table)
        .where(tokens.post_id == post_id, tokens.revoked_at.is_(None))
        .values(revoked_at=utc_now())
    )
    return int(result.rowcount)


async def delete_post(database: Database, *, viewer: Viewer, post_id: int) -> None:
    post = await editable_post(database, viewer=viewer, post_id=post_id)
    async with begin(database.engine) as connection:
        await connection.execute(sa.delete(posts_table).where(POSTS.id == post_id))
        subject = post_subject(post_id)
        await cancel_announcements(connection, subject=subject)
        await enqueue_event(
            connection,
            "post.deleted",
            subject=subject,
            data=post_event_data(post),
            tags=post_changed(post_id),
        )


async def restore_revision(
    database: Database, *, viewer: Viewer, post_id: int, revision: Row[Any]
) -> PostChange:
    """Brings a revision's content back as a new revision (the slug stays)."""
    await editable_post(database, viewer=viewer, post_id=post_id)
    async with begin(database.engine) as connection:
        before = await read_content(connection, post_id)
        await connection.execute(
            sa.update(posts_table)
            .where(POSTS.id == post_id)
            .values(
                title=revision.title,
                excerpt=revision.excerpt,
                body=revision.body,
                updated_at=utc_now(),
            )
        )
        await _set_tags(connection, post_id, list(orjson.loads(revision.tags)))
        await _after_content_change(
            connection,
            viewer=viewer,
            post_id=post_id,
            before=before,
            restored_from_id=revision.id,
        )
    return PostChange(post_id=post_id)
