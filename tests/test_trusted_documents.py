"""The trusted-documents manifest against the schema: CI fails when a change would break a
document that shipped clients send (graphql-core's validate and find_breaking_changes)."""

import json
import subprocess
import sys
from pathlib import Path

from graphql import build_schema

from models.database import Database
from resolvers.persisted import load_manifest, sha256_hex
from schema.documents import MANIFEST, RELEASED_SCHEMA, check_documents, check_manifest
from schema.root import create_schema
from settings import Settings
from tests.conftest import client_of

REPO = Path(__file__).resolve().parent.parent
SDL = (REPO / "schema.graphql").read_text()


def test_shipped_documents_still_work_with_the_current_schema() -> None:
    report = check_manifest(create_schema()._schema, MANIFEST, RELEASED_SCHEMA)

    assert report.invalid == []
    assert report.breaking == []
    assert len(load_manifest(MANIFEST)) >= 5


def test_a_breaking_change_to_a_used_field_is_reported() -> None:
    documents = load_manifest(MANIFEST)
    changed = SDL.replace("  readingTimeMinutes: Int!", "  readingTimeMinutes: Float!")

    report = check_documents(build_schema(changed), documents, build_schema(SDL))

    assert report.invalid == []  # still valid: only the type of a leaf changed
    assert report.breaking == [
        "FIELD_CHANGED_KIND: Field Post.readingTimeMinutes changed type from Int! to Float!."
    ]


def test_breaking_changes_elsewhere_are_not_reported() -> None:
    documents = {sha256_hex("{ tags { nodes { name } } }"): "{ tags { nodes { name } } }"}
    changed = SDL.replace("  readingTimeMinutes: Int!\n", "")

    report = check_documents(build_schema(changed), documents, build_schema(SDL))

    assert report.ok


def test_a_removed_field_makes_a_document_invalid() -> None:
    documents = load_manifest(MANIFEST)
    changed = SDL.replace("  readingTimeMinutes: Int!\n", "")

    report = check_documents(build_schema(changed), documents, build_schema(SDL))

    assert any("readingTimeMinutes" in problem for problem in report.invalid)
    assert "FIELD_REMOVED: Field Post.readingTimeMinutes was removed." in report.breaking


def test_the_cli_fails_on_a_broken_manifest(tmp_path: Path) -> None:
    query = "{ posts { nodes { wordCount } } }"
    manifest = tmp_path / "manifest.json"
    manifest.write_text(json.dumps({sha256_hex(query): query}))

    result = subprocess.run(  # noqa: S603 - this venv's quire, fixed arguments
        [
            str(Path(sys.executable).parent / "quire"),
            "check-documents",
            "--manifest",
            str(manifest),
        ],
        capture_output=True,
        text=True,
        check=False,
    )

    assert result.returncode == 1
    assert "Cannot query field 'wordCount' on type 'Post'" in result.stdout


async def test_the_manifest_runs_in_trusted_mode(settings: Settings, database: Database) -> None:
    feed = next(sha256 for sha256, body in load_manifest(MANIFEST).items() if "query Feed" in body)
    extensions = {"persistedQuery": {"version": 1, "sha256Hash": feed}}
    async with client_of(
        settings, persisted_queries="trusted", trusted_documents=str(MANIFEST)
    ) as client:
        response = await client.post(
            "/graphql", json={"extensions": extensions, "variables": {"first": 2}}
        )

    assert response.json()["data"]["posts"]["nodes"] == []
