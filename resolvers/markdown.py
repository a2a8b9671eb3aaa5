"""Post bodies: Markdown rendered to sanitized HTML, and reading time."""

import math
from functools import lru_cache

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
