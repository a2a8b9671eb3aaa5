"""Writing comments: add (pending for readers until trusted), edit within a window, delete,
and moderate. One transaction each; input problems change nothing."""

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from models.columns import utc_now
from models.database import Database, begin, connect
from models.tables import CommentStatus, PostStatus, Role, comments_table, posts_table
from resolvers.authorization import require_comment_author, require_comment_remover
from resolvers.cache_tags import comment_changed
from resolvers.errors import NotFoundError, Problem
from resolvers.visibility import Viewer, visible_comments, visible_posts
from resolvers.webhook_outbox import comment_event_data, enqueue_event
from settings import Settings

COMMENTS = comments_table.c
POSTS = posts_table.c
# Comments one moderateComments call may change.
MAX_MODERATED = 100


@dataclass(slots=True)
class CommentChange:
    comment_id: int | None = None
    problems: list[Problem] | None = None
    # What subscriptions and the response cache need to hear of a committed change (status:
    # only when it changed).
    post_id: int | None = None
    status: CommentStatus | None = None


def body_problems(body: str, settings: Settings) -> list[Problem]:
    if not body.strip():
        return [Problem("body", "Write something first.", "BODY_EMPTY")]
    if len(body.encode()) > settings.max_comment_bytes:
        limit = settings.max_comment_bytes
        return [Problem("body", f"A comment may hold at most {limit} bytes.", "BODY_TOO_LONG")]
    return []


async def _new_comment_status(
    connection: AsyncConnection, settings: Settings, viewer: Viewer
) -> CommentStatus:
    """Readers' comments wait for moderation until enough of theirs were approved."""
    if viewer.role is not Role.READER:
        return CommentStatus.APPROVED
    threshold = settings.trusted_after_approved_comments
    if threshold == 0:
        return CommentStatus.PENDING
    approved = await connection.scalar(
        sa.select(sa.func.count()).where(
            COMMENTS.author_id == viewer.user_id,
            COMMENTS.status == CommentStatus.APPROVED.value,
        )
    )
    return CommentStatus.APPROVED if (approved or 0) >= threshold else CommentStatus.PENDING


async def _commentable_post(connection: AsyncConnection, viewer: Viewer, post_id: int) -> bool:
    """Comments go on published posts only (and the viewer must be able to see the post)."""
    found = await connection.scalar(
        sa.select(POSTS.id).where(
            POSTS.id == post_id,
            POSTS.status == PostStatus.PUBLISHED.value,
            POSTS.published_at <= utc_now(),
            visible_posts(viewer),
        )
    )
    return found is not None


async def _parent_post_id(
    connection: AsyncConnection, viewer: Viewer, parent_id: int
) -> int | None:
    post_id: int | None = await connection.scalar(
        sa.select(COMMENTS.post_id).where(COMMENTS.id == parent_id, visible_comments(viewer))
    )
    return post_id


async def add_comment(
    database: Database,
    *,
    settings: Settings,
    viewer: Viewer,
    post_id: int,
    body: str,
    parent_id: int | None,
) -> CommentChange:
    problems = body_problems(body, settings)
    if problems:
        return CommentChange(problems=problems)
    async with begin(database.engine) as connection:
        if not await _commentable_post(connection, viewer, post_id):
            raise NotFoundError("No published post with this ID to comment on.")
        if (
            parent_id is not None
            and await _parent_post_id(connection, viewer, parent_id) != post_id
        ):
            return CommentChange(
                problems=[
                    Problem("parentId", "Reply to a comment on the same post.", "PARENT_INVALID")
                ]
            )
        status = await _new_comment_status(connection, settings, viewer)
        comment_id = await connection.scalar(
            sa.insert(comments_table)
            .values(
                post_id=post_id,
                author_id=viewer.user_id,
                parent_id=parent_id,
                body=body.strip(),
                status=status,
                created_at=utc_now(),
            )
            .returning(COMMENTS.id)
        )
        # A trusted author's comment is approved as it is written: announced like a verdict.
        await _announce_verdict(
            connection, comment_id=comment_id, post_id=post_id, status=CommentStatus(status)
        )
    return CommentChange(comment_id=comment_id, post_id=post_id, status=status)


async def _comment(database: Database, viewer: Viewer, comment_id: int) -> Row[Any]:
    """The comment to change, if the viewer can read it: a comment they cannot see (pending,
    or on a post hidden from them) reads exactly like a missing one, so that a write never
    tells whether it exists."""
    visible_post_ids = sa.select(POSTS.id).where(visible_posts(viewer))
    async with connect(database.engine) as connection:
        result = await connection.execute(
            sa.select(comments_table).where(
                COMMENTS.id == comment_id,
                visible_comments(viewer),
                COMMENTS.post_id.in_(visible_post_ids),
            )
        )
        comment = result.first()
    if comment is None:
        raise NotFoundError("No such comment.")
    return comment


MODERATED_WHILE_EDITING = Problem(
    None, "The comment was moderated while you edited it: reload it and edit again.", "CONFLICT"
)


async def _status_after_edit(
    connection: AsyncConnection, settings: Settings, viewer: Viewer, comment: Row[Any]
) -> CommentStatus:
    """An edit is new text: an approved comment edited by an author who is not trusted goes
    back to moderation, as a new comment of theirs would."""
    current = CommentStatus(comment.status)
    if current is not CommentStatus.APPROVED:
        return current
    return await _new_comment_status(connection, settings, viewer)


async def edit_comment(
    database: Database, *, settings: Settings, viewer: Viewer, comment_id: int, body: str
) -> CommentChange:
    comment = await _comment(database, viewer, comment_id)
    require_comment_author(viewer, comment)
    window = timedelta(minutes=settings.comment_edit_window_minutes)
    if utc_now() - comment.created_at > window:
        return CommentChange(
            problems=[
                Problem(
                    None,
                    f"Comments can be edited for {settings.comment_edit_window_minutes} minutes.",
                    "EDIT_WINDOW_CLOSED",
                )
            ]
        )
    problems = body_problems(body, settings)
    if problems:
        return CommentChange(problems=problems)
    async with begin(database.engine) as connection:
        status = await _status_after_edit(connection, settings, viewer, comment)
        # Only over the status the decision was made on: a moderator's verdict in between
        # (a rejection, say) must not be overwritten by the edit.
        updated = await connection.execute(
            sa.update(comments_table)
            .where(COMMENTS.id == comment_id, COMMENTS.status == comment.status)
            .values(body=body.strip(), status=status)
        )
    if updated.rowcount == 0:
        return CommentChange(problems=[MODERATED_WHILE_EDITING])
    if status is CommentStatus(comment.status):
        return CommentChange(comment_id=comment_id, post_id=comment.post_id)
    # Only a change of status is news to subscribers: a comment back in moderation.
    return CommentChange(comment_id=comment_id, post_id=comment.post_id, status=status)


async def delete_comment(database: Database, *, viewer: Viewer, comment_id: int) -> int:
    """Deletes the comment and its replies; returns the id of its post."""
    comment = await _comment(database, viewer, comment_id)
    require_comment_remover(viewer, comment)
    async with begin(database.engine) as connection:
        await connection.execute(sa.delete(comments_table).where(COMMENTS.id == comment_id))
    post_id: int = comment.post_id
    return post_id


async def moderate_comment(
    database: Database, *, viewer: Viewer, comment_id: int, status: CommentStatus
) -> CommentChange:
    comment = await _comment(database, viewer, comment_id)
    async with begin(database.engine) as connection:
        await connection.execute(
            sa.update(comments_table).where(COMMENTS.id == comment_id).values(status=status)
        )
        await _announce_verdict(
            connection, comment_id=comment_id, post_id=comment.post_id, status=status
        )
    return CommentChange(comment_id=comment_id, post_id=comment.post_id, status=status)


async def _announce_verdict(
    connection: AsyncConnection, *, comment_id: int, post_id: int, status: CommentStatus
) -> None:
    if status is CommentStatus.APPROVED:
        data = comment_event_data(comment_id=comment_id, post_id=post_id)
        subject = data["commentId"]
        tags = comment_changed(comment_id, post_id=post_id)
        await enqueue_event(connection, "comment.approved", subject=subject, data=data, tags=tags)


async def moderate_comments(
    database: Database, *, viewer: Viewer, comment_ids: list[int], status: CommentStatus
) -> list[CommentChange]:
    """Approve or reject several comments in one transaction: all of them, or, when any is
    missing (or hidden from the viewer), none (NOT_FOUND names the missing ones)."""
    wanted = list(dict.fromkeys(comment_ids))
    visible_post_ids = sa.select(POSTS.id).where(visible_posts(viewer))
    async with begin(database.engine) as connection:
        found = dict(
            (
                await connection.execute(
                    sa.select(COMMENTS.id, COMMENTS.post_id).where(
                        COMMENTS.id.in_(wanted),
                        visible_comments(viewer),
                        COMMENTS.post_id.in_(visible_post_ids),
                    )
                )
            ).all()
        )
        missing = [comment_id for comment_id in wanted if comment_id not in found]
        if missing:
            raise NotFoundError(
                "Some comments do not exist (any more): nothing was changed; moderate the "
                "others again without them.",
                missing=missing,
            )
        await connection.execute(
            sa.update(comments_table).where(COMMENTS.id.in_(wanted)).values(status=status)
        )
        for comment_id in wanted:
            await _announce_verdict(
                connection, comment_id=comment_id, post_id=found[comment_id], status=status
            )
    return [
        CommentChange(comment_id=comment_id, post_id=found[comment_id], status=status)
        for comment_id in wanted
    ]
