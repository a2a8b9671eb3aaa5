"""Subscriptions over HTTP streams (Apollo's multipart protocol and GraphQL over SSE) on a live
server with the demo publication: visibility per event, the subscriber as it is now, and the
bound on open streams. Apollo Client's own HttpLink is run in tests/test_client_snippets.py."""

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest

from tests.live import serving_demo

MULTIPART = "multipart/mixed;subscriptionSpec=1.0, application/json"
SSE = "text/event-stream"
COMMENTS = 'subscription { commentAdded(postId: "UG9zdDox") { body author { username } } }'
QUEUE = "subscription { moderationQueue { body } }"
LOG_IN = """mutation ($name: String!, $password: String!) {
  logIn(input: { usernameOrEmail: $name, password: $password }) { accessToken } }"""
COMMENT = """mutation ($body: String!) {
  addComment(input: { postId: "UG9zdDox", body: $body }) { comment { status } } }"""
DEMOTE = """mutation { setUserRole(userId: "VXNlcjoy", role: READER) { role } }"""  # grace


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, str]]]:
    with serving_demo(tmp_path_factory.mktemp("streams")) as server:
        yield server


class Demo:
    def __init__(self, http: httpx.AsyncClient, passwords: dict[str, str]) -> None:
        self.http, self.passwords, self.tokens = http, passwords, dict[str, str]()

    async def token(self, name: str) -> str:
        if name not in self.tokens:
            variables = {"name": name, "password": self.passwords[name]}
            body = await self.run(LOG_IN, None, variables)
            self.tokens[name] = body["logIn"]["accessToken"]
        return self.tokens[name]

    async def headers(self, name: str | None) -> dict[str, str]:
        return {"Authorization": f"Bearer {await self.token(name)}"} if name else {}

    async def run(self, query: str, name: str | None, variables: dict[str, Any]) -> Any:
        body = {"query": query, "variables": variables}
        response = await self.http.post("/graphql", json=body, headers=await self.headers(name))
        result = response.json()
        assert "errors" not in result, result
        return result["data"]

    @asynccontextmanager
    async def stream(
        self, query: str, *, accept: str, name: str | None = None
    ) -> AsyncIterator["Stream"]:
        headers = {"Accept": accept, **(await self.headers(name))}
        body = {"query": query}
        async with self.http.stream("POST", "/graphql", json=body, headers=headers) as response:
            yield Stream(response)


class Stream:
    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self.payloads = _payloads(response)

    async def next(self, seconds: float = 5) -> dict[str, Any]:
        return await asyncio.wait_for(anext(self.payloads), seconds)

    async def rest(self) -> list[dict[str, Any]]:
        return [payload async for payload in self.payloads]


@pytest.fixture
async def world(demo: tuple[str, dict[str, str]]) -> AsyncIterator[Demo]:
    url, passwords = demo
    async with httpx.AsyncClient(base_url=url, trust_env=False, timeout=10) as http:
        yield Demo(http, passwords)


async def _payloads(response: httpx.Response) -> AsyncIterator[dict[str, Any]]:
    """The results a stream delivers, multipart or SSE, without its heartbeats."""
    buffer = ""
    async for text in response.aiter_text():
        buffer += text
        while "\r\n\r\n" in buffer:
            part, buffer = buffer.split("\r\n\r\n", 1)
            if part.startswith("event: next"):
                yield json.loads(part.split("data: ", 1)[1])
            elif part.strip().startswith("Content-Type") and "{" in buffer:
                body, _, buffer = buffer.partition("\r\n--graphql")
                message = json.loads(body)
                if "payload" in message:
                    yield message["payload"]


async def test_a_multipart_stream_gets_approved_comments_and_not_pending_ones(
    world: Demo,
) -> None:
    async with world.stream(COMMENTS, accept=MULTIPART) as stream:
        await asyncio.sleep(0.5)  # subscribed
        await world.run(COMMENT, "sam", {"body": "Pending: waits for an editor."})
        await world.run(COMMENT, "ada", {"body": "Approved: an author's comment."})
        first = await stream.next()

    assert stream.response.status_code == 200
    assert stream.response.headers["content-type"].startswith("multipart/mixed;boundary=graphql")
    assert stream.response.headers["cache-control"] == "private, no-store"
    assert first["data"] == {
        "commentAdded": {"body": "Approved: an author's comment.", "author": {"username": "ada"}}
    }


async def test_an_sse_stream_is_for_editors_and_ends_when_the_editor_is_demoted(
    world: Demo,
) -> None:
    async with world.stream(QUEUE, accept=SSE) as anonymous:
        refused = await anonymous.next()
    async with world.stream(QUEUE, accept=SSE, name="grace") as editor:
        await asyncio.sleep(0.5)
        await world.run(COMMENT, "sam", {"body": "Before the demotion."})
        before = await editor.next()
        await world.run(DEMOTE, "margaret", {})
        await world.run(COMMENT, "sam", {"body": "After the demotion."})
        after = await editor.next()
        rest = await editor.rest()

    assert refused["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert before["data"] == {"moderationQueue": {"body": "Before the demotion."}}
    assert after["data"] is None
    assert after["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert rest == []  # the stream ended


async def test_open_streams_per_account_are_bounded(world: Demo) -> None:
    limit = 10  # QUIRE_WS_MAX_CONNECTIONS_PER_USER's default
    async with contextlib.AsyncExitStack() as streams:
        for _ in range(limit):
            opened = await streams.enter_async_context(
                world.stream(COMMENTS, accept=SSE, name="sam")
            )
            assert opened.response.status_code == 200
        async with world.stream(COMMENTS, accept=SSE, name="sam") as refused:
            body = json.loads(await refused.response.aread())
    async with world.stream(COMMENTS, accept=SSE, name="sam") as again:
        status_after_closing = again.response.status_code

    assert refused.response.status_code == 429
    assert body["errors"][0]["extensions"] == {"code": "TOO_MANY_STREAMS", "limit": limit}
    assert status_after_closing == 200
