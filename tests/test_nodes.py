"""Relay Global Object Identification: node and nodes."""

import base64
from collections.abc import Iterator
from typing import Any

import graphql
import httpx

from app import SCHEMA_FILE
from models.database import Database
from models.tables import CommentStatus, PostStatus, Role
from resolvers.tokens import issue_access_token
from settings import Settings
from tests.factories import (
    create_comment,
    create_post,
    create_revision,
    create_tag,
    create_user,
    tag_post,
)
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


# Every place an object with an ID can come from, asked as an admin (who may see all of it).
EVERY_ID = """
{
  me { __typename id posts(first: 2) { nodes { __typename id } } }
  posts(filter: {status: DRAFT}, first: 2) {
    nodes {
      __typename id
      author { __typename id }
      tags { __typename id }
      revisions(first: 2) { nodes { __typename id } }
      comments(first: 2) {
        nodes {
          __typename id
          author { __typename id }
          replies(first: 2) { nodes { __typename id } }
        }
      }
    }
  }
  authors(first: 2) { nodes { __typename id } }
  tags(first: 2) { nodes { __typename id } }
}
"""
ROUND_TRIP = "query ($id: ID!) { node(id: $id) { __typename id } }"
USER_BY_ID = "query ($id: ID!) { user(id: $id) { username } }"


def _identified(value: Any) -> Iterator[tuple[str, str]]:
    """Every (ID, __typename) pair in a response."""
    if isinstance(value, dict):
        if "id" in value and "__typename" in value:
            yield value["id"], value["__typename"]
        for item in value.values():
            yield from _identified(item)
    elif isinstance(value, list):
        for item in value:
            yield from _identified(item)


def _node_types() -> set[str]:
    schema = graphql.build_schema(SCHEMA_FILE.read_text())
    node = schema.get_type("Node")
    assert isinstance(node, graphql.GraphQLInterfaceType)
    return {implementation.name for implementation in schema.get_implementations(node).objects}


async def test_every_id_names_one_object_of_one_type_and_node_returns_it(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    """Relay's store keys records by ID alone: a User and the same person's Author profile
    must not share one."""
    admin = await create_user(database, username="root", role=Role.ADMIN)
    draft = await create_post(database, author_id=admin, status=PostStatus.DRAFT)
    await tag_post(database, post_id=draft, tag_id=await create_tag(database, name="Math"))
    await create_revision(database, post_id=draft, author_id=admin)
    top = await create_comment(database, post_id=draft, author_id=admin)
    await create_comment(
        database, post_id=draft, author_id=admin, parent_id=top, status=CommentStatus.PENDING
    )
    token, _ = issue_access_token(settings, user_id=admin, role=Role.ADMIN)
    headers = {"Authorization": f"Bearer {token}"}
    listed = await client.post("/graphql", json={"query": EVERY_ID}, headers=headers)
    assert "errors" not in listed.json(), listed.json()
    pairs = set(_identified(listed.json()["data"]))

    types_of_id: dict[str, set[str]] = {}
    for node_id, type_name in pairs:
        types_of_id.setdefault(node_id, set()).add(type_name)
    assert {name for names in types_of_id.values() for name in names} == _node_types()
    assert {node_id: names for node_id, names in types_of_id.items() if len(names) > 1} == {}
    for node_id, type_name in sorted(pairs):
        response = await client.post(
            "/graphql", json={"query": ROUND_TRIP, "variables": {"id": node_id}}, headers=headers
        )
        assert response.json()["data"]["node"] == {"__typename": type_name, "id": node_id}


async def test_a_user_node_is_visible_to_that_user_and_admins_only(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    ada = await create_user(database, username="ada", role=Role.READER)
    bob = await create_user(database, username="bob", role=Role.READER)
    user_id = _global_id("User", ada)
    seen_by = {}
    for name, (viewer, role) in {
        "self": (ada, Role.READER),
        "other": (bob, Role.READER),
        "admin": (await create_user(database, username="root", role=Role.ADMIN), Role.ADMIN),
    }.items():
        token, _ = issue_access_token(settings, user_id=viewer, role=role)
        response = await client.post(
            "/graphql",
            json={"query": ROUND_TRIP, "variables": {"id": user_id}},
            headers={"Authorization": f"Bearer {token}"},
        )
        seen_by[name] = response.json()["data"]["node"]
    anonymous = await data(client, ROUND_TRIP, {"id": user_id})

    assert seen_by == {
        "self": {"__typename": "User", "id": user_id},
        "other": None,
        "admin": {"__typename": "User", "id": user_id},
    }
    assert anonymous == {"node": None}


async def test_user_takes_a_user_id_or_the_same_persons_author_id(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    ada = await create_user(database, username="ada", role=Role.READER)
    token, _ = issue_access_token(settings, user_id=ada, role=Role.READER)
    headers = {"Authorization": f"Bearer {token}"}
    found = []
    for type_name in ("User", "Author"):
        variables = {"id": _global_id(type_name, ada)}
        response = await client.post(
            "/graphql", json={"query": USER_BY_ID, "variables": variables}, headers=headers
        )
        found.append(response.json()["data"]["user"])

    assert found == [{"username": "ada"}, {"username": "ada"}]
