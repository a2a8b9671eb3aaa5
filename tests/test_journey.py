"""The issue's story end to end, over HTTP: sign up, write, publish, comment, moderate."""

from typing import Any

import httpx
import sqlalchemy as sa

from models.database import Database
from models.tables import Role, users_table


class Person:
    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client
        self.token: str | None = None

    async def run(self, query: str, **variables: Any) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        response = await self.client.post(
            "/graphql", json={"query": query, "variables": variables}, headers=headers
        )
        body: dict[str, Any] = response.json()
        assert "errors" not in body, body
        data: dict[str, Any] = body["data"]
        return data

    async def join(self, username: str) -> None:
        result = await self.run(
            "mutation ($input: SignUpInput!) { signUp(input: $input) { errors { code } } }",
            input={
                "username": username,
                "email": f"{username}@example.com",
                "password": "a long passphrase",
                "displayName": username.title(),
            },
        )
        assert result["signUp"]["errors"] == []
        logged_in = await self.run(
            "mutation ($input: LogInInput!) { logIn(input: $input) { accessToken } }",
            input={"usernameOrEmail": username, "password": "a long passphrase"},
        )
        self.token = logged_in["logIn"]["accessToken"]


async def _promote(database: Database, username: str, role: Role) -> None:
    async with database.engine.begin() as connection:
        await connection.execute(
            sa.update(users_table).where(users_table.c.username == username).values(role=role)
        )


async def test_write_publish_comment_moderate(
    client: httpx.AsyncClient, database: Database
) -> None:
    writer, reader, editor, stranger = (Person(client) for _ in range(4))
    for person, name in ((writer, "writer"), (reader, "reader"), (editor, "editor")):
        await person.join(name)
    await _promote(database, "writer", Role.AUTHOR)
    await _promote(database, "editor", Role.EDITOR)

    draft = (
        await writer.run(
            'mutation { createPost(input: {title: "First light", body: "Hello **world**"}) '
            "{ post { id } } }"
        )
    )["createPost"]["post"]
    mine = await writer.run("{ me { posts { nodes { title status } } } }")
    public = await stranger.run("{ posts { nodes { title } } }")
    assert mine["me"]["posts"]["nodes"] == [{"title": "First light", "status": "DRAFT"}]
    assert public["posts"]["nodes"] == []

    await writer.run(
        "mutation ($id: ID!) { publishPost(id: $id) { post { status } } }", id=draft["id"]
    )
    comment = (
        await reader.run(
            'mutation ($post: ID!) { addComment(input: {postId: $post, body: "Lovely"}) '
            "{ comment { id status } } }",
            post=draft["id"],
        )
    )["addComment"]["comment"]
    thread = '{ post(slug: "first-light") { html comments { nodes { body } } } }'
    before = await stranger.run(thread)
    await editor.run(
        "mutation ($id: ID!) { moderateComment(id: $id, status: APPROVED) { comment { status } } }",
        id=comment["id"],
    )
    after = await stranger.run(thread)

    assert comment["status"] == "PENDING"
    assert before["post"]["comments"]["nodes"] == []
    assert after["post"] == {
        "html": "<p>Hello <strong>world</strong></p>\n",
        "comments": {"nodes": [{"body": "Lovely"}]},
    }
