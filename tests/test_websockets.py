"""WebSockets act as their user is now, and one client cannot take every socket.

A live uvicorn server (in this event loop, on the database under test) and a real WebSocket
client: operations and events on a socket opened before a demotion, a deactivation,
logOutEverywhere or changePassword are refused and the socket is closed (4403); sockets are
bounded per address and per user (1008) and closed when idle (1000)."""

import asyncio
import base64
import json
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

from app import create_app
from models.database import Database
from models.passwords import create_passwords
from models.tables import Role, users_table
from resolvers.tokens import issue_access_token
from settings import Settings
from tests.factories import create_post, create_user
from tests.test_events import served
from tests.wsclient import LEGACY_WS, TRANSPORT_WS, Socket, graphql_socket

SET_ROLE = """mutation ($id: ID!, $role: Role!) {
  setUserRole(userId: $id, role: $role) { role } }"""
SET_ACTIVE = """mutation ($id: ID!, $active: Boolean!) {
  setUserActive(userId: $id, active: $active) { username } }"""
ACCOUNT = "query ($id: ID!) { user(id: $id) { email } }"
LOG_OUT_EVERYWHERE = "mutation { logOutEverywhere }"
CHANGE_PASSWORD = """mutation ($current: String!, $new: String!) {
  changePassword(currentPassword: $current, newPassword: $new) { accessToken errors { code } } }"""
ME = "query { me { username } }"
COMMENT_ADDED = """subscription ($post: ID!) {
  commentAdded(postId: $post) { body status } }"""
POST_PUBLISHED = "subscription ($tag: String) { postPublished(tag: $tag) { title } }"
ADD_COMMENT = """mutation ($post: ID!, $body: String!) {
  addComment(input: {postId: $post, body: $body}) { comment { status } errors { code } } }"""
DEACTIVATED = "This account is deactivated or no longer exists."
REVOKED = (
    "This access token was revoked (the account's password, role or sessions changed): "
    "refresh it, or log in again."
)
PASSWORD = "correct horse battery"
CLOSED_FOR_CHANGED_CREDENTIALS = (4403, "Credentials changed: sign in again.")
CLOSED_FOR_BAD_CREDENTIALS = (4403, "UNAUTHENTICATED: sign in again.")


@dataclass
class Live:
    url: str  # ws://.../graphql
    http: httpx.AsyncClient
    settings: Settings
    database: Database

    def token(self, user_id: int, role: Role) -> str:
        return issue_access_token(self.settings, user_id=user_id, role=role)[0]

    async def graphql(self, query: str, token: str, **variables: Any) -> dict[str, Any]:
        response = await self.http.post(
            "/graphql",
            json={"query": query, "variables": variables},
            headers={"authorization": f"Bearer {token}"},
        )
        body: dict[str, Any] = response.json()
        return body


def _served(settings: Settings, **overrides: Any) -> AbstractAsyncContextManager[str]:
    return served(create_app(settings.model_copy(update=overrides)))


@pytest.fixture
async def live(settings: Settings, database: Database) -> AsyncIterator[Live]:
    async with served(create_app(settings)) as url:
        base_url = url.replace("ws://", "http://").removesuffix("/graphql")
        async with httpx.AsyncClient(base_url=base_url, trust_env=False) as http:
            yield Live(url, http, settings, database)


def _bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


def _gid(kind: str, number: int) -> str:
    return base64.b64encode(f"{kind}:{number}".encode()).decode()


async def _update_user(database: Database, user_id: int, **values: Any) -> None:
    """A change made elsewhere (another instance whose event this one missed)."""
    async with database.engine.begin() as connection:
        await connection.execute(
            sa.update(users_table).where(users_table.c.id == user_id).values(**values)
        )


async def _role(database: Database, user_id: int) -> str:
    async with database.engine.connect() as connection:
        role = await connection.scalar(
            sa.select(users_table.c.role).where(users_table.c.id == user_id)
        )
    return str(role)


async def _until_closed(socket: Socket) -> tuple[list[dict[str, Any]], tuple[int | None, str]]:
    """Every message (but keep-alives) until the server closes the socket, and its close."""
    messages = []
    while True:
        try:
            messages.append(await socket.receive())
        except ConnectionClosed:
            return messages, await socket.closed()


async def _closed_on_arrival(url: str) -> tuple[int, str]:
    """Connects (sending nothing: the server may close first) and reads the server's close."""
    async with connect(url, subprotocols=[Subprotocol(TRANSPORT_WS)]) as connection:
        with pytest.raises(ConnectionClosed) as closed:
            await connection.recv()
    assert closed.value.rcvd is not None
    return closed.value.rcvd.code, closed.value.rcvd.reason


def _refused(operation_id: str, message: str) -> dict[str, Any]:
    error = {"message": message, "extensions": {"code": "UNAUTHENTICATED"}}
    return {"id": operation_id, "type": "error", "payload": [error]}


async def test_a_deactivated_admin_cannot_change_roles_over_an_old_socket(live: Live) -> None:
    admin = await create_user(live.database, role=Role.ADMIN)
    reader = await create_user(live.database, role=Role.READER)
    payload = _bearer(live.token(admin, Role.ADMIN))
    async with graphql_socket(live.url, payload=payload) as socket:
        await _update_user(live.database, admin, role=Role.READER, is_active=False)
        await socket.subscribe("1", SET_ROLE, {"id": _gid("Author", reader), "role": "ADMIN"})
        messages, closed = await _until_closed(socket)

    assert messages == [_refused("1", DEACTIVATED)]
    assert closed == CLOSED_FOR_BAD_CREDENTIALS
    assert await _role(live.database, reader) == "READER"


async def test_a_demoted_admin_cannot_read_emails_over_an_old_socket(live: Live) -> None:
    admin = await create_user(live.database, role=Role.ADMIN)
    reader = await create_user(live.database, username="grace", role=Role.READER)
    payload = _bearer(live.token(admin, Role.ADMIN))
    async with graphql_socket(live.url, payload=payload) as socket:
        await socket.subscribe("before", ACCOUNT, {"id": _gid("Author", reader)})
        before = await socket.next_data("before")
        assert (await socket.receive())["type"] == "complete"
        await _update_user(live.database, admin, role=Role.READER)
        await socket.subscribe("after", ACCOUNT, {"id": _gid("Author", reader)})
        after = await socket.next_data("after")

    assert before["data"] == {"user": {"email": "grace@example.com"}}
    assert after["data"] == {"user": None}
    assert [error["extensions"]["code"] for error in after["errors"]] == ["FORBIDDEN"]


async def test_a_demoted_editor_gets_no_pending_comment(live: Live) -> None:
    editor = await create_user(live.database, role=Role.EDITOR)
    author = await create_user(live.database, role=Role.AUTHOR)
    reader = await create_user(live.database, role=Role.READER)
    post = await create_post(live.database, author_id=author)
    payload = _bearer(live.token(editor, Role.EDITOR))
    async with graphql_socket(live.url, payload=payload) as socket:
        await socket.subscribe("c", COMMENT_ADDED, {"post": _gid("Post", post)})
        await _update_user(live.database, editor, role=Role.READER)
        added = await live.graphql(
            ADD_COMMENT, live.token(reader, Role.READER), post=_gid("Post", post), body="Wait"
        )
        await socket.nothing_for(1.0)

    assert added["data"]["addComment"]["comment"] == {"status": "PENDING"}


async def test_demoting_a_moderator_closes_their_socket_before_a_pending_comment(
    live: Live,
) -> None:
    admin = await create_user(live.database, role=Role.ADMIN)
    editor = await create_user(live.database, role=Role.EDITOR)
    reader = await create_user(live.database, role=Role.READER)
    post = await create_post(live.database, author_id=editor)
    payload = _bearer(live.token(editor, Role.EDITOR))
    async with graphql_socket(live.url, payload=payload) as socket:
        await socket.subscribe("c", COMMENT_ADDED, {"post": _gid("Post", post)})
        demoted = await live.graphql(
            SET_ROLE, live.token(admin, Role.ADMIN), id=_gid("Author", editor), role="READER"
        )
        await live.graphql(
            ADD_COMMENT, live.token(reader, Role.READER), post=_gid("Post", post), body="Wait"
        )
        messages, closed = await _until_closed(socket)

    assert demoted["data"] == {"setUserRole": {"role": "READER"}}
    assert "Wait" not in json.dumps(messages)
    # Whichever comes first: the pending comment's event, refused for the revoked token, or
    # the credentials_changed event.
    assert closed in (CLOSED_FOR_BAD_CREDENTIALS, CLOSED_FOR_CHANGED_CREDENTIALS)


async def test_deactivation_closes_the_users_sockets(live: Live) -> None:
    admin = await create_user(live.database, role=Role.ADMIN)
    other = await create_user(live.database, role=Role.ADMIN)
    payload = _bearer(live.token(admin, Role.ADMIN))
    async with graphql_socket(live.url, payload=payload) as socket:
        await socket.subscribe("p", POST_PUBLISHED)
        await live.graphql(
            SET_ACTIVE, live.token(other, Role.ADMIN), id=_gid("Author", admin), active=False
        )
        messages, closed = await _until_closed(socket)

    assert messages == []
    assert closed == CLOSED_FOR_CHANGED_CREDENTIALS


async def test_log_out_everywhere_closes_the_users_sockets_and_refuses_the_token(
    live: Live,
) -> None:
    reader = await create_user(live.database, role=Role.READER)
    token = live.token(reader, Role.READER)
    async with graphql_socket(live.url, payload=_bearer(token)) as socket:
        await socket.subscribe("p", POST_PUBLISHED)
        ended = await live.graphql(LOG_OUT_EVERYWHERE, token)
        messages, closed = await _until_closed(socket)
    async with graphql_socket(live.url, payload=_bearer(token), acknowledge=False) as again:
        refused_again = await again.closed()

    assert ended["data"] == {"logOutEverywhere": 0}
    assert (messages, closed) == ([], CLOSED_FOR_CHANGED_CREDENTIALS)
    assert refused_again == (4403, "Forbidden")


async def test_a_revoked_token_refuses_the_next_operation_on_its_socket(live: Live) -> None:
    reader = await create_user(live.database, role=Role.READER)
    async with graphql_socket(live.url, payload=_bearer(live.token(reader, Role.READER))) as socket:
        await _update_user(live.database, reader, token_version=users_table.c.token_version + 1)
        await socket.subscribe("1", ME)
        messages, closed = await _until_closed(socket)

    assert messages == [_refused("1", REVOKED)]
    assert closed == CLOSED_FOR_BAD_CREDENTIALS


async def test_change_password_closes_the_users_sockets_and_its_new_token_works(
    live: Live,
) -> None:
    password_hash = await create_passwords(live.settings).hash(PASSWORD)
    reader = await create_user(
        live.database, username="ada", role=Role.READER, password_hash=password_hash
    )
    token = live.token(reader, Role.READER)
    async with graphql_socket(live.url, payload=_bearer(token)) as socket:
        await socket.subscribe("p", POST_PUBLISHED)
        changed = await live.graphql(
            CHANGE_PASSWORD, token, current=PASSWORD, new="a much better passphrase"
        )
        messages, closed = await _until_closed(socket)
    fresh = changed["data"]["changePassword"]["accessToken"]
    async with graphql_socket(live.url, payload=_bearer(fresh)) as renewed:
        await renewed.subscribe("me", ME)
        me = await renewed.next_data("me")

    assert changed["data"]["changePassword"]["errors"] == []
    assert (messages, closed) == ([], CLOSED_FOR_CHANGED_CREDENTIALS)
    assert me["data"] == {"me": {"username": "ada"}}


async def test_change_password_over_the_socket_itself_returns_the_new_token_first(
    live: Live,
) -> None:
    password_hash = await create_passwords(live.settings).hash(PASSWORD)
    reader = await create_user(live.database, role=Role.READER, password_hash=password_hash)
    payload = _bearer(live.token(reader, Role.READER))
    async with graphql_socket(live.url, payload=payload) as socket:
        variables = {"current": PASSWORD, "new": "a much better passphrase"}
        await socket.subscribe("1", CHANGE_PASSWORD, variables)
        messages, closed = await _until_closed(socket)

    assert [message["type"] for message in messages] == ["next", "complete"]
    result = messages[0]["payload"]["data"]["changePassword"]
    assert result["errors"] == []
    assert result["accessToken"]
    assert closed == CLOSED_FOR_CHANGED_CREDENTIALS


async def test_the_legacy_protocol_refuses_a_deactivated_users_operation(live: Live) -> None:
    reader = await create_user(live.database, role=Role.READER)
    payload = _bearer(live.token(reader, Role.READER))
    async with graphql_socket(live.url, payload=payload, protocol=LEGACY_WS) as socket:
        await _update_user(live.database, reader, is_active=False)
        await socket.subscribe("1", POST_PUBLISHED)
        messages, closed = await _until_closed(socket)

    error = {"message": DEACTIVATED, "extensions": {"code": "UNAUTHENTICATED"}}
    assert messages == [{"id": "1", "type": "error", "payload": error}]
    assert closed == CLOSED_FOR_BAD_CREDENTIALS


async def test_sockets_per_address_are_bounded(settings: Settings, database: Database) -> None:
    async with (
        _served(settings, ws_max_connections_per_address=2) as url,
        graphql_socket(url),
        graphql_socket(url) as second,
    ):
        refused = await _closed_on_arrival(url)
        await second.connection.close()
        await asyncio.sleep(0.2)
        async with graphql_socket(url) as replacement:
            await replacement.subscribe("p", POST_PUBLISHED)
            await replacement.nothing_for(0.2)

    reason = "Too many WebSockets from your address (at most 2): close one first."
    assert refused == (1008, reason)


async def test_sockets_per_user_are_bounded(settings: Settings, database: Database) -> None:
    reader = await create_user(database, role=Role.READER)
    other = await create_user(database, role=Role.READER)
    token = issue_access_token(settings, user_id=reader, role=Role.READER)[0]
    other_token = issue_access_token(settings, user_id=other, role=Role.READER)[0]
    async with (
        _served(settings, ws_max_connections_per_user=1) as url,
        graphql_socket(url, payload=_bearer(token)),
        graphql_socket(url, payload=_bearer(other_token)),
        graphql_socket(url),
        graphql_socket(url, payload=_bearer(token), acknowledge=False) as second,
    ):
        refused = await second.closed()

    reason = "Too many WebSockets for this account (at most 1): close one first."
    assert refused == (1008, reason)


async def test_an_idle_socket_is_closed(settings: Settings, database: Database) -> None:
    async with (
        _served(settings, ws_idle_seconds=1) as url,
        graphql_socket(url) as idle,
    ):
        closed = await idle.closed(seconds=4)

    assert closed == (1000, "Idle for 1 s with no subscription: reconnect to subscribe.")


async def test_a_socket_with_a_subscription_is_not_idle(
    settings: Settings, database: Database
) -> None:
    async with (
        _served(settings, ws_idle_seconds=1) as url,
        graphql_socket(url) as busy,
    ):
        await busy.subscribe("p", POST_PUBLISHED)
        await busy.nothing_for(2.5)
        await busy.send({"type": "ping"})
        pong = json.loads(await busy.connection.recv())

    assert pong == {"type": "pong"}


@pytest.mark.parametrize("protocol", [TRANSPORT_WS, LEGACY_WS])
async def test_a_second_connection_init_closes_the_socket(live: Live, protocol: str) -> None:
    """A repeated connection_init (another user's token, say) would re-run the admission and
    count the socket for that user too: both protocols close instead."""
    other = await create_user(live.database, role=Role.READER)
    async with graphql_socket(live.url, protocol=protocol) as socket:
        payload = _bearer(live.token(other, Role.READER))
        await socket.send({"type": "connection_init", "payload": payload})
        _messages, closed = await _until_closed(socket)

    assert closed == (4429, "Too many initialisation requests")
