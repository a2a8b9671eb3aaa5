"""Post lookups, filters, Markdown rendering and what anonymous callers may see."""

from datetime import timedelta

import httpx
import pytest

from models.columns import utc_now
from models.database import Database
from models.tables import PostStatus
from tests.factories import create_post, create_tag, create_user, tag_post
from tests.graphql import data, error_codes, execute

POSTS = """
query Posts($filter: PostFilter) {
  posts(filter: $filter) { totalCount nodes { title } }
}
"""

POST_BY_SLUG = """
query Post($slug: String!) {
  post(slug: $slug) {
    id title slug body html readingTimeMinutes status publishedAt
    author { username displayName postCount }
    tags { name slug }
  }
}
"""

POST_BY_ID = """
query Post($id: ID!) { post(id: $id) { title } }
"""

AUTHOR = """
query Author($username: String!) {
  author(username: $username) {
    username postCount
    posts(first: 10) { totalCount nodes { title } }
  }
}
"""

TAG = """
query Tag($slug: String!) {
  tag(slug: $slug) { name postCount posts { totalCount nodes { title } } }
}
"""


async def test_post_by_slug_returns_fields_author_and_tags(
    client: httpx.AsyncClient, database: Database
) -> None:
    author = await create_user(database, username="ada", display_name="Ada Lovelace")
    post = await create_post(database, author_id=author, title="Engines", slug="engines")
    for name in ("Math", "History"):
        await tag_post(database, post_id=post, tag_id=await create_tag(database, name=name))

    result = (await data(client, POST_BY_SLUG, {"slug": "engines"}))["post"]

    assert result["title"] == "Engines"
    assert result["status"] == "PUBLISHED"
    assert result["author"] == {"username": "ada", "displayName": "Ada Lovelace", "postCount": 1}
    assert result["tags"] == [
        {"name": "History", "slug": "history"},
        {"name": "Math", "slug": "math"},
    ]


async def test_post_by_global_id_round_trips(client: httpx.AsyncClient, database: Database) -> None:
    author = await create_user(database)
    await create_post(database, author_id=author, title="Found", slug="found")
    global_id = (await data(client, POST_BY_SLUG, {"slug": "found"}))["post"]["id"]

    result = await data(client, POST_BY_ID, {"id": global_id})

    assert result == {"post": {"title": "Found"}}


async def test_post_needs_exactly_one_of_id_and_slug(
    client: httpx.AsyncClient, database: Database
) -> None:
    body = await execute(client, "{ post { title } }")

    assert error_codes(body) == ["BAD_USER_INPUT"]


async def test_script_in_markdown_never_reaches_html(
    client: httpx.AsyncClient, database: Database
) -> None:
    author = await create_user(database)
    body = (
        "# Title\n\n<script>alert(1)</script>\n\n"
        "[click](javascript:alert(2)) <img src=x onerror=alert(3)> **bold**"
    )
    await create_post(database, author_id=author, slug="xss", body=body)

    html = (await data(client, POST_BY_SLUG, {"slug": "xss"}))["post"]["html"]

    assert "<h1>Title</h1>" in html
    assert "<strong>bold</strong>" in html
    assert "<script" not in html
    assert 'href="javascript' not in html
    assert "<img" not in html
    assert "&lt;script&gt;" in html  # shown as text, never run


async def test_reading_time_counts_words(client: httpx.AsyncClient, database: Database) -> None:
    author = await create_user(database)
    await create_post(database, author_id=author, slug="long", body="word " * 1000)

    result = (await data(client, POST_BY_SLUG, {"slug": "long"}))["post"]

    assert result["readingTimeMinutes"] == 5


@pytest.mark.parametrize("status", [PostStatus.DRAFT, PostStatus.ARCHIVED])
async def test_unpublished_posts_are_hidden_everywhere(
    client: httpx.AsyncClient, database: Database, status: PostStatus
) -> None:
    author = await create_user(database, username="writer")
    tag = await create_tag(database, name="Secret")
    hidden = await create_post(
        database, author_id=author, title="Hidden", slug="hidden", status=status
    )
    await tag_post(database, post_id=hidden, tag_id=tag)

    listed = await data(client, POSTS)
    by_slug = await data(client, POST_BY_SLUG, {"slug": "hidden"})
    by_author = await data(client, AUTHOR, {"username": "writer"})
    by_tag = await data(client, TAG, {"slug": "secret"})
    filtered = await data(client, POSTS, {"filter": {"status": status.value}})

    assert listed["posts"] == {"totalCount": 0, "nodes": []}
    assert by_slug["post"] is None
    assert by_author["author"]["postCount"] == 0
    assert by_author["author"]["posts"] == {"totalCount": 0, "nodes": []}
    assert by_tag["tag"] is None  # a tag only hidden posts carry is hidden with them
    assert filtered["posts"]["nodes"] == []


async def test_scheduled_post_is_hidden_until_its_time(
    client: httpx.AsyncClient, database: Database
) -> None:
    author = await create_user(database)
    await create_post(
        database, author_id=author, slug="soon", published_at=utc_now() + timedelta(hours=1)
    )

    assert (await data(client, POST_BY_SLUG, {"slug": "soon"}))["post"] is None
    assert (await data(client, POSTS))["posts"]["totalCount"] == 0


async def test_filter_by_author_username(client: httpx.AsyncClient, database: Database) -> None:
    ada = await create_user(database, username="ada")
    bob = await create_user(database, username="bob")
    await create_post(database, author_id=ada, title="By Ada")
    await create_post(database, author_id=bob, title="By Bob")

    result = await data(client, POSTS, {"filter": {"authorUsername": "ada"}})

    assert result["posts"] == {"totalCount": 1, "nodes": [{"title": "By Ada"}]}


async def test_filter_by_tag_slug(client: httpx.AsyncClient, database: Database) -> None:
    author = await create_user(database)
    tagged = await create_post(database, author_id=author, title="Tagged")
    await create_post(database, author_id=author, title="Untagged")
    await tag_post(database, post_id=tagged, tag_id=await create_tag(database, name="Python"))

    result = await data(client, POSTS, {"filter": {"tagSlug": "python"}})

    assert result["posts"] == {"totalCount": 1, "nodes": [{"title": "Tagged"}]}


async def test_filter_by_publication_window(client: httpx.AsyncClient, database: Database) -> None:
    author = await create_user(database)
    now = utc_now()
    for days in (1, 5, 10):
        await create_post(
            database,
            author_id=author,
            title=f"{days} days",
            published_at=now - timedelta(days=days),
        )
    window = {
        "publishedAfter": (now - timedelta(days=7)).isoformat(),
        "publishedBefore": (now - timedelta(days=2)).isoformat(),
    }

    result = await data(client, POSTS, {"filter": window})

    assert result["posts"] == {"totalCount": 1, "nodes": [{"title": "5 days"}]}


async def test_filter_status_published_keeps_published_posts(
    client: httpx.AsyncClient, database: Database
) -> None:
    author = await create_user(database)
    await create_post(database, author_id=author, title="Live")
    await create_post(database, author_id=author, title="Draft", status=PostStatus.DRAFT)

    result = await data(client, POSTS, {"filter": {"status": "PUBLISHED"}})

    assert result["posts"] == {"totalCount": 1, "nodes": [{"title": "Live"}]}


async def test_authors_lists_writers_not_readers_or_inactive(
    client: httpx.AsyncClient, database: Database
) -> None:
    from models.tables import Role

    await create_user(database, username="writer", role=Role.AUTHOR)
    await create_user(database, username="editor", role=Role.EDITOR)
    await create_user(database, username="reader", role=Role.READER)
    await create_user(database, username="gone", role=Role.AUTHOR, is_active=False)

    result = await data(client, "{ authors { totalCount nodes { username } } }")

    assert result["authors"] == {
        "totalCount": 2,
        "nodes": [{"username": "editor"}, {"username": "writer"}],
    }


async def test_author_type_has_no_email(client: httpx.AsyncClient, database: Database) -> None:
    body = await execute(client, '{ author(username: "x") { email } }')

    assert body["errors"][0]["message"].startswith("Cannot query field 'email'")


ORPHAN = """
{ post(slug: "orphan") { author { username } comments { nodes { author { username } } } } }
"""


async def test_deactivated_author_is_hidden_on_posts_and_comments(
    client: httpx.AsyncClient, database: Database
) -> None:
    from tests.factories import create_comment

    gone = await create_user(database, username="gone", is_active=False)
    post = await create_post(database, author_id=gone, slug="orphan")
    await create_comment(database, post_id=post, author_id=gone)

    result = await data(client, ORPHAN)

    assert result == {"post": {"author": None, "comments": {"nodes": [{"author": None}]}}}
