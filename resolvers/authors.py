"""Reading authors: the public profile of users (never email or password hash)."""

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Row
from sqlalchemy.sql import ColumnElement, FromClause

from models.database import Database, fetch_all
from models.tables import users_table
from resolvers.arguments import require_fits
from resolvers.pagination import Page, PageRequest, Sort, page_parameters, paginate, to_page
from resolvers.visibility import AUTHOR_ROLES, Viewer, visible_users

USERS = users_table.c

AUTHOR_COLUMNS = (
    USERS.id,
    USERS.username,
    USERS.display_name,
    USERS.bio,
    USERS.avatar_url,
)

# The author of a post or comment, joined into the same statement: a page of comments needs
# no second round trip for its authors. Inactive users join as NULL, as the lookup would.
JOINED_AUTHOR_COLUMNS = (
    USERS.id.label("author_user_id"),
    USERS.username.label("author_username"),
    USERS.display_name.label("author_display_name"),
    USERS.bio.label("author_bio"),
    USERS.avatar_url.label("author_avatar_url"),
)


def join_author(viewer: Viewer, table: FromClause, author_id: ColumnElement[int]) -> FromClause:
    return sa.outerjoin(table, users_table, sa.and_(USERS.id == author_id, visible_users(viewer)))


AUTHOR_SORT = Sort("username", USERS.username, USERS.id, str, False)


def author_conditions(viewer: Viewer) -> list[ColumnElement[bool]]:
    """Authors: active users who may write posts."""
    roles = [role.value for role in AUTHOR_ROLES]
    return [visible_users(viewer), USERS.role.in_(roles)]


async def list_authors(
    database: Database, *, viewer: Viewer, request: PageRequest
) -> Page[Row[Any]]:
    statement = paginate(
        sa.select(*AUTHOR_COLUMNS).where(*author_conditions(viewer)),
        sort=AUTHOR_SORT,
        request=request,
    )
    rows = await fetch_all(database, statement, page_parameters(request))
    return to_page(rows, sort=AUTHOR_SORT, request=request, items=list(rows))


async def count_authors(database: Database, *, viewer: Viewer) -> int:
    rows = await fetch_all(database, sa.select(sa.func.count()).where(*author_conditions(viewer)))
    return int(rows[0][0])


async def author_by_username(
    database: Database, *, viewer: Viewer, username: str
) -> Row[Any] | None:
    require_fits(username, USERS.username, argument="username")
    statement = sa.select(*AUTHOR_COLUMNS).where(USERS.username == username, visible_users(viewer))
    rows = await fetch_all(database, statement)
    return rows[0] if rows else None
