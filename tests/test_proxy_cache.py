"""The compose deployment's nginx (deploy/nginx.conf) caches public reads as Quire's headers
say: run here with the system's nginx in front of a real Quire, the upstream and the paths
pointed at this test's own."""

import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from tests.live import REPO, free_port, require, running_quire

NGINX_CONF = REPO / "deploy" / "nginx.conf"
AUTHOR = "query Author($username: String!) { author(username: $username) { displayName } }"
ME = "query Me { me { username } }"
SIGN_UP = "mutation($input: SignUpInput!) { signUp(input: $input) { errors { message } } }"
MAX_AGE = 2


def _site(conf: str, *, upstream: str, port: int, directory: Path) -> str:
    """deploy/nginx.conf with this test's upstream, port and paths instead of compose's."""
    conf = "\n".join(line for line in conf.splitlines() if not line.startswith("resolver"))
    replacements = {
        "set $quire_api http://api:8000;": f"set $quire_api {upstream};",
        "listen 8000;": f"listen 127.0.0.1:{port};",
        "/var/cache/nginx/quire": str(directory / "cache"),
        "/var/log/nginx/access.log": str(directory / "access.log"),
    }
    for old, new in replacements.items():
        assert old in conf, old
        conf = conf.replace(old, new)
    return conf


def _nginx() -> str | None:
    found = shutil.which("nginx")
    return found or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)


@contextmanager
def nginx_in_front_of(upstream: str) -> Iterator[str]:
    binary = _nginx()
    require(binary is not None, "nginx is not installed (apt-get install nginx-light)")
    assert binary is not None
    # nginx's workers drop to an unprivileged user when started as root: their directory must
    # be reachable by it (pytest's temporary directories are private to the test's user).
    directory = Path(tempfile.mkdtemp(prefix="quire-nginx-"))
    directory.chmod(0o755)
    try:
        with _nginx_process(binary, upstream, directory) as url:
            yield url
    finally:
        shutil.rmtree(directory, ignore_errors=True)


@contextmanager
def _nginx_process(binary: str, upstream: str, directory: Path) -> Iterator[str]:
    port = free_port()
    site = directory / "quire.conf"
    site.write_text(
        _site(NGINX_CONF.read_text(), upstream=upstream, port=port, directory=directory)
    )
    temp = directory / "temp"
    temp.mkdir()
    temp.chmod(0o777)
    main = directory / "nginx.conf"
    main.write_text(
        f"daemon off;\nworker_processes 1;\npid {directory}/nginx.pid;\n"
        f"error_log {directory}/error.log warn;\nevents {{}}\nhttp {{\n"
        f"  client_body_temp_path {temp}/body;\n  proxy_temp_path {temp}/proxy;\n"
        f"  fastcgi_temp_path {temp}/fastcgi;\n  uwsgi_temp_path {temp}/uwsgi;\n"
        f"  scgi_temp_path {temp}/scgi;\n  include {site};\n}}\n"
    )
    process = subprocess.Popen(  # noqa: S603 - the system's nginx, a generated config
        [binary, "-c", str(main), "-p", str(directory)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            if process.poll() is not None:
                pytest.fail(f"nginx exited: {(directory / 'error.log').read_text()}")
            try:
                httpx.get(f"{url}/healthz", timeout=1, trust_env=False)
                break
            except httpx.TransportError:
                time.sleep(0.05)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture(scope="module")
def proxied(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """(nginx's URL, Quire's own URL)."""
    directory = tmp_path_factory.mktemp("proxy")
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite+aiosqlite:///{directory / 'quire.db'}",
        "QUIRE_CACHE_MAX_AGE_SECONDS": str(MAX_AGE),
        "QUIRE_GC_FREEZE": "false",
        "QUIRE_ARGON2_TIME_COST": "1",
        "QUIRE_ARGON2_MEMORY_COST_KIB": "8",
        "QUIRE_ARGON2_PARALLELISM": "1",
    }
    env.pop("REDIS_URL", None)
    with running_quire(env, directory) as quire, nginx_in_front_of(quire) as nginx:
        yield nginx, quire


def _get(
    base: str, query: str, variables: dict[str, str] | None = None, **headers: str
) -> httpx.Response:
    params = {"query": query, "variables": json.dumps(variables or {})}
    return httpx.get(f"{base}/graphql", params=params, headers=headers, timeout=10, trust_env=False)


def test_nginx_serves_a_public_read_from_its_cache(proxied: tuple[str, str]) -> None:
    nginx, _quire = proxied
    variables = {"username": "nobody-here"}

    first = _get(nginx, AUTHOR, variables)
    second = _get(nginx, AUTHOR, variables)

    assert first.headers["x-proxy-cache"] == "MISS"
    assert second.headers["x-proxy-cache"] == "HIT"
    assert second.content == first.content
    assert second.headers["etag"] == first.headers["etag"]


def test_nginx_never_caches_private_answers_or_signed_in_requests(
    proxied: tuple[str, str],
) -> None:
    nginx, _quire = proxied
    anonymous_me = [_get(nginx, ME) for _ in range(2)]
    signed_in = [
        _get(nginx, AUTHOR, {"username": "x"}, authorization="Bearer not-a-token") for _ in range(2)
    ]

    assert [r.headers["x-proxy-cache"] for r in anonymous_me] == ["MISS", "MISS"]
    assert [r.headers["x-proxy-cache"] for r in signed_in] == ["BYPASS", "BYPASS"]
    for response in anonymous_me + signed_in:
        assert response.headers["cache-control"] == "private, no-store"


def test_a_write_shows_behind_nginx_after_max_age_and_at_once_behind_quire(
    proxied: tuple[str, str],
) -> None:
    nginx, quire = proxied
    variables = {"username": "latecomer"}
    _get(nginx, AUTHOR, variables)
    assert _get(nginx, AUTHOR, variables).json()["data"]["author"] is None  # now cached

    account = {
        "username": "latecomer",
        "email": "latecomer@example.com",
        "password": "a long enough passphrase",
        "displayName": "Late",
    }
    signed_up = httpx.post(
        f"{nginx}/graphql",
        json={"query": SIGN_UP, "variables": {"input": account}},
        timeout=10,
        trust_env=False,
    )
    assert signed_up.json()["data"]["signUp"]["errors"] == []
    written = time.monotonic()
    direct = _get(quire, AUTHOR, variables)
    # Past max-age nginx may serve the stale copy once while it revalidates in the background
    # (stale-while-revalidate); then it has the new answer.
    seen = None
    while time.monotonic() - written < MAX_AGE + 10:
        seen = _get(nginx, AUTHOR, variables).json()["data"]["author"]
        if seen is not None:
            break
        time.sleep(0.25)
    shown_after = time.monotonic() - written

    assert direct.json()["data"]["author"] == {"displayName": "Late"}
    assert seen == {"displayName": "Late"}
    assert shown_after < MAX_AGE + 10
