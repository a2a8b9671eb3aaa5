"""The GraphQL examples of README.md and docs/*.md, as the tests run them.

Every fenced ```graphql block is one document. An HTML comment right before the block says how
to run it (invisible on a rendered page):

    <!-- example: {"as": "grace", "variables": {"id": "UG9zdDoxMQ=="}} -->

`as` is a demo account (anonymous without it); `variables` are sent as they are, except that
the strings "<password of NAME>" and "<refresh token of NAME>" become that demo account's
password and a refresh token of a fresh log-in. A document with several
operations runs each of them by name. Subscriptions are validated against the schema only:
tests/test_tour.py and tests/test_client_snippets.py receive events on a real socket.
"""

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
BLOCK = re.compile(
    r"(?:<!-- example: (?P<options>\{.*?\}) -->\n)?```graphql\n(?P<document>.*?)```", re.DOTALL
)
SECRET = re.compile(r"<(password|refresh token) of (\w+)>")


@dataclass(frozen=True)
class Example:
    where: str
    document: str
    viewer: str | None = None
    variables: dict[str, Any] = field(default_factory=dict)

    def secrets(self) -> set[tuple[str, str]]:
        """(kind, username) of each placeholder in the variables."""
        return {(m[1], m[2]) for m in SECRET.finditer(json.dumps(self.variables))}

    def variables_with(self, secrets: dict[tuple[str, str], str]) -> dict[str, Any]:
        text = json.dumps(self.variables)
        return dict(json.loads(SECRET.sub(lambda m: secrets[(m[1], m[2])], text)))


def examples_of(page: Path) -> list[Example]:
    text = page.read_text(encoding="utf-8")
    examples = []
    for match in BLOCK.finditer(text):
        options = json.loads(match["options"]) if match["options"] else {}
        line = text.count("\n", 0, match.start("document"))
        examples.append(
            Example(
                where=f"{page.relative_to(REPO)}:{line}",
                document=match["document"],
                viewer=options.get("as"),
                variables=options.get("variables", {}),
            )
        )
    return examples


def all_examples() -> list[Example]:
    return [example for page in PAGES for example in examples_of(page)]
