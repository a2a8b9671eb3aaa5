"""No N+1: the statements a request sends depend on the query's depth, not on page sizes;
a compiled read sends one statement whatever its depth."""

import httpx

from models.database import Database
from settings import Settings
from tests.conftest import StatementLog, client_of
from tests.factories import create_comment, create_post, create_tag, create_user, tag_post
from tests.graphql import data

NESTED = """
query Nested($first: Int!) {
  posts(first: $first) {
    nodes {
      title
      author { username displayName }
      tags { name }
      commentCount
      comments(first: 10) { nodes { body author { displayName } } }
    }
  }
}
"""

# The resolver path: posts (authors joined), tags, comment counts, comment pages (authors
# joined).
STATEMENT_BUDGET = 4


async def _seed(database: Database, *, posts: int) -> None:
    tags = [await create_tag(database, name=f"Tag {number}") for number in range(3)]
    writers = [await create_user(database) for _ in range(4)]
    # Commenters differ from post authors, as in real threads.
    readers = [await create_user(database) for _ in range(4)]
    for number in range(posts):
        post = await create_post(database, author_id=writers[number % 4])
        await tag_post(database, post_id=post, tag_id=tags[number % 3])
        for comment in range(12):
            await create_comment(database, post_id=post, author_id=readers[comment % 4])


async def _count(client: httpx.AsyncClient, statements: StatementLog, first: int) -> int:
    before = len(statements)
    result = await data(client, NESTED, {"first": first})
    assert len(result["posts"]["nodes"]) == first
    assert all(len(node["comments"]["nodes"]) == 10 for node in result["posts"]["nodes"])
    return len(statements) - before


async def test_statement_count_is_independent_of_page_size(
    database: Database, settings: Settings
) -> None:
    await _seed(database, posts=50)
    statements = StatementLog()

    async with client_of(settings, log=statements, compiled_reads=False) as client:
        small = await _count(client, statements, 5)
        large = await _count(client, statements, 50)

    assert small == large == STATEMENT_BUDGET, statements.statements[-large:]


async def test_compiled_nested_read_is_one_statement(
    database: Database, settings: Settings
) -> None:
    await _seed(database, posts=50)
    statements = StatementLog()

    # The response cache off, so that every request reaches the planner.
    async with client_of(
        settings, log=statements, compiled_reads=True, response_cache=False
    ) as client:
        small = await _count(client, statements, 5)
        large = await _count(client, statements, 50)

    assert small == large == 1, statements.statements


async def test_a_public_read_whose_cache_tags_are_kept_is_compiled_too(
    database: Database, settings: Settings
) -> None:
    # Compiled reads record cache tags derived from their plan (resolvers/read_tags.py).
    await _seed(database, posts=5)
    statements = StatementLog()

    async with client_of(
        settings, log=statements, compiled_reads=True, response_cache=True
    ) as client:
        sent = await _count(client, statements, 5)

    assert sent == 1, statements.statements
