"""Draft previews: a preview token reads its one post, and nothing else; it expires, can be
revoked, ends when the post is published or deleted; forged and foreign tokens are refused."""

import base64
import json
import uuid
from datetime import timedelta
from typing import Any

import httpx
import sqlalchemy as sa
from starlette.websockets import WebSocket

from models.columns import utc_now
from models.database import Database
from models.passwords import create_passwords
from models.tables import CommentStatus, PostStatus, Role, preview_tokens_table
from resolvers import previews
from resolvers.context import build_context
from resolvers.tokens import issue_access_token
from settings import Settings
from tests.factories import create_comment, create_post, create_user

CREATE_TOKEN = """
mutation Preview($postId: ID!) {
  createPreviewToken(postId: $postId) { token expiresAt errors { code } }
}
"""
REVOKE = "mutation Revoke($postId: ID!) { revokePreviewTokens(postId: $postId) }"
BY_SLUG = """
query BySlug($slug: String!) {
  post(slug: $slug) { title status comments { nodes { body } } }
}
"""
BY_ID = "query ById($id: ID!) { post(id: $id) { title } }"
BY_NODE = "query ByNode($id: ID!) { node(id: $id) { ... on Post { title } } }"
BY_ARGUMENT = """
query ByArgument($slug: String!, $token: String) {
  post(slug: $slug, previewToken: $token) { title }
}
"""
NODE_BY_ARGUMENT = """
query NodeByArgument($id: ID!, $token: String) {
  node(id: $id, previewToken: $token) { ... on Post { title } }
}
"""
LISTS = """
query Lists($username: String!) {
  posts(first: 10) { nodes { title } }
  author(username: $username) { posts(first: 10) { nodes { title } } }
}
"""
PUBLISH = "mutation Publish($id: ID!) { publishPost(id: $id) { post { status } } }"
DELETE = "mutation Delete($id: ID!) { deletePost(id: $id) { deletedId } }"


def _post_id(post_id: int) -> str:
    return base64.b64encode(f"Post:{post_id}".encode()).decode()


async def _author(
    database: Database, settings: Settings, role: Role = Role.AUTHOR
) -> tuple[int, dict[str, str]]:
    user_id = await create_user(
        database, role=role, username=f"{role.value.lower()}-{uuid.uuid4().hex[:6]}"
    )
    token, _ = issue_access_token(settings, user_id=user_id, role=role)
    return user_id, {"Authorization": f"Bearer {token}"}


async def _run(
    client: httpx.AsyncClient,
    query: str,
    variables: dict[str, Any],
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    return await client.post(
        "/graphql", json={"query": query, "variables": variables}, headers=headers or {}
    )


async def _token(client: httpx.AsyncClient, headers: dict[str, str], post_id: int) -> str:
    response = await _run(client, CREATE_TOKEN, {"postId": _post_id(post_id)}, headers)
    payload = response.json()["data"]["createPreviewToken"]
    assert payload["errors"] == []
    token: str = payload["token"]
    return token


def _codes(response: httpx.Response) -> list[str]:
    return [error["extensions"]["code"] for error in response.json().get("errors", [])]


async def test_a_preview_token_reads_its_draft_by_slug_id_and_node_without_a_session(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    author_id, headers = await _author(database, settings)
    draft = await create_post(
        database, author_id=author_id, title="Secret draft", slug="secret", status=PostStatus.DRAFT
    )
    token = await _token(client, headers, draft)
    preview = {"X-Preview-Token": token}

    by_slug = await _run(client, BY_SLUG, {"slug": "secret"}, preview)
    by_id = await _run(client, BY_ID, {"id": _post_id(draft)}, preview)
    by_node = await _run(client, BY_NODE, {"id": _post_id(draft)}, preview)
    without = await _run(client, BY_SLUG, {"slug": "secret"})
    public = await client.get(
        "/graphql", params={"query": BY_SLUG, "variables": json.dumps({"slug": "secret"})}
    )

    assert by_slug.json()["data"]["post"]["title"] == "Secret draft"
    assert by_slug.json()["data"]["post"]["status"] == "DRAFT"
    assert by_id.json()["data"]["post"] == {"title": "Secret draft"}
    assert by_node.json()["data"]["node"] == {"title": "Secret draft"}
    assert by_slug.headers["cache-control"] == "private, no-store"
    assert without.json()["data"]["post"] is None
    # Without the token the same read is public again (cacheable: it shows no draft).
    assert public.headers["cache-control"].startswith("public")


async def test_the_preview_token_argument_works_where_no_header_can_be_sent(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    author_id, headers = await _author(database, settings)
    draft = await create_post(
        database, author_id=author_id, title="Argued", slug="argued", status=PostStatus.DRAFT
    )
    token = await _token(client, headers, draft)

    by_slug = await _run(client, BY_ARGUMENT, {"slug": "argued", "token": token})
    by_node = await _run(client, NODE_BY_ARGUMENT, {"id": _post_id(draft), "token": token})

    assert by_slug.json()["data"]["post"] == {"title": "Argued"}
    assert by_node.json()["data"]["node"] == {"title": "Argued"}
    assert by_slug.headers["cache-control"] == "private, no-store"


async def test_nothing_else_becomes_visible_through_a_preview_token(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    author_id, headers = await _author(database, settings)
    username = (await _run(client, "{ me { username } }", {}, headers)).json()["data"]["me"]
    draft = await create_post(
        database, author_id=author_id, title="Previewed", slug="previewed", status=PostStatus.DRAFT
    )
    other = await create_post(
        database, author_id=author_id, title="Other draft", slug="other", status=PostStatus.DRAFT
    )
    await create_comment(
        database, post_id=draft, author_id=author_id, body="approved", status=CommentStatus.APPROVED
    )
    await create_comment(
        database, post_id=draft, author_id=author_id, body="pending", status=CommentStatus.PENDING
    )
    preview = {"X-Preview-Token": await _token(client, headers, draft)}

    other_by_slug = await _run(client, BY_SLUG, {"slug": "other"}, preview)
    other_by_id = await _run(client, BY_ID, {"id": _post_id(other)}, preview)
    lists = await _run(client, LISTS, {"username": username["username"]}, preview)
    comments = await _run(client, BY_SLUG, {"slug": "previewed"}, preview)

    assert other_by_slug.json()["data"]["post"] is None
    assert other_by_id.json()["data"]["post"] is None
    assert lists.json()["data"]["posts"]["nodes"] == []
    assert lists.json()["data"]["author"]["posts"]["nodes"] == []
    assert comments.json()["data"]["post"]["comments"]["nodes"] == [{"body": "approved"}]


async def test_an_expired_preview_token_is_refused(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    author_id, _ = await _author(database, settings)
    draft = await create_post(database, author_id=author_id, slug="late", status=PostStatus.DRAFT)
    expired_at = utc_now() - timedelta(minutes=1)
    jti = uuid.uuid4().hex
    async with database.engine.begin() as connection:
        await connection.execute(
            sa.insert(preview_tokens_table).values(
                jti=jti,
                post_id=draft,
                created_by=author_id,
                created_at=expired_at,
                expires_at=expired_at,
            )
        )
    token = previews._encode(settings, jti=jti, post_id=draft, expires_at=expired_at)

    response = await _run(client, BY_SLUG, {"slug": "late"}, {"X-Preview-Token": token})

    assert _codes(response) == ["PREVIEW_TOKEN_EXPIRED"]
    assert response.json()["data"] is None


async def test_a_revoked_preview_token_is_refused(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    author_id, headers = await _author(database, settings)
    draft = await create_post(database, author_id=author_id, slug="gone", status=PostStatus.DRAFT)
    token = await _token(client, headers, draft)

    revoked = await _run(client, REVOKE, {"postId": _post_id(draft)}, headers)
    response = await _run(client, BY_SLUG, {"slug": "gone"}, {"X-Preview-Token": token})

    assert revoked.json()["data"]["revokePreviewTokens"] == 1
    assert _codes(response) == ["PREVIEW_TOKEN_REVOKED"]


async def test_forged_and_foreign_tokens_are_refused_as_invalid(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    author_id, headers = await _author(database, settings)
    draft = await create_post(database, author_id=author_id, slug="forged", status=PostStatus.DRAFT)
    genuine = await _token(client, headers, draft)
    other_server = settings.model_copy(
        update={"secret_key": "another-server-secret-key-0123456789"}
    )
    forged = previews._encode(
        other_server, jti=uuid.uuid4().hex, post_id=draft, expires_at=utc_now() + timedelta(hours=1)
    )
    access_token = headers["Authorization"].removeprefix("Bearer ")
    tampered = genuine[:-4] + ("AAAA" if not genuine.endswith("AAAA") else "BBBB")

    for token in (forged, access_token, tampered, "not-a-token"):
        response = await _run(client, BY_SLUG, {"slug": "forged"}, {"X-Preview-Token": token})
        assert _codes(response) == ["PREVIEW_TOKEN_INVALID"], token
    argument = await _run(client, BY_ARGUMENT, {"slug": "forged", "token": forged})
    assert _codes(argument) == ["PREVIEW_TOKEN_INVALID"]
    assert argument.json()["data"]["post"] is None


async def test_a_preview_token_is_not_an_access_token(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    author_id, headers = await _author(database, settings)
    draft = await create_post(database, author_id=author_id, slug="bearer", status=PostStatus.DRAFT)
    token = await _token(client, headers, draft)

    response = await _run(client, "{ me { username } }", {}, {"Authorization": f"Bearer {token}"})

    assert _codes(response) == ["UNAUTHENTICATED"]


async def test_publishing_or_deleting_the_post_ends_its_preview_tokens(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    author_id, headers = await _author(database, settings)
    published = await create_post(
        database, author_id=author_id, slug="pub", status=PostStatus.DRAFT
    )
    deleted = await create_post(database, author_id=author_id, slug="del", status=PostStatus.DRAFT)
    published_token = await _token(client, headers, published)
    deleted_token = await _token(client, headers, deleted)

    await _run(client, PUBLISH, {"id": _post_id(published)}, headers)
    await _run(
        client,
        "mutation U($id: ID!) { unpublishPost(id: $id) { post { status } } }",
        {"id": _post_id(published)},
        headers,
    )
    await _run(client, DELETE, {"id": _post_id(deleted)}, headers)
    after_publish = await _run(
        client, BY_SLUG, {"slug": "pub"}, {"X-Preview-Token": published_token}
    )
    after_delete = await _run(client, BY_SLUG, {"slug": "del"}, {"X-Preview-Token": deleted_token})

    assert _codes(after_publish) == ["PREVIEW_TOKEN_REVOKED"]
    assert _codes(after_delete) == ["PREVIEW_TOKEN_REVOKED"]


async def test_only_the_author_or_an_editor_mints_a_preview_token(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    author_id, _ = await _author(database, settings)
    _, other_author = await _author(database, settings)
    _, reader = await _author(database, settings, Role.READER)
    _, editor = await _author(database, settings, Role.EDITOR)
    draft = await create_post(database, author_id=author_id, slug="mine", status=PostStatus.DRAFT)
    variables = {"postId": _post_id(draft)}

    by_other = await _run(client, CREATE_TOKEN, variables, other_author)
    by_reader = await _run(client, CREATE_TOKEN, variables, reader)
    by_anonymous = await _run(client, CREATE_TOKEN, variables)
    by_editor = await _run(client, CREATE_TOKEN, variables, editor)

    assert _codes(by_other) == ["NOT_FOUND"]
    assert _codes(by_reader) == ["FORBIDDEN"]
    assert _codes(by_anonymous) == ["UNAUTHENTICATED"]
    assert by_editor.json()["data"]["createPreviewToken"]["token"]
    async with database.engine.connect() as connection:
        count = await connection.scalar(
            sa.select(sa.func.count()).select_from(preview_tokens_table)
        )
    assert count == 1


async def test_a_published_post_needs_no_preview_token(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    author_id, headers = await _author(database, settings)
    post = await create_post(database, author_id=author_id, status=PostStatus.PUBLISHED)

    response = await _run(client, CREATE_TOKEN, {"postId": _post_id(post)}, headers)

    payload = response.json()["data"]["createPreviewToken"]
    assert payload == {"token": None, "expiresAt": None, "errors": [{"code": "POST_PUBLISHED"}]}


async def test_a_websocket_with_a_preview_token_is_marked_without_touching_its_headers(
    client: httpx.AsyncClient, database: Database, settings: Settings, app: Any
) -> None:
    author_id, headers = await _author(database, settings)
    draft = await create_post(database, author_id=author_id, slug="ws", status=PostStatus.DRAFT)
    token = await _token(client, headers, draft)

    async def never(*_args: Any) -> Any:
        raise AssertionError("the context must not use the socket")

    socket = WebSocket({"type": "websocket", "path": "/graphql", "headers": []}, never, never)
    context = await build_context(
        settings=settings,
        database=database,
        passwords=create_passwords(settings),
        throttle=app.state.login_throttle,
        response=socket,
        preview_token=token,
    )

    assert context.preview is True
    assert context.credentials_error is None
    assert context.viewer.preview_post_id == draft
