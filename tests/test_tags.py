"""Tags: a tag exists for a viewer only while a post they may see carries it, in lists, counts,
lookups and pages alike."""

import base64
from datetime import timedelta

import httpx
import pytest

from models.columns import utc_now
from models.database import Database
from models.tables import PostStatus, Role
from resolvers.tokens import issue_access_token
from settings import Settings
from tests.conftest import StatementLog, client_of
from tests.factories import create_post, create_tag, create_user, tag_post
from tests.graphql import data

TAGS = """
query Tags($hiddenSlug: String!, $hiddenId: ID!) {
  tags(first: 10) { totalCount nodes { name postCount } }
  tag(slug: $hiddenSlug) { name postCount }
  node(id: $hiddenId) { ... on Tag { name } }
}
"""
PAGE = """
query Page($first: Int, $after: String, $last: Int, $before: String) {
  tags(first: $first, after: $after, last: $last, before: $before) {
    nodes { name }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
  }
}
"""
LIST = "query List($first: Int!) { tags(first: $first) { totalCount nodes { name postCount } } }"

PUBLIC_TAGS = [{"name": "Public", "postCount": 1}, {"name": "Shared", "postCount": 1}]
ALL_TAGS = [
    {"name": "Archived", "postCount": 1},
    {"name": "Draft", "postCount": 1},
    {"name": "Public", "postCount": 1},
    {"name": "Scheduled", "postCount": 1},
    {"name": "Shared", "postCount": 2},
]


def _tag_id(row_id: int) -> str:
    return base64.b64encode(f"Tag:{row_id}".encode()).decode()


async def _tagged_post(
    database: Database, *, author_id: int, tags: list[int], **fields: object
) -> None:
    post_id = await create_post(database, author_id=author_id, **fields)  # type: ignore[arg-type]
    for tag_id in tags:
        await tag_post(database, post_id=post_id, tag_id=tag_id)


async def _headers(database: Database, settings: Settings, who: str, writer: int) -> dict[str, str]:
    roles = {"reader": Role.READER, "other author": Role.AUTHOR, "editor": Role.EDITOR}
    if who == "anonymous":
        return {}
    user_id = writer if who == "writer" else await create_user(database, role=roles[who])
    token, _ = issue_access_token(settings, user_id=user_id, role=roles.get(who, Role.AUTHOR))
    return {"Authorization": f"Bearer {token}"}


@pytest.mark.parametrize(
    ("who", "expected"),
    [
        ("anonymous", PUBLIC_TAGS),
        ("reader", PUBLIC_TAGS),
        ("other author", PUBLIC_TAGS),
        ("writer", ALL_TAGS),
        ("editor", ALL_TAGS),
    ],
)
async def test_tags_of_unpublished_posts_exist_only_for_who_may_see_those_posts(
    client: httpx.AsyncClient,
    database: Database,
    settings: Settings,
    who: str,
    expected: list[dict[str, object]],
) -> None:
    writer = await create_user(database, role=Role.AUTHOR)
    tag = {name: await create_tag(database, name=name) for name in ("Public", "Shared", "Draft")}
    tag |= {name: await create_tag(database, name=name) for name in ("Scheduled", "Archived")}
    unused = await create_tag(database, name="Unused")
    future = utc_now() + timedelta(days=1)
    await _tagged_post(database, author_id=writer, tags=[tag["Public"], tag["Shared"]])
    await _tagged_post(
        database, author_id=writer, tags=[tag["Draft"], tag["Shared"]], status=PostStatus.DRAFT
    )
    await _tagged_post(database, author_id=writer, tags=[tag["Scheduled"]], published_at=future)
    await _tagged_post(
        database, author_id=writer, tags=[tag["Archived"]], status=PostStatus.ARCHIVED
    )
    headers = await _headers(database, settings, who, writer)
    variables = {"hiddenSlug": "draft", "hiddenId": _tag_id(tag["Draft"])}

    response = await client.post(
        "/graphql", json={"query": TAGS, "variables": variables}, headers=headers
    )
    unused_node = await client.post(
        "/graphql",
        json={"query": TAGS, "variables": {"hiddenSlug": "unused", "hiddenId": _tag_id(unused)}},
        headers=headers,
    )

    sees_drafts = expected is ALL_TAGS
    assert response.json()["data"] == {
        "tags": {"totalCount": len(expected), "nodes": expected},
        "tag": {"name": "Draft", "postCount": 1} if sees_drafts else None,
        "node": {"name": "Draft"} if sees_drafts else None,
    }
    assert unused_node.json()["data"]["tag"] is None
    assert unused_node.json()["data"]["node"] is None


async def _interleaved_tags(database: Database) -> list[str]:
    """Ten tags in name order, every other one carried only by a draft; the visible names."""
    writer = await create_user(database, role=Role.AUTHOR)
    live = await create_post(database, author_id=writer)
    draft = await create_post(database, author_id=writer, status=PostStatus.DRAFT)
    visible = []
    for number in range(10):
        tag_id = await create_tag(database, name=f"Tag {number}")
        await tag_post(database, post_id=draft if number % 2 else live, tag_id=tag_id)
        if number % 2 == 0:
            visible.append(f"Tag {number}")
    return visible


async def test_tag_pages_skip_hidden_tags_forward_and_backward(
    client: httpx.AsyncClient, database: Database
) -> None:
    visible = await _interleaved_tags(database)

    forward: list[str] = []
    after = None
    while True:
        page = (await data(client, PAGE, {"first": 2, "after": after}))["tags"]
        forward.extend(node["name"] for node in page["nodes"])
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    backward: list[str] = []
    before = None
    while True:
        page = (await data(client, PAGE, {"last": 2, "before": before}))["tags"]
        backward[:0] = [node["name"] for node in page["nodes"]]
        if not page["pageInfo"]["hasPreviousPage"]:
            break
        before = page["pageInfo"]["startCursor"]

    assert forward == visible
    assert backward == visible


# The resolver path: the page, its total count, the post counts of its tags; a compiled read:
# one statement.
@pytest.mark.parametrize(("compiled", "budget"), [(False, 3), (True, 1)])
@pytest.mark.parametrize("tag_count", [2, 12])
async def test_tag_list_with_counts_is_a_fixed_number_of_statements_whatever_its_length(
    database: Database, settings: Settings, tag_count: int, compiled: bool, budget: int
) -> None:
    writer = await create_user(database, role=Role.AUTHOR)
    post = await create_post(database, author_id=writer)
    for number in range(tag_count):
        await tag_post(database, post_id=post, tag_id=await create_tag(database, name=f"T{number}"))
    statements = StatementLog()

    async with client_of(settings, log=statements, compiled_reads=compiled) as client:
        listed = (await data(client, LIST, {"first": 20}))["tags"]

    assert listed["totalCount"] == tag_count
    assert len(statements) == budget
