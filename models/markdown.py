"""Post bodies: Markdown rendered to sanitized HTML, and reading time.

Both are computed when a post is written and stored beside the body (`rendered`), so that no
read renders Markdown.
"""

import math
from functools import lru_cache
from typing import Any

import nh3
from markdown_it import MarkdownIt

WORDS_PER_MINUTE = 220

# Raw HTML in Markdown is escaped by the parser and the output still goes through a real
# sanitizer (Ammonia), so neither an author's <script> nor a javascript: link survives.
_MARKDOWN = MarkdownIt("commonmark", {"html": False, "linkify": False}).enable("table")


@lru_cache(maxsize=4096)
def render_html(markdown: str) -> str:
    return str(
        nh3.clean(
            _MARKDOWN.render(markdown),
            link_rel="noopener noreferrer nofollow",
            url_schemes={"http", "https", "mailto"},
        )
    )


def reading_time_minutes(markdown: str) -> int:
    return max(1, math.ceil(len(markdown.split()) / WORDS_PER_MINUTE))


def rendered(markdown: str) -> dict[str, Any]:
    """The stored columns derived from a post's body."""
    return {"html": render_html(markdown), "reading_time_minutes": reading_time_minutes(markdown)}
