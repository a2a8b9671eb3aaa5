"""The committed SDL is what the code serves: a stale schema.graphql fails the build."""

from pathlib import Path

from strawberry.printer import print_schema

from schema.root import create_schema

SCHEMA_FILE = Path(__file__).resolve().parent.parent / "schema.graphql"


def test_committed_schema_matches_the_code() -> None:
    committed = SCHEMA_FILE.read_text()

    assert committed == print_schema(create_schema()) + "\n", (
        "schema.graphql is stale: run `make schema` and commit it."
    )
