"""The writing story of the README's tour, end to end on a live server with the demo
publication: a new account is a reader, an admin promotes it, it writes and publishes, a
reader's comment waits for moderation, an editor approves it, and a subscriber receives it."""

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.live import serving_demo
from tests.wsclient import graphql_socket

SIGN_UP = """mutation {
  signUp(input: { username: "jordan", email: "jordan@example.com",
                  password: "correct horse battery", displayName: "Jordan" }) {
    user { id role } accessToken refreshToken errors { code } } }"""
LOG_IN = """mutation ($name: String!, $password: String!) {
  logIn(input: { usernameOrEmail: $name, password: $password }) { accessToken errors { code } } }"""
REFRESH = """mutation ($refresh: String!) {
  refreshToken(refreshToken: $refresh) { accessToken user { role } errors { code } } }"""
CREATE_POST = """mutation {
  createPost(input: { title: "Notes from the first hour", body: "## It works", tags: ["Meta"] }) {
    post { id status } errors { code } } }"""
PUBLISH = """mutation ($id: ID!) { publishPost(id: $id) { post { status } errors { code } } }"""
PROMOTE = """mutation ($user: ID!) { setUserRole(userId: $user, role: AUTHOR) { role } }"""
COMMENT = """mutation ($id: ID!) {
  addComment(input: { postId: $id, body: "Worked for me too." }) {
    comment { id status } errors { code } } }"""
APPROVE = """mutation ($id: ID!) {
  moderateComment(id: $id, status: APPROVED) { comment { status } errors { code } } }"""
COMMENTS = """subscription ($id: ID!) {
  commentAdded(postId: $id) { body author { displayName } } }"""


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, str]]]:
    with serving_demo(tmp_path_factory.mktemp("tour")) as server:
        yield server


class Tour:
    def __init__(self, http: httpx.AsyncClient, passwords: dict[str, str]) -> None:
        self.http, self.passwords = http, passwords

    async def send(self, query: str, token: str | None = None, **variables: Any) -> Any:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        body = {"query": query, "variables": variables}
        return (await self.http.post("/graphql", json=body, headers=headers)).json()

    async def run(self, query: str, token: str | None = None, **variables: Any) -> Any:
        result = await self.send(query, token, **variables)
        assert "errors" not in result, result["errors"]
        return result["data"]

    async def log_in(self, name: str) -> str:
        result = await self.run(LOG_IN, name=name, password=self.passwords[name])
        token: str = result["logIn"]["accessToken"]
        return token


def _codes(result: Any) -> list[str]:
    return [error["extensions"]["code"] for error in result.get("errors", [])]


async def test_the_writing_walkthrough_works_as_written(
    demo: tuple[str, dict[str, str]],
) -> None:
    url, passwords = demo
    async with httpx.AsyncClient(base_url=url, trust_env=False) as http:
        tour = Tour(http, passwords)
        signed_up = (await tour.run(SIGN_UP))["signUp"]
        assert signed_up["user"]["role"] == "READER"
        assert _codes(await tour.send(CREATE_POST, signed_up["accessToken"])) == ["FORBIDDEN"]

        admin = await tour.log_in("margaret")
        await tour.run(PROMOTE, admin, user=signed_up["user"]["id"])
        stale = await tour.send(CREATE_POST, signed_up["accessToken"])
        refreshed = (await tour.run(REFRESH, refresh=signed_up["refreshToken"]))["refreshToken"]
        created = (await tour.run(CREATE_POST, refreshed["accessToken"]))["createPost"]
        published = await tour.run(PUBLISH, refreshed["accessToken"], id=created["post"]["id"])

        ws_url = url.replace("http://", "ws://") + "/graphql"
        async with graphql_socket(ws_url) as socket:
            await socket.subscribe("1", COMMENTS, {"id": created["post"]["id"]})
            comment = await tour.run(COMMENT, await tour.log_in("sam"), id=created["post"]["id"])
            await socket.nothing_for(0.5)
            approved = await tour.run(
                APPROVE, await tour.log_in("grace"), id=comment["addComment"]["comment"]["id"]
            )
            event = await socket.next_data("1")

    assert _codes(stale) == ["UNAUTHENTICATED"]
    assert refreshed["user"] == {"role": "AUTHOR"}
    assert created["post"]["status"] == "DRAFT"
    assert published["publishPost"] == {"post": {"status": "PUBLISHED"}, "errors": []}
    assert comment["addComment"]["comment"]["status"] == "PENDING"
    assert approved["moderateComment"] == {"comment": {"status": "APPROVED"}, "errors": []}
    assert event["data"] == {
        "commentAdded": {"body": "Worked for me too.", "author": {"displayName": "Sam Keller"}}
    }
