"""The declared cost (extensions.cost.requested) is an upper bound of what a response holds.

A response is counted as its field values and list items: a field is one value, each item of a
list one more, and so on down. The database is seeded so that every page can be full (small
page sizes keep it small): the cost may over-estimate, never under-estimate. Random read
queries come from hypothesis-graphql (SQLite only, like the fuzz); a handful of fixed queries
run on both databases.
"""

import base64
import gc
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import graphql
import httpx
import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st
from hypothesis_graphql import nodes, queries

from app import SCHEMA_FILE
from models.columns import utc_now
from models.database import Database
from models.tables import CommentStatus, Role, comments_table, post_tags_table
from resolvers.post_writes import TAGS_PER_POST
from resolvers.tokens import issue_access_token
from settings import Settings
from tests.conftest import client_of
from tests.factories import create_post, create_tag, create_user

# Pages of at most four items, so that a few rows fill every page.
PAGE_SETTINGS: dict[str, Any] = {
    "default_page_size": 3,
    "max_page_size": 4,
    "rate_limit_enabled": False,
}
POSTS_PER_AUTHOR = 5
COMMENTS_PER_POST = 5
REPLIES_PER_COMMENT = 5
USERNAMES = ("cost_admin", "cost_editor", "cost_author", "cost_reader")
ROLES = (Role.ADMIN, Role.EDITOR, Role.AUTHOR, Role.READER)
WORDS = ("words", "body", "post")


@dataclass
class Seeded:
    users: dict[str, int]
    posts: list[int]
    tags: list[int]
    comments: list[int]


async def _seed(database: Database) -> Seeded:
    """Every author writes five posts; every post carries every tag (the most a post may
    carry) and five comments with five replies each."""
    users = {
        name: await create_user(database, username=name, role=role)
        for name, role in zip(USERNAMES, ROLES, strict=True)
    }
    tags = [await create_tag(database, name=f"Tag {number}") for number in range(TAGS_PER_POST)]
    posts = [
        await create_post(database, author_id=users[name], body="Some words in a post body.")
        for name in USERNAMES[:3]
        for _ in range(POSTS_PER_AUTHOR)
    ]
    async with database.engine.begin() as connection:
        await connection.execute(
            sa.insert(post_tags_table),
            [{"post_id": post, "tag_id": tag} for post in posts for tag in tags],
        )
    comments = await _comments(database, posts, users[USERNAMES[3]])
    return Seeded(users=users, posts=posts, tags=tags, comments=comments)


async def _comments(database: Database, posts: list[int], author_id: int) -> list[int]:
    rows = [
        {"post_id": post, "author_id": author_id, "body": "A comment.", "parent_id": None}
        for post in posts
        for _ in range(COMMENTS_PER_POST)
    ]
    columns, now = comments_table.c, utc_now()
    async with database.engine.begin() as connection:
        await connection.execute(
            sa.insert(comments_table),
            [{**row, "status": CommentStatus.APPROVED, "created_at": now} for row in rows],
        )
        top = await connection.execute(sa.select(columns.id, columns.post_id))
        parents = [(row.id, row.post_id) for row in top]
        replies = [
            {
                "post_id": post,
                "author_id": author_id,
                "body": "A reply.",
                "parent_id": parent,
                "status": CommentStatus.APPROVED,
                "created_at": now,
            }
            for parent, post in parents
            for _ in range(REPLIES_PER_COMMENT)
        ]
        await connection.execute(sa.insert(comments_table), replies)
    return [parent for parent, _ in parents]


def response_values(value: object) -> int:
    """Field values and list items, all the way down."""
    if isinstance(value, dict):
        return sum(1 + response_values(item) for item in value.values())
    if isinstance(value, list):
        return sum(1 + response_values(item) for item in value)
    return 0


def _global_id(type_name: str, row_id: int) -> str:
    return base64.b64encode(f"{type_name}:{row_id}".encode()).decode()


def _headers(settings: Settings, seeded: Seeded, viewer: str) -> dict[str, str]:
    if viewer == "anonymous":
        return {}
    role = ROLES[USERNAMES.index(viewer)]
    token, _ = issue_access_token(settings, user_id=seeded.users[viewer], role=role)
    return {"Authorization": f"Bearer {token}"}


async def _cost_and_values(
    client: httpx.AsyncClient,
    query: str,
    variables: dict[str, Any],
    headers: dict[str, str],
) -> tuple[int, int]:
    response = await client.post(
        "/graphql", json={"query": query, "variables": variables}, headers=headers
    )
    body = response.json()
    return body["extensions"]["cost"]["requested"], response_values(body.get("data"))


@pytest.fixture(autouse=True)
def _collect_stranded_connections() -> Iterator[None]:
    """A connection a generated query strands (a resolver cancelled mid-checkout, a check-in
    unfinished when the app closed) fails this test, not whichever test collects it later."""
    yield
    gc.collect()


@pytest.fixture
async def seeded(database: Database) -> Seeded:
    return await _seed(database)


@pytest.fixture
async def paged_client(settings: Settings, seeded: Seeded) -> AsyncIterator[httpx.AsyncClient]:
    async with client_of(settings, **PAGE_SETTINGS) as client:
        yield client


FULL_PAGES = """
query ($n: Int = 4) {
  posts(first: $n) {
    totalCount pageInfo { hasNextPage endCursor }
    edges { cursor node { id title } }
    nodes {
      title tags { name slug postCount }
      author { username posts(last: $n) { nodes { title } } }
      comments(first: $n) {
        nodes { body replies(first: $n) { nodes { body author { displayName } } } }
      }
    }
  }
  tags(first: $n) { nodes { name posts { nodes { slug } } } }
  authors { nodes { username postCount } }
}
"""
BY_IDS = "query ($ids: [ID!]!) { nodes(ids: $ids) { id ... on Post { title tags { name } } } }"
MINE = "{ me { username posts(first: 4) { nodes { title status tags { slug } } } } }"
SEARCH = 'query { search(query: "words", first: 4) { nodes { title tags { name } } } }'


@pytest.mark.parametrize(
    ("query", "viewer"),
    [
        (FULL_PAGES, "anonymous"),
        (FULL_PAGES, "cost_editor"),
        (BY_IDS, "anonymous"),
        (MINE, "cost_admin"),
        (SEARCH, "anonymous"),
    ],
)
async def test_fixed_queries_hold_no_more_than_their_cost(
    paged_client: httpx.AsyncClient, settings: Settings, seeded: Seeded, query: str, viewer: str
) -> None:
    variables = {"ids": [_global_id("Post", post) for post in seeded.posts[:4]]}

    cost, values = await _cost_and_values(
        paged_client, query, variables, _headers(settings, seeded, viewer)
    )

    assert 0 < values <= cost


async def test_full_pages_fill_their_cost_exactly(
    paged_client: httpx.AsyncClient, seeded: Seeded
) -> None:
    # Every page is full and every list at its bound: the cost is exact, not just an upper
    # bound (a cost that counted lists once would fall short here).
    cost, values = await _cost_and_values(paged_client, FULL_PAGES, {}, {})

    assert values == cost


SCHEMA = SCHEMA_FILE.read_text()


class _NoCursors(graphql.Visitor):
    def enter_argument(self, node: graphql.ArgumentNode, *_args: Any) -> Any:
        # Random cursors are refused (BAD_CURSOR) along with their whole field.
        return graphql.REMOVE if node.name.value in ("after", "before") else None


def _without_cursors(document: str) -> str:
    return graphql.print_ast(graphql.visit(graphql.parse(document), _NoCursors()))


# Rows get ids from 1 in a freshly emptied database (DELETE on SQLite, whose tables have no
# AUTOINCREMENT; TRUNCATE ... RESTART IDENTITY on PostgreSQL), as tests/test_fuzz.py relies on.
SEEDED_IDS = [
    *(_global_id("Post", row) for row in range(1, 3 * POSTS_PER_AUTHOR + 1)),
    *(_global_id("Tag", row) for row in range(1, TAGS_PER_POST + 1)),
    *(_global_id("Comment", row) for row in range(1, 6)),
    *(_global_id("Author", row) for row in range(1, len(USERNAMES) + 1)),
]
SCALARS: dict[str, st.SearchStrategy[graphql.ValueNode]] = {
    "ID": st.sampled_from(SEEDED_IDS).map(nodes.String),
    "String": st.sampled_from((*USERNAMES, *WORDS, "tag-1", "post-1")).map(nodes.String),
    "Int": st.integers(0, 6).map(nodes.Int),
}
READ_QUERIES = queries(SCHEMA, custom_scalars=SCALARS).map(_without_cursors)
VIEWERS = ("anonymous", "cost_editor", "cost_admin")
EXAMPLES = 150


@pytest.fixture
def sqlite_only(request: pytest.FixtureRequest) -> None:
    """Skip the PostgreSQL parameter before its database is seeded."""
    if request.node.callspec.params.get("database_url") != "sqlite":
        pytest.skip("the generated queries run on SQLite; the fixed ones on both databases")


@pytest.mark.usefixtures("sqlite_only")
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    derandomize=True,
    # The seeded database and the client serve every example on purpose: the queries only read.
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(query=READ_QUERIES, viewer=st.sampled_from(VIEWERS))
async def test_generated_queries_hold_no_more_than_their_cost(
    query: str,
    viewer: str,
    paged_client: httpx.AsyncClient,
    settings: Settings,
    seeded: Seeded,
) -> None:
    note(f"{viewer}: {query}")

    cost, values = await _cost_and_values(
        paged_client, query, {}, _headers(settings, seeded, viewer)
    )

    assert values <= cost, f"{values} values for a declared cost of {cost}"
