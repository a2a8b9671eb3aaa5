"""Selection-driven prefetching.

Before a resolver returns a list of objects, it loads the relations that the query selects on
them: one batch per relation and level, through the same per-request loaders. The nested
fields then resolve synchronously from `preloaded`, which is what makes a 20-post page with
200 comments cheap: an async resolver per field costs about as much again as the whole
execution. Any shape this does not cover (a field reached through an abstract type, say) falls
back to the loader in the field's own resolver, with the same result.
"""

from collections.abc import Awaitable, Callable, Generator, Hashable, Iterable, Iterator
from typing import Any, Generic, TypeVar, cast

from strawberry.types.nodes import FragmentSpread, InlineFragment, SelectedField, Selection

T = TypeVar("T")

Preloaded = dict[Hashable, Any]


class Deferred(Generic[T]):
    """A relation loaded only if the executor awaits it, that is, if the query selected it.

    Plain fields hold either the prefetched value or one of these; graphql-core awaits any
    awaitable a field returns. A plain field skips Strawberry's per-resolver work, which for a
    page of 200 comments costs more than fetching their authors.
    """

    __slots__ = ("_load",)

    def __init__(self, load: Callable[[], Awaitable[T]]) -> None:
        self._load = load

    def __await__(self) -> Generator[Any, None, T]:
        return self._load().__await__()


def deferred(load: Callable[[], Awaitable[T]]) -> T:
    """A field value that loads on demand (typed as the value the executor will see)."""
    return cast(T, Deferred(load))


def preloaded_or(preloaded: Preloaded, key: Hashable, load: Callable[[], Awaitable[T]]) -> T:
    """The prefetched value, or else an awaitable of it (graphql-core awaits what it gets)."""
    if key in preloaded:
        return cast(T, preloaded[key])
    return cast(T, load())


def _included(selection: Selection) -> bool:
    directives = selection.directives
    if "skip" in directives and directives["skip"].get("if"):
        return False
    return not ("include" in directives and not directives["include"].get("if"))


def fields_of(selections: Iterable[Selection]) -> Iterator[SelectedField]:
    """Selected fields, with fragments and inline fragments spread in."""
    for selection in selections:
        if not _included(selection):
            continue
        if isinstance(selection, SelectedField):
            yield selection
        elif isinstance(selection, (FragmentSpread, InlineFragment)):
            yield from fields_of(selection.selections)


def node_fields(connection_fields: Iterable[SelectedField]) -> list[SelectedField]:
    """The fields selected on the nodes of a connection, through `nodes` and `edges.node`."""
    found: list[SelectedField] = []
    for connection in connection_fields:
        for child in fields_of(connection.selections):
            if child.name == "nodes":
                found.extend(fields_of(child.selections))
            elif child.name == "edges":
                for edge_field in fields_of(child.selections):
                    if edge_field.name == "node":
                        found.extend(fields_of(edge_field.selections))
    return found


def by_name(fields: Iterable[SelectedField]) -> dict[str, list[SelectedField]]:
    grouped: dict[str, list[SelectedField]] = {}
    for field in fields:
        grouped.setdefault(field.name, []).append(field)
    return grouped
