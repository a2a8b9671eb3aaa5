"""The GraphiQL playground page and its static assets (placeholder: Strawberry's CDN page)."""

from pathlib import Path

from starlette.staticfiles import StaticFiles
from strawberry.http.ides import get_graphql_ide_html

ASSETS_DIRECTORY = Path(__file__).resolve().parent.parent / "node_modules"


def playground_html() -> str:
    return get_graphql_ide_html(graphql_ide="graphiql")


def playground_assets() -> StaticFiles:
    return StaticFiles(directory=ASSETS_DIRECTORY, check_dir=False)
