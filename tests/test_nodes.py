"""Relay Global Object Identification: node and nodes."""

import base64

import httpx

from models.database import Database
from models.tables import PostStatus
from tests.factories import create_comment, create_post, create_tag, create_user
from tests.graphql import data, error_codes, execute

IDS = """
{
  posts { nodes { id author { id } tags { id } comments { nodes { id } } } }
}
"""

NODES = """
query Nodes($ids: [ID!]!) {
  nodes(ids: $ids) {
    __typename id
    ... on Post { title }
    ... on Author { username }
    ... on Tag { name }
    ... on Comment { body }
  }
}
"""


async def test_every_node_type_round_trips_through_nodes(
    client: httpx.AsyncClient, database: Database
) -> None:
    author = await create_user(database, username="ada")
    post = await create_post(database, author_id=author, title="Engines")
    from tests.factories import tag_post

    await tag_post(database, post_id=post, tag_id=await create_tag(database, name="Math"))
    await create_comment(database, post_id=post, author_id=author, body="Nice")
    listed = (await data(client, IDS))["posts"]["nodes"][0]
    ids = [
        listed["id"],
        listed["author"]["id"],
        listed["tags"][0]["id"],
        listed["comments"]["nodes"][0]["id"],
    ]

    result = (await data(client, NODES, {"ids": ids}))["nodes"]

    assert [(node["__typename"], node["id"]) for node in result] == [
        ("Post", ids[0]),
        ("Author", ids[1]),
        ("Tag", ids[2]),
        ("Comment", ids[3]),
    ]
    assert [result[0]["title"], result[1]["username"], result[2]["name"], result[3]["body"]] == [
        "Engines",
        "ada",
        "Math",
        "Nice",
    ]


async def test_hidden_or_missing_nodes_are_null(
    client: httpx.AsyncClient, database: Database
) -> None:
    author = await create_user(database)
    draft = await create_post(database, author_id=author, status=PostStatus.DRAFT)
    ids = [_global_id("Post", draft), _global_id("Post", 999_999)]

    result = await data(client, NODES, {"ids": ids})

    assert result == {"nodes": [None, None]}


async def test_malformed_node_id_is_bad_user_input(
    client: httpx.AsyncClient, database: Database
) -> None:
    for bad in ("nonsense", _global_id("Password", 1), _global_id("Post", "x")):  # type: ignore[arg-type]
        body = await execute(client, NODES, {"ids": [bad]})

        assert error_codes(body) == ["BAD_USER_INPUT"], bad


async def test_nodes_refuses_more_than_a_hundred_ids(
    client: httpx.AsyncClient, database: Database
) -> None:
    body = await execute(client, NODES, {"ids": [_global_id("Post", n) for n in range(101)]})

    assert error_codes(body) == ["BAD_USER_INPUT"]


def _global_id(type_name: str, row_id: int) -> str:
    return base64.b64encode(f"{type_name}:{row_id}".encode()).decode()
