"""Every client snippet of docs/clients.md runs against a live server with the demo publication:
curl, fetch, Apollo Client, urql and graphql-ws on Node.js (the packages of tests/clients), and
Python gql. The snippets are taken from the page as they are, with the server's address."""

import asyncio
import json
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from tests.live import REPO, require, serving_demo

PAGE = REPO / "docs" / "clients.md"
CLIENTS = REPO / "tests" / "clients"
SNIPPET = re.compile(r"<!-- snippet: (?P<name>[\w-]+) -->\n```\w+\n(?P<code>.*?)```", re.DOTALL)
NEWEST_THREE = [
    "Type hints that pay their way",
    "How we edit: a checklist for technical posts",
    "Test against the database you ship",
]
LOG_IN = """mutation ($input: LogInInput!) { logIn(input: $input) { accessToken } }"""
ADD_COMMENT = """mutation ($post: ID!, $body: String!) {
  addComment(input: { postId: $post, body: $body }) { comment { status } errors { code } } }"""


@dataclass
class Demo:
    url: str
    passwords: dict[str, str]

    def snippet(self, name: str) -> str:
        snippets = {m["name"]: m["code"] for m in SNIPPET.finditer(PAGE.read_text())}
        host = self.url.removeprefix("http://")
        code = snippets[name].replace("http://127.0.0.1:8000", self.url)
        return code.replace("ws://127.0.0.1:8000", f"ws://{host}")


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    with serving_demo(tmp_path_factory.mktemp("clients")) as (url, passwords):
        yield Demo(url, passwords)


def _node(code: str) -> subprocess.Popen[str]:
    node = shutil.which("node")
    require(node is not None, "node is not installed")
    require((CLIENTS / "node_modules").is_dir(), "tests/clients has no node_modules: make install")
    # Bare imports resolve from the working directory for --eval: tests/clients/node_modules.
    return subprocess.Popen(  # noqa: S603 - node from PATH, the snippet from our docs
        [str(node), "--input-type=module", "--eval", code],
        cwd=CLIENTS,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _output(process: subprocess.Popen[str], seconds: float = 60) -> str:
    stdout, stderr = process.communicate(timeout=seconds)
    assert process.returncode == 0, stderr
    return stdout


def test_curl_snippet(demo: Demo) -> None:
    curl = shutil.which("curl")
    require(curl is not None, "curl is not installed")

    result = subprocess.run(  # noqa: S603 - bash runs the snippet from our docs
        ["/bin/bash", "-c", demo.snippet("curl")],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )

    nodes = json.loads(result.stdout)["data"]["posts"]["nodes"]
    assert [node["title"] for node in nodes] == NEWEST_THREE


def test_fetch_snippet(demo: Demo) -> None:
    output = _output(_node(demo.snippet("fetch")))

    assert "Distributed systems without the magic: a field guide to consensus" in output
    assert "Clocks lie: ordering events in distributed systems" in output


def test_apollo_client_snippet_merges_pages_in_its_cache(demo: Demo) -> None:
    output = _output(_node(demo.snippet("apollo")))

    titles = json.loads(output.replace("'", '"'))
    assert titles[:3] == NEWEST_THREE
    assert len(titles) == len(set(titles)) == 8


def test_urql_snippet(demo: Demo) -> None:
    output = _output(_node(demo.snippet("urql")))

    assert json.loads(output.replace("'", '"')) == [
        "Type hints that pay their way",
        "Clocks lie: ordering events in distributed systems",
        "Structured concurrency in Python with asyncio.TaskGroup",
    ]


async def _comment_until_heard(demo: Demo, process: subprocess.Popen[str]) -> None:
    """Comments as ada on the first post until the snippet has printed one and exited (the
    snippets do not say when they have subscribed)."""
    async with httpx.AsyncClient(base_url=demo.url, trust_env=False) as http:
        login = {"input": {"usernameOrEmail": "ada", "password": demo.passwords["ada"]}}
        response = await http.post("/graphql", json={"query": LOG_IN, "variables": login})
        headers = {"Authorization": f"Bearer {response.json()['data']['logIn']['accessToken']}"}
        for attempt in range(40):
            if process.poll() is not None:
                break
            variables = {"post": "UG9zdDox", "body": f"Comment {attempt} from the snippet test."}
            body = {"query": ADD_COMMENT, "variables": variables}
            added = (await http.post("/graphql", json=body, headers=headers)).json()
            assert added["data"]["addComment"]["comment"] == {"status": "APPROVED"}
            await asyncio.sleep(0.5)


async def test_apollo_client_subscribes_over_http(demo: Demo) -> None:
    process = _node(demo.snippet("apollo-subscription"))

    await _comment_until_heard(demo, process)

    output = _output(process, seconds=10)
    assert re.fullmatch(r"Ada Brennan: Comment \d+ from the snippet test\.\n", output)


async def test_graphql_ws_snippet_receives_the_next_comment(demo: Demo) -> None:
    process = _node(demo.snippet("graphql-ws"))

    await _comment_until_heard(demo, process)

    output = _output(process, seconds=10)
    assert re.fullmatch(r"Ada Brennan: Comment \d+ from the snippet test\.\n", output)


def test_python_gql_snippet(demo: Demo) -> None:
    result = subprocess.run(  # noqa: S603 - this venv's Python runs the snippet from our docs
        [sys.executable, "-c", demo.snippet("python-gql")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    assert "Distributed systems without the magic: a field guide to consensus by Ada Brennan" in (
        result.stdout.splitlines()
    )


def test_every_snippet_is_tested() -> None:
    names = {m["name"] for m in SNIPPET.finditer(PAGE.read_text())}
    tested = {"curl", "fetch", "apollo", "apollo-subscription", "urql", "graphql-ws", "python-gql"}

    assert names == tested
