"""posts.html and posts.reading_time_minutes: rendered when a post is written, not on every read

The columns are backfilled from each post's body with the renderer the reads used until now.

Revision ID: 0005_rendered_posts
Revises: 0005_editorial
Create Date: 2026-11-29
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from models.markdown import rendered

revision: str = "0005_rendered_posts"
down_revision: str | None = "0005_editorial"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BATCH = 500

POSTS = sa.table(
    "posts",
    sa.column("id", sa.Integer()),
    sa.column("body", sa.Text()),
    sa.column("html", sa.Text()),
    sa.column("reading_time_minutes", sa.Integer()),
)


def upgrade() -> None:
    op.add_column("posts", sa.Column("html", sa.Text(), server_default="", nullable=False))
    op.add_column(
        "posts", sa.Column("reading_time_minutes", sa.Integer(), server_default="1", nullable=False)
    )
    _backfill(op.get_bind())


def _backfill(connection: sa.Connection) -> None:
    """Every post, in batches by id, so that a large table is never held in memory at once."""
    update = (
        sa.update(POSTS)
        .where(POSTS.c.id == sa.bindparam("post_id"))
        .values(
            html=sa.bindparam("rendered_html"),
            reading_time_minutes=sa.bindparam("rendered_minutes"),
        )
    )
    last_id = 0
    while True:
        rows = connection.execute(
            sa.select(POSTS.c.id, POSTS.c.body)
            .where(POSTS.c.id > last_id)
            .order_by(POSTS.c.id)
            .limit(BATCH)
        ).all()
        if not rows:
            return
        connection.execute(update, [_rendered_row(row.id, row.body) for row in rows])
        last_id = rows[-1].id


def _rendered_row(post_id: int, body: str) -> dict[str, object]:
    columns = rendered(body)
    return {
        "post_id": post_id,
        "rendered_html": columns["html"],
        "rendered_minutes": columns["reading_time_minutes"],
    }


def downgrade() -> None:
    # SQLite 3.35+ drops a column in place (the machines run 3.40).
    op.drop_column("posts", "reading_time_minutes")
    op.drop_column("posts", "html")
