"""The GraphiQL playground page (`GET /graphql` in a browser) and the assets it loads.

The browser bundles are the npm packages pinned in package.json, installed into node_modules by
`npm ci` and served by Quire itself under /playground, because the machines Quire runs on may
reach no CDN. Only when that copy is missing does the page load them from unpkg instead, pinned
by subresource integrity to the very same files.
"""

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from html import escape
from pathlib import Path

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Scope

MOUNT_PATH = "/playground"
GRAPHQL_ENDPOINT = "/graphql"
NODE_MODULES = Path(__file__).resolve().parent.parent / "node_modules"
INIT_SCRIPT = Path(__file__).resolve().with_name("playground.js")
CDN = "https://unpkg.com"

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Asset:
    package: str
    version: str  # the exact version pinned in package.json
    file: str  # path inside the package
    integrity: str  # SRI of that file; tests/test_playground.py checks it against node_modules

    @property
    def path(self) -> str:
        return f"{self.package}/{self.file}"

    @property
    def local_file(self) -> Path:
        return NODE_MODULES / self.path


# Stylesheets, then scripts in load order: GraphiQL's UMD bundle needs the React globals, the
# explorer needs GraphiQL's.
ASSETS = (
    Asset(
        "graphiql",
        "3.8.3",
        "graphiql.min.css",
        "sha384-Mq3vbRBY71jfjQAt/DcjxUIYY33ksal4cgdRt9U/hNPvHBCaT2JfJ/PTRiPKf0aM",
    ),
    Asset(
        "@graphiql/plugin-explorer",
        "3.2.5",
        "dist/style.css",
        "sha384-YN9MumWidbWKuNj8VfH5ggrFvm9YqAoIOMnKYpeGL3dr7Eg1qnQ+SAqSthdNZCjz",
    ),
    Asset(
        "react",
        "18.3.1",
        "umd/react.production.min.js",
        "sha384-DGyLxAyjq0f9SPpVevD6IgztCFlnMF6oW/XQGmfe+IsZ8TqEiDrcHkMLKI6fiB/Z",
    ),
    Asset(
        "react-dom",
        "18.3.1",
        "umd/react-dom.production.min.js",
        "sha384-gTGxhz21lVGYNMcdJOyq01Edg0jhn/c22nsx0kyqP0TxaV5WVdsSH1fSDUf5YJj1",
    ),
    Asset(
        "graphiql",
        "3.8.3",
        "graphiql.min.js",
        "sha384-HbRVEFG0JGJZeAHCJ9Xm2+tpknBQ7QZmNlO/DgZtkZ0aJSypT96YYGRNod99l9Ie",
    ),
    Asset(
        "@graphiql/plugin-explorer",
        "3.2.5",
        "dist/index.umd.js",
        "sha384-5p6hGdlOTvUy6Wf0GauxCz+xM9YB/YYvcGG+bf9msr2eyd+KVIxgRkepHgUijedJ",
    ),
)

_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Quire GraphiQL</title>
<link rel="icon" href="data:,">
{assets}
</head>
<body>
<div id="graphiql" data-endpoint="{endpoint}">Loading…</div>
</body>
</html>
"""


def local_assets_installed() -> bool:
    return all(asset.local_file.is_file() for asset in ASSETS)


def _tag(url: str, integrity: str | None = None) -> str:
    source = escape(url)
    sri = "" if integrity is None else f' integrity="{integrity}" crossorigin="anonymous"'
    if url.endswith(".css"):
        return f'<link rel="stylesheet" href="{source}"{sri}>'
    # `defer` keeps document order and runs after parsing, when #graphiql exists.
    return f'<script defer src="{source}"{sri}></script>'


def render_page(*, local: bool) -> str:
    tags = [
        _tag(f"{MOUNT_PATH}/{asset.path}")
        if local
        else _tag(f"{CDN}/{asset.package}@{asset.version}/{asset.file}", asset.integrity)
        for asset in ASSETS
    ]
    tags.append(_tag(f"{MOUNT_PATH}/{INIT_SCRIPT.name}"))
    return _PAGE.format(assets="\n".join(tags), endpoint=escape(GRAPHQL_ENDPOINT))


@cache
def playground_html() -> str:
    local = local_assets_installed()
    if not local:
        logger.warning("No GraphiQL assets in %s (run `npm ci`); using %s", NODE_MODULES, CDN)
    return render_page(local=local)


class _AllowListedFiles(StaticFiles):
    """StaticFiles (content types, HEAD, ETags and 304s) restricted to an exact set of files, so
    that nothing else in node_modules (package.json files, sources, maps) can be fetched."""

    def __init__(self, files: Mapping[str, Path]) -> None:
        super().__init__(check_dir=False)
        self._files = dict(files)

    def lookup_path(self, path: str) -> tuple[str, os.stat_result | None]:
        file = self._files.get(path)
        if file is None:
            return "", None
        try:
            return str(file), file.stat()
        except FileNotFoundError:
            return "", None

    def file_response(
        self,
        full_path: str | os.PathLike[str],
        stat_result: os.stat_result,
        scope: Scope,
        status_code: int = 200,
    ) -> Response:
        response = super().file_response(full_path, stat_result, scope, status_code)
        # The URLs carry no version: revalidate (a cheap 304) so an upgrade is never half-cached.
        response.headers["Cache-Control"] = "no-cache"
        return response


def playground_assets() -> ASGIApp:
    files = {asset.path: asset.local_file for asset in ASSETS}
    files[INIT_SCRIPT.name] = INIT_SCRIPT
    return _AllowListedFiles(files)


async def _to_playground(_request: Request) -> Response:
    return RedirectResponse("/graphql", status_code=307)


def playground_routes(*, enabled: bool) -> list[BaseRoute]:
    """`/` leads to the playground while it is on (development); otherwise it stays a 404."""
    return [Route("/", _to_playground, methods=["GET"])] if enabled else []
