"""A real Quire server for the tests that need one: `uvicorn app:app` in a subprocess.

`running_quire(env, directory)` migrates (and optionally seeds with the demo publication) the
database named by the environment's DATABASE_URL with this venv's `quire`, starts uvicorn on a
free loopback port, waits for /healthz and yields the base URL; the server is stopped when the
block exits.
"""

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

REPO = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
UVICORN = ("-m", "uvicorn", "app:app", "--host", "127.0.0.1")
ON_CI = os.environ.get("CI") == "true"
STARTUP_SECONDS = 60
STOP_SECONDS = 10


def require(condition: bool, reason: str) -> None:
    """What a test needs from the machine: skipped on a developer machine when missing, a
    failure on CI (CI=true), where everything must be installed."""
    if condition:
        return
    if ON_CI:
        pytest.fail(f"required on CI: {reason}")
    pytest.skip(reason)


def free_port() -> int:
    """A loopback port nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _run(*command: str, env: dict[str, str]) -> None:
    result = subprocess.run(  # noqa: S603 - fixed argv, executables from this venv
        command, cwd=REPO, env=env, capture_output=True, text=True, timeout=300, check=False
    )
    if result.returncode != 0:
        pytest.fail(f"{' '.join(command)} exited {result.returncode}:\n{result.stderr}")


def _wait_until_healthy(base_url: str, process: "subprocess.Popen[bytes]", log: Path) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"uvicorn exited {process.returncode}:\n{log.read_text()}")
        try:
            if httpx.get(f"{base_url}/healthz", timeout=1, trust_env=False).is_success:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    pytest.fail(f"uvicorn answered no /healthz within {STARTUP_SECONDS} s:\n{log.read_text()}")


def _stop(process: "subprocess.Popen[bytes]") -> None:
    process.terminate()
    try:
        process.wait(timeout=STOP_SECONDS)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@dataclass
class Server:
    url: str
    process: "subprocess.Popen[bytes]"
    log: Path


@contextmanager
def serving(
    env: dict[str, str], directory: Path, *, workers: int | None = None
) -> Iterator[Server]:
    """`quire serve` (HOST/PORT from a free loopback port, QUIRE_WORKERS=`workers`) on an
    already migrated database; stopped with SIGTERM when the block exits."""
    port = free_port()
    env = {**env, "HOST": "127.0.0.1", "PORT": str(port)}
    if workers is not None:
        env["QUIRE_WORKERS"] = str(workers)
    log = directory / "quire-serve.log"
    with log.open("wb") as output:
        process = subprocess.Popen(  # noqa: S603 - this venv's quire
            [str(VENV_BIN / "quire"), "serve"],
            cwd=REPO,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    server = Server(f"http://127.0.0.1:{port}", process, log)
    try:
        _wait_until_healthy(server.url, process, log)
        yield server
    finally:
        _stop(process)


def migrate(env: dict[str, str], *, seed: bool = False) -> None:
    quire = str(VENV_BIN / "quire")
    _run(quire, "migrate", env=env)
    if seed:
        _run(quire, "seed", env=env)


@contextmanager
def running_quire(
    env: dict[str, str], directory: Path, *, seed: bool = False, port: int | None = None
) -> Iterator[str]:
    """Serve Quire with `env` (which names the database in DATABASE_URL) and yield its base
    URL, `http://127.0.0.1:PORT`. uvicorn's output goes to `directory/uvicorn.log`."""
    migrate(env, seed=seed)
    port = port or free_port()
    log = directory / "uvicorn.log"
    with log.open("wb") as output:
        process = subprocess.Popen(  # noqa: S603 - fixed argv, this venv's Python
            [sys.executable, *UVICORN, "--port", str(port)],
            cwd=REPO,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    base_url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_healthy(base_url, process, log)
        yield base_url
    finally:
        _stop(process)


def seed_demo_publication(env: dict[str, str]) -> dict[str, str]:
    """`quire seed` (the demo publication) on a migrated database, as `make run` does it;
    returns the demo passwords it printed, by username."""
    result = subprocess.run(  # noqa: S603 - this venv's quire
        [str(VENV_BIN / "quire"), "seed"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if result.returncode != 0:
        pytest.fail(f"quire seed exited {result.returncode}:\n{result.stderr}")
    lines = result.stdout.splitlines()[2:]
    return {username: password for _role, username, password in map(str.split, lines)}


@contextmanager
def serving_demo(directory: Path) -> Iterator[tuple[str, dict[str, str]]]:
    """A development server on a new SQLite file with the demo publication, as after the first
    `make run`: yields its base URL and the demo passwords `quire seed` printed."""
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite+aiosqlite:///{directory / 'quire.db'}",
        "QUIRE_RATE_LIMIT_ENABLED": "false",
        "QUIRE_ENV": "development",
    }
    env.pop("REDIS_URL", None)
    migrate(env)
    passwords = seed_demo_publication(env)
    with running_quire(env, directory) as url:
        yield url, passwords
