"""full-text search over post title and body

SQLite: an FTS5 table with external content kept in step by triggers.
PostgreSQL: a stored, generated tsvector column (title weighted above body) with a GIN index.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SQLITE_UPGRADE = [
    """CREATE VIRTUAL TABLE posts_fts USING fts5(
        title, body, content='posts', content_rowid='id', tokenize='porter unicode61'
    )""",
    """CREATE TRIGGER posts_fts_after_insert AFTER INSERT ON posts BEGIN
        INSERT INTO posts_fts(rowid, title, body) VALUES (new.id, new.title, new.body);
    END""",
    """CREATE TRIGGER posts_fts_after_delete AFTER DELETE ON posts BEGIN
        INSERT INTO posts_fts(posts_fts, rowid, title, body)
        VALUES ('delete', old.id, old.title, old.body);
    END""",
    """CREATE TRIGGER posts_fts_after_update AFTER UPDATE OF title, body ON posts BEGIN
        INSERT INTO posts_fts(posts_fts, rowid, title, body)
        VALUES ('delete', old.id, old.title, old.body);
        INSERT INTO posts_fts(rowid, title, body) VALUES (new.id, new.title, new.body);
    END""",
    "INSERT INTO posts_fts(posts_fts) VALUES ('rebuild')",
]

SQLITE_DOWNGRADE = [
    "DROP TRIGGER posts_fts_after_update",
    "DROP TRIGGER posts_fts_after_delete",
    "DROP TRIGGER posts_fts_after_insert",
    "DROP TABLE posts_fts",
]

POSTGRESQL_UPGRADE = [
    """ALTER TABLE posts ADD COLUMN search_vector tsvector GENERATED ALWAYS AS (
        setweight(to_tsvector('english', coalesce(title, '')), 'A')
        || setweight(to_tsvector('english', coalesce(body, '')), 'B')
    ) STORED""",
    "CREATE INDEX ix_posts_search_vector ON posts USING gin (search_vector)",
]

POSTGRESQL_DOWNGRADE = [
    "DROP INDEX ix_posts_search_vector",
    "ALTER TABLE posts DROP COLUMN search_vector",
]


def _statements(*, sqlite: list[str], postgresql: list[str]) -> list[str]:
    return sqlite if op.get_bind().dialect.name == "sqlite" else postgresql


def upgrade() -> None:
    for statement in _statements(sqlite=SQLITE_UPGRADE, postgresql=POSTGRESQL_UPGRADE):
        op.execute(statement)


def downgrade() -> None:
    for statement in _statements(sqlite=SQLITE_DOWNGRADE, postgresql=POSTGRESQL_DOWNGRADE):
        op.execute(statement)
