"""Two uvicorn processes on different ports, one PostgreSQL database and one Redis: a comment
added through instance A reaches a subscriber connected to instance B, and logging out
everywhere through A closes the user's socket on B; with Redis stopped, both keep serving
queries and report degraded but ready on /readyz (200: an orchestrator must not take every
instance out because their shared Redis is down).

Redis here is a private redis-server started by the test (so that it can be stopped without
disturbing anything else); PostgreSQL is a fresh database, as in conftest."""

import os
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack

import httpx
import pytest
import sqlalchemy as sa

from models.database import create_database
from models.tables import Role
from resolvers.tokens import issue_access_token
from settings import Settings
from tests.conftest import POSTGRES_ADMIN_DSN, _postgres, _run
from tests.factories import create_post, create_user
from tests.live import free_port, require, running_quire
from tests.test_subscriptions import ADD_COMMENT, COMMENT_ADDED, global_id
from tests.wsclient import graphql_socket


@pytest.fixture(scope="module")
def redis_server(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[str, "subprocess.Popen[bytes]"]]:
    binary = shutil.which("redis-server")
    require(binary is not None, "redis-server is not installed")
    assert binary is not None
    port = free_port()
    directory = tmp_path_factory.mktemp("redis")
    process = subprocess.Popen(  # noqa: S603 - the system's redis-server, fixed arguments
        [
            binary,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(directory),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                break
        except OSError:
            time.sleep(0.1)
    yield f"redis://127.0.0.1:{port}/0", process
    if process.poll() is None:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    name = f"quire_two_{uuid.uuid4().hex[:10]}"
    try:
        _run(_postgres(f'CREATE DATABASE "{name}"'))
    except OSError as error:
        require(False, f"PostgreSQL unreachable: {error}")
    admin = sa.engine.make_url(POSTGRES_ADMIN_DSN)
    url = admin.set(drivername="postgresql+asyncpg", database=name).render_as_string(
        hide_password=False
    )
    try:
        yield url
    finally:
        _run(_postgres(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="module")
def instances(
    tmp_path_factory: pytest.TempPathFactory,
    postgres_url: str,
    redis_server: tuple[str, "subprocess.Popen[bytes]"],
) -> Iterator[tuple[str, str]]:
    env = {
        **os.environ,
        "DATABASE_URL": postgres_url,
        "REDIS_URL": redis_server[0],
        "QUIRE_REDIS_KEY_PREFIX": f"quire-two-{uuid.uuid4().hex[:8]}",
        "QUIRE_REDIS_TIMEOUT_SECONDS": "0.5",
    }
    with ExitStack() as stack:
        first = stack.enter_context(running_quire(env, tmp_path_factory.mktemp("a")))
        second = stack.enter_context(running_quire(env, tmp_path_factory.mktemp("b")))
        yield first, second


@pytest.fixture(scope="module")
async def scene(postgres_url: str, instances: tuple[str, str]) -> dict[str, str]:
    settings = Settings(database_url=postgres_url, _env_file=None)
    database = create_database(settings)
    author = await create_user(database, role=Role.AUTHOR)
    post = await create_post(database, author_id=author, title="Across instances")
    await database.dispose()
    token, _ = issue_access_token(settings, user_id=author, role=Role.AUTHOR)
    return {"post": global_id("Post", post), "token": token}


async def test_a_comment_through_a_reaches_a_subscriber_on_b(
    instances: tuple[str, str], scene: dict[str, str]
) -> None:
    first, second = instances
    async with graphql_socket(second.replace("http://", "ws://") + "/graphql") as subscriber:
        await subscriber.subscribe("1", COMMENT_ADDED, {"post": scene["post"]})
        started = time.monotonic()
        async with httpx.AsyncClient(base_url=first, trust_env=False) as http:
            response = await http.post(
                "/graphql",
                json={"query": ADD_COMMENT, "variables": {"post": scene["post"], "body": "Hi B"}},
                headers={"authorization": f"Bearer {scene['token']}"},
            )
        assert response.json()["data"]["addComment"]["comment"]["status"] == "APPROVED"
        data = await subscriber.next_data("1", seconds=5)
        elapsed = time.monotonic() - started

    assert data["data"]["commentAdded"]["body"] == "Hi B"
    assert data["data"]["commentAdded"]["post"] == {"title": "Across instances"}
    assert elapsed < 5


LOG_OUT_EVERYWHERE = "mutation { logOutEverywhere }"
POST_PUBLISHED = "subscription { postPublished { title } }"


async def test_log_out_everywhere_through_a_closes_the_users_socket_on_b(
    postgres_url: str, instances: tuple[str, str]
) -> None:
    settings = Settings(database_url=postgres_url, _env_file=None)
    database = create_database(settings)
    reader = await create_user(database, role=Role.READER)
    await database.dispose()
    token, _ = issue_access_token(settings, user_id=reader, role=Role.READER)
    bearer = {"authorization": f"Bearer {token}"}
    first, second = instances
    async with graphql_socket(
        second.replace("http://", "ws://") + "/graphql", payload=bearer
    ) as subscriber:
        await subscriber.subscribe("1", POST_PUBLISHED)
        async with httpx.AsyncClient(base_url=first, trust_env=False) as http:
            ended = await http.post("/graphql", json={"query": LOG_OUT_EVERYWHERE}, headers=bearer)
        closed = await subscriber.closed()

    assert ended.json()["data"] == {"logOutEverywhere": 0}
    assert closed == (4403, "Credentials changed: sign in again.")


async def test_without_redis_both_keep_serving_and_stay_ready_degraded(
    instances: tuple[str, str],
    scene: dict[str, str],
    redis_server: tuple[str, "subprocess.Popen[bytes]"],
) -> None:
    _url, process = redis_server
    process.terminate()
    process.wait(timeout=10)

    for base_url in instances:
        async with httpx.AsyncClient(base_url=base_url, trust_env=False, timeout=10) as http:
            query = await http.post("/graphql", json={"query": "{ posts { totalCount } }"})
            ready = await http.get("/readyz")
            alive = await http.get("/healthz")
        assert query.status_code == 200
        assert query.json()["data"] == {"posts": {"totalCount": 1}}
        assert ready.status_code == 200
        assert ready.json()["status"] == "degraded"
        assert ready.json()["checks"]["redis"]["ok"] is False
        assert ready.json()["checks"]["database"]["ok"] is True
        assert alive.status_code == 200
