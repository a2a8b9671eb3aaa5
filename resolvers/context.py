"""The per-request context: settings, database, the viewer and fresh loaders."""

from dataclasses import dataclass

import strawberry

from models.database import Database
from resolvers.loaders import Loaders
from resolvers.visibility import ANONYMOUS, Viewer
from settings import Settings


@dataclass(slots=True)
class Context:
    settings: Settings
    database: Database
    viewer: Viewer
    loaders: Loaders


def build_context(*, settings: Settings, database: Database) -> Context:
    viewer = ANONYMOUS
    return Context(
        settings=settings,
        database=database,
        viewer=viewer,
        loaders=Loaders(database=database, viewer=viewer),
    )


Info = strawberry.Info[Context, None]
