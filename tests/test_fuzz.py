"""Property-based fuzzing: random valid queries and mutations from schema.graphql, sent through
the real app, must always get a well-formed GraphQL response and never an unexpected error.

hypothesis-graphql builds operations that pass schema validation, with random arguments. The
scalar strategies below lean towards values that reach real rows (global IDs of seeded rows,
their slugs and usernames, well-formed cursors, the posts' exact `updatedAt`) and mix in hostile
ones (huge and negative ids, malformed base64 and JSON in cursors, NaN sort keys, dates at the
ends of the calendar, dates without an offset, arbitrary Unicode). Each example runs on a
freshly seeded database, sent anonymously, by a reader, an author, an editor, an admin, a
deactivated user or with a bad token, so that write paths and refusals are both exercised.

Every response must be: HTTP status below 500; a JSON object with `data` and/or `errors` and
no other key than `extensions`; errors a non-empty list of objects with a string `message`;
no "Internal server error" / INTERNAL_SERVER_ERROR (a masked, unexpected exception); no
exception or driver text (tracebacks, sqlalchemy, sqlite3, asyncpg, psycopg) in a message;
nothing logged on `quire.errors` (the app's log of unexpected errors); every pooled connection
the request checked out back in the pool afterwards, and (PostgreSQL) none left inside a
transaction.

The fuzz runs on SQLite only (the PostgreSQL parameter is skipped) and is repeatable: examples
are derandomized and no example database is kept. It runs QUIRE_FUZZ_EXAMPLES examples per
operation kind (default 75: 150 in all, about 7 seconds). To search longer, or elsewhere:

    QUIRE_FUZZ_EXAMPLES=2000 .venv/bin/pytest tests/test_fuzz.py -k sqlite
    QUIRE_FUZZ_SEED=7 QUIRE_FUZZ_EXAMPLES=500 .venv/bin/pytest tests/test_fuzz.py -k sqlite
    QUIRE_FUZZ_POSTGRES=1 .venv/bin/pytest tests/test_fuzz.py -k postgresql

QUIRE_FUZZ_SEED turns derandomization off and seeds Hypothesis with that integer, to explore
other examples; QUIRE_FUZZ_POSTGRES=1 fuzzes the PostgreSQL parameter too. Add
`--hypothesis-show-statistics` to see what the examples reached (status and error codes).

Findings are pinned below as plain examples (test_fuzz_findings), on both databases, so that
they stay fixed whatever the fuzz happens to draw.
"""

import asyncio
import base64
import gc
import hashlib
import json
import logging
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta, timezone
from functools import cache
from typing import Any, TypeVar

import graphql
import httpx
import pytest
import sqlalchemy as sa
from argon2 import PasswordHasher
from hypothesis import HealthCheck, event, given, note, seed, settings
from hypothesis import strategies as st
from hypothesis.control import currently_in_test_context
from hypothesis_graphql import mutations, nodes, queries

from app import SCHEMA_FILE
from models.columns import utc_now
from models.database import Database, create_unpooled_engine
from models.tables import CommentStatus, PostStatus, Role, refresh_tokens_table
from resolvers.cursors import encode_cursor
from resolvers.tokens import issue_access_token
from tests.conftest import empty_tables
from tests.factories import create_comment, create_post, create_tag, create_user, tag_post

EXAMPLES = int(os.environ.get("QUIRE_FUZZ_EXAMPLES", "75"))
SEED = os.environ.get("QUIRE_FUZZ_SEED")
FUZZ_POSTGRES = os.environ.get("QUIRE_FUZZ_POSTGRES") == "1"

SCHEMA = SCHEMA_FILE.read_text()
PASSWORD = "correct horse battery"
REFRESH_TOKEN = "fuzz-refresh-token-0123456789"
# The seeded posts' updatedAt: an edit that sends it back is not stale, so updatePost writes.
UPDATED_AT = datetime(2025, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
USERNAMES = ("fuzz_admin", "fuzz_editor", "fuzz_author", "fuzz_reader", "fuzz_writer", "fuzz_gone")
SLUGS = ("fuzzing-graphql", "a-draft", "scheduled", "archived", "editors-note")
# ASCII names: tests/factories.create_tag derives slugs more simply than the app's slugify, and
# the two must agree. A tag "Ünïcode" seeded with the slug "ünïcode" is one the app could never
# have written, and createPost(tags: ["Ünïcode"]) would then collide on its name.
TAGS = ("Python", "Data Bases", "GraphQL")
# Seeded rows have ids 1..6 in every table: the reset restarts them (DELETE on SQLite, whose
# tables have no AUTOINCREMENT; TRUNCATE ... RESTART IDENTITY on PostgreSQL).
ROW_IDS = st.integers(min_value=1, max_value=7)
NODE_TYPES = ("Post", "Author", "Comment", "Tag")
# Messages that would betray an exception's or a driver's text.
INTERNAL_MARKERS = ("traceback", "sqlalchemy", "asyncpg", "sqlite3", "psycopg", 'file "')

# Who sends the operation; editors and admins are drawn most so that write paths are reached.
VIEWERS = (
    "anonymous",
    "reader",
    "author",
    "editor",
    "editor",
    "admin",
    "admin",
    "deactivated",
    "bad-token",
)
ROLE_OF_VIEWER = {
    "reader": ("fuzz_reader", Role.READER),
    "author": ("fuzz_author", Role.AUTHOR),
    "editor": ("fuzz_editor", Role.EDITOR),
    "admin": ("fuzz_admin", Role.ADMIN),
    "deactivated": ("fuzz_gone", Role.AUTHOR),
}


def _global_id(type_name: str, node_id: object) -> str:
    return base64.b64encode(f"{type_name}:{node_id}".encode()).decode()


def _raw_cursor(tag: str, value: object, row_id: object) -> str:
    payload = json.dumps([tag, value, row_id], separators=(",", ":"))
    return base64.urlsafe_b64encode(payload.encode()).decode().rstrip("=")


# Integers at the edges of the database's integer columns, and beyond.
EDGE_INTEGERS = st.sampled_from((0, -1, 2**31 - 1, 2**31, 2**63 - 1, 2**63, -(2**63) - 1))
ANY_INTEGER = st.one_of(EDGE_INTEGERS, st.integers())
DATETIMES = st.datetimes(
    timezones=st.sampled_from([UTC, timezone(timedelta(hours=14)), timezone(-timedelta(hours=12))])
)
DATETIME_TEXT = st.one_of(
    st.just(UPDATED_AT.isoformat()),
    st.just(UPDATED_AT.isoformat().replace("+00:00", "Z")),
    DATETIMES.map(datetime.isoformat),
    st.sampled_from(
        (
            "0001-01-01T00:00:00+14:00",  # before datetime.min once in UTC
            "9999-12-31T23:59:59-12:00",  # after datetime.max once in UTC
            "2025-01-02T03:04:05",  # no offset
        )
    ),
    st.datetimes().map(datetime.isoformat),  # no offset
    st.text(max_size=30),
)
ID_TEXT = st.one_of(
    st.builds(_global_id, st.sampled_from(NODE_TYPES), ROW_IDS),
    st.builds(
        _global_id,
        st.sampled_from((*NODE_TYPES, "User", "Node", "")),
        st.one_of(ANY_INTEGER, st.text(max_size=10)),
    ),
    st.text(max_size=20),
)
SORT_TAGS = ("published", "title", "comments", "rank", "username", "name", "created", "nope")
CURSORS = st.one_of(
    st.builds(
        encode_cursor,
        st.sampled_from(SORT_TAGS),
        st.tuples(st.one_of(DATETIMES, st.text(max_size=10), st.integers(0, 9)), ROW_IDS),
    ),
    st.builds(
        _raw_cursor,
        st.sampled_from(SORT_TAGS),
        st.one_of(
            st.none(),
            st.booleans(),
            ANY_INTEGER,
            st.floats(),  # NaN and infinities too: json.loads accepts them
            st.text(max_size=10),
            DATETIME_TEXT,
        ),
        st.one_of(ROW_IDS, ANY_INTEGER, st.floats(), st.text(max_size=3)),
    ),
)
STRINGS = st.one_of(
    st.sampled_from(
        (
            *USERNAMES,
            *(f"{name}@example.com" for name in USERNAMES),
            *SLUGS,
            *TAGS,
            "python",
            "data-bases",
            "graphql",
            PASSWORD,
            REFRESH_TOKEN,
            "https://example.com/avatar.png",
            "",
        )
    ),
    CURSORS,
    st.text(),
)
CUSTOM_SCALARS: dict[str, st.SearchStrategy[graphql.ValueNode]] = {
    "ID": ID_TEXT.map(nodes.String),
    "String": STRINGS.map(nodes.String),
    # Page sizes: mostly small (real pages under the cost limit), sometimes anything.
    "Int": st.one_of(st.integers(0, 3), st.integers(-(2**31), 2**31 - 1)).map(nodes.Int),
    "DateTime": DATETIME_TEXT.map(nodes.String),
}


def _operations(kind: str) -> st.SearchStrategy[str]:
    """Operations selecting any root fields, or one only. An error in a non-null root field
    nulls the whole `data`, so one-field operations reach successful resolvers (and writes)
    far more often; several fields reach the interplay of concurrent resolvers."""
    build = queries if kind == "query" else mutations
    parsed = graphql.build_schema(SCHEMA)
    root = parsed.query_type if kind == "query" else parsed.mutation_type
    assert root is not None
    return st.one_of(
        build(SCHEMA, custom_scalars=CUSTOM_SCALARS),
        st.one_of(
            *(build(SCHEMA, fields=[name], custom_scalars=CUSTOM_SCALARS) for name in root.fields)
        ),
    )


OPERATIONS = {kind: _operations(kind) for kind in ("query", "mutation")}


class _TamePages(graphql.Visitor):
    def enter_argument(self, node: graphql.ArgumentNode, *_args: Any) -> Any:
        if node.name.value in ("after", "before", "last"):
            return graphql.REMOVE
        if node.name.value == "first":
            return graphql.ArgumentNode(name=node.name, value=graphql.IntValueNode(value="2"))
        return None


def _tame_pages(document: str) -> str:
    """The operation with plain page arguments (`first: 2`, no cursors, no `last`): random ones
    are mostly refused (bad cursors, sizes out of range, first and last together), and so are
    their whole operations, when the connections beneath should also run on real rows."""
    return graphql.print_ast(graphql.visit(graphql.parse(document), _TamePages()))


@cache
def _password_hash() -> str:
    # The test settings' argon2 parameters (tests/conftest.py), so no log-in rehashes.
    return PasswordHasher(time_cost=1, memory_cost=8, parallelism=1).hash(PASSWORD)


async def _reset(database: Database) -> None:
    """What the `database` fixture does, once per example."""
    await empty_tables(database)


async def _seed(database: Database) -> dict[str, int]:
    """Users of every role, posts in every state, tags, a comment thread, a refresh token."""
    roles = (Role.ADMIN, Role.EDITOR, Role.AUTHOR, Role.READER, Role.AUTHOR, Role.AUTHOR)
    users = {
        name: await create_user(
            database,
            username=name,
            role=role,
            password_hash=_password_hash(),
            is_active=name != "fuzz_gone",
        )
        for name, role in zip(USERNAMES, roles, strict=True)
    }
    author, writer, editor = users["fuzz_author"], users["fuzz_writer"], users["fuzz_editor"]
    now = utc_now()
    posts = [
        await create_post(
            database,
            author_id=author_id,
            title=slug.replace("-", " ").title(),
            slug=slug,
            body=f"# {slug}\n\nSome *words* in a body, [a link](https://example.com).",
            status=status,
            published_at=published_at,
            updated_at=UPDATED_AT,
        )
        for author_id, slug, status, published_at in (
            (author, "fuzzing-graphql", PostStatus.PUBLISHED, UPDATED_AT - timedelta(days=1)),
            (author, "a-draft", PostStatus.DRAFT, None),
            (author, "scheduled", PostStatus.PUBLISHED, now + timedelta(days=1)),
            (writer, "archived", PostStatus.ARCHIVED, UPDATED_AT - timedelta(days=2)),
            (editor, "editors-note", PostStatus.PUBLISHED, UPDATED_AT - timedelta(days=3)),
        )
    ]
    tags = [await create_tag(database, name=name) for name in TAGS]
    for post_id, tag_id in ((posts[0], tags[0]), (posts[0], tags[1]), (posts[4], tags[2])):
        await tag_post(database, post_id=post_id, tag_id=tag_id)
    reader, admin = users["fuzz_reader"], users["fuzz_admin"]
    top = await create_comment(database, post_id=posts[0], author_id=reader, body="First!")
    for author_id, parent_id, status in (
        (author, top, CommentStatus.APPROVED),
        (reader, None, CommentStatus.PENDING),
        (writer, None, CommentStatus.REJECTED),
        (admin, top, CommentStatus.APPROVED),
    ):
        await create_comment(
            database, post_id=posts[0], author_id=author_id, parent_id=parent_id, status=status
        )
    await create_comment(database, post_id=posts[4], author_id=reader)
    async with database.engine.begin() as connection:
        await connection.execute(
            sa.insert(refresh_tokens_table),
            {
                "user_id": reader,
                "family_id": "fuzz-family",
                "token_hash": hashlib.sha256(REFRESH_TOKEN.encode()).hexdigest(),
                "created_at": now,
                "expires_at": now + timedelta(days=1),
            },
        )
    return users


async def _fresh_data(app: Any, database: Database) -> dict[str, int]:
    if not database.is_sqlite:
        # A connection a previous example left inside a transaction holds its locks, and the
        # TRUNCATE below would wait for it forever: start from new connections.
        await database.engine.dispose()
    await _reset(database)
    await app.state.login_throttle.clear()
    if app.state.rate_limiter is not None:
        await app.state.rate_limiter.storage.reset()
    return await _seed(database)


def _headers(app: Any, viewer: str, users: dict[str, int]) -> dict[str, str]:
    if viewer == "anonymous":
        return {}
    if viewer == "bad-token":
        return {"Authorization": "Bearer not.a.token"}
    username, role = ROLE_OF_VIEWER[viewer]
    token, _ = issue_access_token(app.state.settings, user_id=users[username], role=role)
    return {"Authorization": f"Bearer {token}"}


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@contextmanager
def _errors_logged() -> Iterator[list[logging.LogRecord]]:
    """What the app logs as unexpected errors (QuireSchema.process_errors in schema/root.py)."""
    handler = _Records()
    logger = logging.getLogger("quire.errors")
    logger.addHandler(handler)
    try:
        yield handler.records
    finally:
        logger.removeHandler(handler)


def _checked_out(database: Database) -> int:
    pool: Any = database.engine.pool
    return int(pool.checkedout())


async def _settled(condition: Callable[[], Any]) -> bool:
    """Work a request leaves behind (a dataloader batch whose caller was cancelled) may finish
    just after the response: give it a moment."""
    for _ in range(50):
        if await condition():
            return True
        await asyncio.sleep(0.005)
    return False


async def _open_transactions(database: Database, url: str) -> int:
    """PostgreSQL backends of this database inside a transaction, seen from a connection of
    its own (a pooled one might be the stuck one). SQLite: nothing to ask."""
    if database.is_sqlite:
        return 0
    engine = create_unpooled_engine(url)
    try:
        async with engine.connect() as connection:
            count = await connection.scalar(
                sa.text(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                    " AND pid <> pg_backend_pid() AND xact_start IS NOT NULL"
                )
            )
    finally:
        await engine.dispose()
    return int(count or 0)


def _event(value: str) -> None:
    """A statistic for --hypothesis-show-statistics, when Hypothesis runs the test."""
    if currently_in_test_context():
        event(value)


def _check_response(response: httpx.Response, document: str) -> None:
    """A well-formed GraphQL response with no sign of an unexpected error."""
    assert response.status_code < 500, f"HTTP {response.status_code}: {response.text}"
    try:
        body = response.json()
    except ValueError as not_json:
        raise AssertionError(f"not JSON: {response.text[:500]!r}") from not_json
    assert isinstance(body, dict), f"not a JSON object: {body!r}"
    assert body.keys() & {"data", "errors"}, f"neither data nor errors: {body!r}"
    assert body.keys() <= {"data", "errors", "extensions"}, f"unexpected keys: {body.keys()}"
    assert body.get("data") is None or isinstance(body["data"], dict), body
    if "errors" not in body:
        return
    errors = body["errors"]
    assert isinstance(errors, list), f"errors is not a list: {errors!r}"
    assert errors, "errors is an empty list"
    sent = document.lower()
    for error in errors:
        assert isinstance(error, dict), f"an error is not an object: {error!r}"
        message = error.get("message")
        assert isinstance(message, str), f"an error without a string message: {error!r}"
        extensions = error.get("extensions") or {}
        assert isinstance(extensions, dict), error
        assert message != "Internal server error", f"unexpected error: {error!r}"
        assert extensions.get("code") != "INTERNAL_SERVER_ERROR", f"unexpected error: {error!r}"
        # A message may quote the client's own input ("'...' is not a Post ID."), which can be
        # anything: a marker only counts when the operation itself did not contain it.
        leaked = [m for m in INTERNAL_MARKERS if m in message.lower() and m not in sent]
        assert not leaked, f"internal text {leaked} in {error!r}"
        _event(f"error code: {extensions.get('code')}")


async def _send_and_check(
    app: Any, client: httpx.AsyncClient, document: str, headers: dict[str, str]
) -> None:
    await _check_request(
        app, client.post("/graphql", json={"query": document}, headers=headers), document
    )


async def _check_request(
    app: Any, request: Awaitable[httpx.Response], document: str
) -> httpx.Response:
    """Sends the request and checks its response and what it left behind."""
    database: Database = app.state.database
    url: str = app.state.settings.database_url
    baseline = _checked_out(database)
    with _errors_logged() as logged:
        response = await request
    if currently_in_test_context():
        note(f"HTTP {response.status_code}: {response.text[:2000]}")
    _event(f"HTTP {response.status_code}")
    _check_response(response, document)
    assert not logged, f"logged as unexpected: {[r.getMessage() for r in logged]}"

    async def returned() -> bool:
        return _checked_out(database) <= baseline

    async def no_open_transaction() -> bool:
        return await _open_transactions(database, url) == 0

    assert await _settled(returned), "a pooled connection was not returned to the pool"
    assert await _settled(no_open_transaction), "a connection was left inside a transaction"
    return response


@pytest.fixture(autouse=True)
async def _contain_leaks(app: Any) -> AsyncIterator[None]:
    """What a failing example strands must not fail or block the tests that run next: collect
    stranded SQLite connections now (their SAWarning then fails this test, not a later one),
    and close PostgreSQL connections that may sit inside a transaction, holding locks that
    the next test's TRUNCATE would wait for."""
    yield
    gc.collect()
    database: Database = app.state.database
    if not database.is_sqlite:
        await database.engine.dispose()


@pytest.fixture
def fuzz_backend(request: pytest.FixtureRequest) -> None:
    """Skip the PostgreSQL parameter (unless QUIRE_FUZZ_POSTGRES=1) before its database is
    even emptied."""
    if request.node.callspec.params.get("database_url") != "sqlite" and not FUZZ_POSTGRES:
        pytest.skip("the fuzz runs on SQLite; QUIRE_FUZZ_POSTGRES=1 runs it on PostgreSQL too")


T = TypeVar("T", bound=Callable[..., Any])


def _fuzz_settings(test: T) -> T:
    decorated: T = settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        derandomize=SEED is None,
        # The fixtures (app, database, client) are shared by the examples on purpose: each
        # example empties and seeds the database itself.
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )(test)
    return seed(int(SEED))(decorated) if SEED is not None else decorated


@pytest.mark.usefixtures("fuzz_backend")
@pytest.mark.parametrize("kind", ["query", "mutation"])
@_fuzz_settings
@given(data=st.data(), viewer=st.sampled_from(VIEWERS))
async def test_random_operations_get_well_formed_responses(
    kind: str,
    data: st.DataObject,
    viewer: str,
    app: Any,
    database: Database,
    client: httpx.AsyncClient,
) -> None:
    document = data.draw(OPERATIONS[kind], label="document")
    if data.draw(st.booleans(), label="plain page arguments"):
        document = _tame_pages(document)
    note(f"{viewer}:\n{document}")
    users = await _fresh_data(app, database)

    await _send_and_check(app, client, document, _headers(app, viewer, users))


def _subscriptions() -> st.SearchStrategy[str]:
    """Subscription operations: hypothesis-graphql builds queries only, so build them as
    queries of a schema whose query type is the Subscription type, then name the operation."""
    parsed = graphql.build_schema(SCHEMA)
    assert parsed.subscription_type is not None
    as_query = graphql.GraphQLSchema(
        query=parsed.subscription_type, types=list(parsed.type_map.values())
    )
    return queries(as_query, custom_scalars=CUSTOM_SCALARS).map(_as_subscription)


def _as_subscription(document: str) -> str:
    body = document.removeprefix("query").lstrip()
    return f"subscription {body}"


SUBSCRIPTIONS = _subscriptions()


@pytest.mark.usefixtures("fuzz_backend")
@_fuzz_settings
@given(data=st.data(), viewer=st.sampled_from(VIEWERS), method=st.sampled_from(["GET", "POST"]))
async def test_subscriptions_over_http_are_refused_cleanly(
    data: st.DataObject,
    viewer: str,
    method: str,
    app: Any,
    database: Database,
    client: httpx.AsyncClient,
) -> None:
    """Subscriptions stream over the WebSocket only: over HTTP every one is refused with a
    coded error, never an internal error or a hanging request."""
    document = data.draw(SUBSCRIPTIONS, label="document")
    note(f"{viewer} {method}:\n{document}")
    users = await _fresh_data(app, database)
    headers = _headers(app, viewer, users)
    request = (
        client.get("/graphql", params={"query": document}, headers=headers)
        if method == "GET"
        else client.post("/graphql", json={"query": document}, headers=headers)
    )

    response = await _check_request(app, request, document)

    assert response.json().get("data") is None, response.text
    assert all(e.get("extensions", {}).get("code") for e in response.json()["errors"])


# Operations whose variables carry every input type of the schema; the fuzz sends them hostile
# values (any JSON, deeply nested, huge, wrongly typed) that only validation may stop.
VARIABLE_OPERATIONS = (
    ("anonymous", "query ($q: String!) { search(query: $q) { totalCount } }"),
    (
        "anonymous",
        "query ($f: PostFilter, $o: PostOrder, $n: Int, $a: String, $b: String) {"
        " posts(filter: $f, orderBy: $o, first: $n, after: $a, before: $b) { totalCount } }",
    ),
    ("anonymous", "query ($ids: [ID!]!) { nodes(ids: $ids) { id } }"),
    ("anonymous", "query ($id: ID, $slug: String) { post(id: $id, slug: $slug) { title } }"),
    ("anonymous", "mutation ($input: SignUpInput!) { signUp(input: $input) { errors { code } } }"),
    (
        "author",
        "mutation ($input: CreatePostInput!) { createPost(input: $input) { errors { code } } }",
    ),
    (
        "author",
        "mutation ($input: UpdatePostInput!) { updatePost(input: $input) { errors { code } } }",
    ),
    (
        "reader",
        "mutation ($input: AddCommentInput!) { addComment(input: $input) { errors { code } } }",
    ),
)


def _nested(depth: int, leaf: str) -> str:
    """JSON text nested `depth` deep in lists and objects (built as text: encoders recurse)."""
    opening = "".join('{"a":' if level % 2 else "[" for level in range(depth))
    closing = "".join("}" if level % 2 else "]" for level in reversed(range(depth)))
    return f"{opening}{leaf}{closing}"


JSON_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    ANY_INTEGER,
    st.floats(allow_nan=False, allow_infinity=False),
    STRINGS,
    st.integers(0, 200_000).map(lambda size: "word " * size),
)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda children: st.one_of(
        st.lists(children, max_size=5),
        st.dictionaries(
            st.sampled_from(
                ("title", "body", "tags", "id", "postId", "field", "status", "username", "x")
            ),
            children,
            max_size=5,
        ),
    ),
    max_leaves=20,
)
HOSTILE_VARIABLE_TEXT = st.one_of(
    JSON_VALUES.map(lambda value: json.dumps(value)),
    st.builds(_nested, st.integers(1, 1000), st.sampled_from(('"x"', "1", "null", "[]"))),
)


@pytest.mark.usefixtures("fuzz_backend")
@_fuzz_settings
@given(
    data=st.data(),
    operation=st.sampled_from(VARIABLE_OPERATIONS),
    method=st.sampled_from(["GET", "POST"]),
)
async def test_hostile_variables_get_well_formed_responses(
    data: st.DataObject,
    operation: tuple[str, str],
    method: str,
    app: Any,
    database: Database,
    client: httpx.AsyncClient,
) -> None:
    viewer, document = operation
    names = [definition.variable.name.value for definition in _variable_definitions(document)]
    values = {name: data.draw(HOSTILE_VARIABLE_TEXT, label=name) for name in names}
    variables = "{" + ",".join(f"{json.dumps(n)}:{v}" for n, v in values.items()) + "}"
    note(f"{viewer} {method}: {document}\nvariables: {variables[:2000]}")
    users = await _fresh_data(app, database)
    headers = _headers(app, viewer, users)
    if document.startswith("mutation") or len(variables) > 60_000:
        # GET never runs a mutation (405), and httpx refuses URLs past 64 KB.
        method = "POST"
    request = (
        client.get("/graphql", params={"query": document, "variables": variables}, headers=headers)
        if method == "GET"
        else client.post(
            "/graphql",
            content=f'{{"query":{json.dumps(document)},"variables":{variables}}}',
            headers={**headers, "content-type": "application/json"},
        )
    )

    await _check_request(app, request, document)


def _variable_definitions(document: str) -> tuple[graphql.VariableDefinitionNode, ...]:
    operation = graphql.parse(document).definitions[0]
    assert isinstance(operation, graphql.OperationDefinitionNode)
    return tuple(operation.variable_definitions or ())


def _fill(document: str, value: str) -> str:
    return document.replace("$1", value)


# What the fuzz found, shrunk by hand to one field each: (viewer, document).
FINDINGS = {
    # A sibling field's error cancels the posts resolver mid-checkout (SQLite: while the
    # reader engine sets AUTOCOMMIT on the connection), stranding a pooled connection.
    "cancelled-read-strands-a-connection": (
        "anonymous",
        '{ posts { totalCount } nodes(ids: ["x"]) { id } }',
    ),
    "cancelled-me-strands-a-connection": (
        "admin",
        '{ me { bio } node(id: "UG9zdDoy") { id } nodes(ids: ["x"]) { id } }',
    ),
    # Global ids beyond the id column (int64 on SQLite, int32 on PostgreSQL).
    "node-id-overflow": (
        "anonymous",
        _fill('{ node(id: "$1") { id } }', _global_id("Post", 2**63)),
    ),
    "user-id-overflow": (
        "admin",
        _fill('{ user(id: "$1") { id } }', _global_id("Author", 2**63)),
    ),
    "cursor-row-id-overflow": (
        "anonymous",
        _fill(
            '{ posts(after: "$1") { nodes { slug } } }',
            _raw_cursor("published", "2025-01-01T00:00:00+00:00", 2**63),
        ),
    ),
    "cursor-sort-value-overflow": (
        "anonymous",
        _fill(
            '{ posts(orderBy: {field: COMMENT_COUNT}, after: "$1") { nodes { slug } } }',
            _raw_cursor("comments", 2**63, 1),
        ),
    ),
    # DateTime inputs without an offset reach UTCDateTime, which refuses naive values.
    "filter-datetime-without-offset": (
        "anonymous",
        '{ posts(filter: {publishedBefore: "2030-01-02T03:04:05"}) { totalCount } }',
    ),
    "update-post-datetime-without-offset": (
        "admin",
        'mutation { updatePost(input: {id: "UG9zdDox", updatedAt: "2025-01-02T03:04:05"})'
        " { errors { code } } }",
    ),
    "publish-post-datetime-without-offset": (
        "admin",
        'mutation { publishPost(id: "UG9zdDoy", publishedAt: "2030-01-02T03:04:05")'
        " { errors { code } } }",
    ),
    # DateTime inputs that overflow once converted to UTC (or PostgreSQL's range).
    "filter-datetime-out-of-range": (
        "anonymous",
        '{ posts(filter: {publishedBefore: "0001-01-01T00:00:00+14:00"}) { totalCount } }',
    ),
    "cursor-datetime-out-of-range": (
        "anonymous",
        _fill(
            '{ posts(after: "$1") { nodes { slug } } }',
            _raw_cursor("published", "9999-12-31T23:59:59-12:00", 1),
        ),
    ),
    "publish-post-datetime-out-of-range": (
        "admin",
        'mutation { publishPost(id: "UG9zdDoy", publishedAt: "9999-12-31T23:59:59-12:00")'
        " { errors { code } } }",
    ),
    # U+0000 in a string argument: PostgreSQL text cannot hold it.
    "nul-in-slug": ("anonymous", '{ post(slug: "a\\u0000") { id } }'),
    "nul-in-search": ("anonymous", '{ search(query: "a\\u0000b") { totalCount } }'),
    "nul-in-cursor": (
        "anonymous",
        _fill(
            '{ posts(orderBy: {field: TITLE}, after: "$1") { nodes { slug } } }',
            _raw_cursor("title", "a\x00b", 1),
        ),
    ),
    "nul-in-post-title": (
        "author",
        'mutation { createPost(input: {title: "a\\u0000b", body: "x"}) { errors { code } } }',
    ),
}


@pytest.mark.parametrize(("viewer", "document"), FINDINGS.values(), ids=FINDINGS.keys())
async def test_fuzz_findings(
    viewer: str, document: str, app: Any, database: Database, client: httpx.AsyncClient
) -> None:
    users = await _fresh_data(app, database)

    await _send_and_check(app, client, document, _headers(app, viewer, users))


SEARCH_BY_VARIABLE = "query ($q: String!) { search(query: $q) { totalCount } }"
# What the variables fuzz found: values that do not fit a variable's type were masked as
# internal errors (graphql-core wraps their coercion error in another GraphQLError).
VARIABLE_FINDINGS = {
    "null-for-a-non-null-string": "null",
    "list-for-a-string": '["x"]',
    "object-for-a-string": '{"a": 1}',
    "nested-330-deep": _nested(330, '"x"'),
}


@pytest.mark.parametrize("variable", VARIABLE_FINDINGS.values(), ids=VARIABLE_FINDINGS.keys())
async def test_variable_findings(
    variable: str, app: Any, database: Database, client: httpx.AsyncClient
) -> None:
    body = f'{{"query":{json.dumps(SEARCH_BY_VARIABLE)},"variables":{{"q":{variable}}}}}'
    request = client.post("/graphql", content=body, headers={"content-type": "application/json"})

    response = await _check_request(app, request, SEARCH_BY_VARIABLE)

    assert response.json()["data"] is None
    assert [e["extensions"]["code"] for e in response.json()["errors"]] == ["BAD_USER_INPUT"]
