"""The GraphiQL playground: the page, its asset allow-list and pins, and a real browser run.

The browser test starts `uvicorn app:app` on a migrated, seeded SQLite file and drives Debian's
Chromium through Playwright. It skips when Chromium or node_modules is missing on a developer
machine, and fails on CI (CI=true), where both must be installed.
"""

import base64
import hashlib
import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from playwright.async_api import async_playwright, expect
from starlette.applications import Starlette
from starlette.routing import Mount

from schema.playground import (
    ASSETS,
    INIT_SCRIPT,
    NODE_MODULES,
    local_assets_installed,
    playground_assets,
    render_page,
)
from settings import Settings
from tests.conftest import client_of
from tests.live import REPO, require, running_quire

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
QUERY = "{ posts(first: 2) { nodes { title } } }"


def _sri(file: Path) -> str:
    return "sha384-" + base64.b64encode(hashlib.sha384(file.read_bytes()).digest()).decode()


@pytest.mark.parametrize("local", [True, False])
def test_page_has_no_inline_script(local: bool) -> None:
    scripts = re.findall(r"<script\b([^>]*)>(.*?)</script>", render_page(local=local), re.S)

    assert scripts
    assert all(' src="' in attributes and not body for attributes, body in scripts)


def test_cdn_fallback_pins_every_asset() -> None:
    page = render_page(local=False)

    for asset in ASSETS:
        url = f"https://unpkg.com/{asset.package}@{asset.version}/{asset.file}"
        assert f'"{url}" integrity="{asset.integrity}" crossorigin="anonymous"' in page


def test_package_json_pins_the_served_versions() -> None:
    pins = json.loads((REPO / "package.json").read_text())["dependencies"]

    assert {asset.package: asset.version for asset in ASSETS} == {
        package: pins[package] for package in {asset.package for asset in ASSETS}
    }


def test_integrity_hashes_match_node_modules() -> None:
    require(local_assets_installed(), f"no GraphiQL assets in {NODE_MODULES}: run `npm ci`")

    for asset in ASSETS:
        manifest = json.loads((NODE_MODULES / asset.package / "package.json").read_text())
        assert manifest["version"] == asset.version
        assert _sri(asset.local_file) == asset.integrity, asset.path


async def test_assets_serve_only_the_allow_list() -> None:
    app = Starlette(routes=[Mount("/playground", playground_assets())])
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://quire.test") as client:
        script = await client.get(f"/playground/{INIT_SCRIPT.name}")
        assert script.status_code == 200
        assert script.headers["cache-control"] == "no-cache"
        revalidated = await client.get(
            f"/playground/{INIT_SCRIPT.name}", headers={"if-none-match": script.headers["etag"]}
        )
        assert revalidated.status_code == 304

        for path in (
            "/playground/react/package.json",
            "/playground/react/umd/react.development.js",
            "/playground/graphiql/graphiql.min.js.map",
            "/playground/playground.py",
            "/playground/%2e%2e/pyproject.toml",
        ):
            assert (await client.get(path)).status_code == 404, path

        if local_assets_installed():
            for asset in ASSETS:
                response = await client.get(f"/playground/{asset.path}")
                assert response.status_code == 200, asset.path
                assert response.content == asset.local_file.read_bytes()


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    require(CHROMIUM.exists(), f"{CHROMIUM} missing: apt-get install -y chromium")
    require(local_assets_installed(), f"no GraphiQL assets in {NODE_MODULES}: run `npm ci`")
    directory = tmp_path_factory.mktemp("playground")
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite+aiosqlite:///{directory / 'quire.db'}",
        "QUIRE_GRAPHIQL": "true",
    }
    with running_quire(env, directory, seed=True) as base_url:
        yield base_url


@pytest.mark.browser
async def test_graphiql_runs_a_query_in_chromium(live_server: str) -> None:
    async with httpx.AsyncClient(base_url=live_server, trust_env=False) as client:
        response = await client.post("/graphql", json={"query": QUERY})
    nodes = response.json()["data"]["posts"]["nodes"]
    assert nodes, response.text
    # The response pane shows JSON, so the title appears with JSON escapes.
    expected_title = json.dumps(nodes[0]["title"], ensure_ascii=False)[1:-1]

    requested: list[str] = []
    page_errors: list[str] = []
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS
        )
        try:
            page = await browser.new_page(viewport={"width": 1400, "height": 800})
            page.on("request", lambda request: requested.append(request.url))
            page.on("pageerror", lambda error: page_errors.append(str(error)))
            await page.goto(f"{live_server}/graphql")

            editor = page.locator(".graphiql-query-editor .CodeMirror")
            await editor.wait_for(timeout=30_000)
            await editor.evaluate("(node, query) => node.CodeMirror.setValue(query)", QUERY)
            await page.locator(".graphiql-execute-button").click()

            await expect(page.locator(".graphiql-response")).to_contain_text(expected_title)
        finally:
            await browser.close()

    assert f"{live_server}/playground/graphiql/graphiql.min.js" in requested
    offsite = [
        url
        for url in requested
        if urlsplit(url).scheme not in ("data", "blob") and urlsplit(url).hostname != "127.0.0.1"
    ]
    assert not offsite
    assert not page_errors


@pytest.mark.browser
async def test_the_default_tab_fits_1440x900_and_runs_on_the_demo(live_server: str) -> None:
    """The default tab shows the demo's newest posts, its help text is not cut off, the
    responses leave out the cost extension, and the Explorer (one click
    away) has usable inputs. PLAYGROUND_SCREENSHOT=path saves what a new user sees."""
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS
        )
        try:
            page = await browser.new_page(viewport={"width": 1440, "height": 900})
            await page.goto(f"{live_server}/")
            editor = page.locator(".graphiql-query-editor .CodeMirror")
            await editor.wait_for(timeout=30_000)
            await page.locator(".graphiql-execute-button").click()
            response = page.locator(".graphiql-response")
            await expect(response).to_contain_text("Type hints that pay their way")
            overflow = await editor.evaluate(
                "node => node.querySelector('.CodeMirror-scroll').scrollWidth"
                " - node.querySelector('.CodeMirror-scroll').clientWidth"
            )
            shown = await response.inner_text()
            if screenshot := os.environ.get("PLAYGROUND_SCREENSHOT"):
                await page.screenshot(path=screenshot)
            await page.get_by_role("button", name="Show GraphiQL Explorer").click()
            await page.locator(".graphiql-explorer-root").get_by_text("posts").first.click()
            input_width = await page.locator(".graphiql-explorer-root input").first.evaluate(
                "node => node.getBoundingClientRect().width"
            )
        finally:
            await browser.close()

    assert page.url == f"{live_server}/graphql"
    assert overflow <= 0
    assert '"cost"' not in shown
    assert input_width >= 20


SIGN_UP = """mutation ($input: SignUpInput!) { signUp(input: $input) { accessToken } }"""


async def _graphiql_tab(browser: Any, url: str, document: str, token: str) -> Any:
    """A GraphiQL tab with `document` in the editor and the bearer token in its headers."""
    page = await browser.new_page(viewport={"width": 1400, "height": 800})
    await page.goto(f"{url}/graphql")
    editor = page.locator(".graphiql-query-editor .CodeMirror")
    await editor.wait_for(timeout=30_000)
    await editor.evaluate("(node, text) => node.CodeMirror.setValue(text)", document)
    await page.get_by_role("button", name="Headers").click()
    headers = page.locator(".graphiql-editor-tool .CodeMirror").last
    await headers.evaluate(
        "(node, text) => node.CodeMirror.setValue(text)",
        json.dumps({"Authorization": f"Bearer {token}"}),
    )
    await page.locator(".graphiql-execute-button").click()
    return page


@pytest.mark.browser
async def test_graphiql_shows_a_comment_from_another_tab_live(live_server: str) -> None:
    """Issue 6's "done when": a new user subscribes to commentAdded in one GraphiQL tab and
    sees the comment they post from another tab appear (pending comments are visible to
    their author)."""
    async with httpx.AsyncClient(base_url=live_server, trust_env=False) as client:
        signed = await client.post(
            "/graphql",
            json={
                "query": SIGN_UP,
                "variables": {
                    "input": {
                        "username": "newreader",
                        "email": "newreader@example.com",
                        "password": "a long enough password",
                        "displayName": "New Reader",
                    }
                },
            },
        )
        token = signed.json()["data"]["signUp"]["accessToken"]
        posts = await client.post(
            "/graphql", json={"query": "{ posts(first: 1) { nodes { id } } }"}
        )
    post_id = posts.json()["data"]["posts"]["nodes"][0]["id"]
    subscription = f'subscription {{ commentAdded(postId: "{post_id}") {{ body status }} }}'
    mutation = (
        f'mutation {{ addComment(input: {{postId: "{post_id}", body: "Live from tab two"}}) '
        "{ comment { status } } }"
    )

    page_errors: list[str] = []
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS
        )
        try:
            listening = await _graphiql_tab(browser, live_server, subscription, token)
            listening.on("pageerror", lambda error: page_errors.append(str(error)))
            await listening.wait_for_timeout(1000)  # the socket is open and subscribed
            posting = await _graphiql_tab(browser, live_server, mutation, token)
            await expect(posting.locator(".graphiql-response")).to_contain_text("PENDING")
            await expect(listening.locator(".graphiql-response")).to_contain_text(
                "Live from tab two", timeout=10_000
            )
        finally:
            await browser.close()

    assert not page_errors


async def test_the_root_leads_to_the_playground_in_development_only(settings: Settings) -> None:
    async with client_of(settings, graphiql=True) as development:
        on = await development.get("/")
    async with client_of(settings, graphiql=False) as production:
        off = await production.get("/")

    assert on.status_code == 307
    assert on.headers["location"] == "/graphql"
    assert off.status_code == 404
