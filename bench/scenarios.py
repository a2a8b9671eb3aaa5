"""The benchmark's GraphQL operations: one query per scenario for each server.

Quire applies its visibility rules itself (published posts whose `published_at` has come,
approved top-level comments). PostGraphile exposes every row, so its queries filter and order
explicitly to select the same rows:

* posts: `condition: {status: "PUBLISHED"}`, `orderBy: PUBLISHED_AT_DESC` (PostGraphile adds the
  primary key as a tie-breaker). `published_at <= now()` cannot be written as a `condition`;
  the demo seed never dates a post in the future, so the rows are the same.
* comments: `condition: {status: "APPROVED", parentId: null}` (v5 turns `null` into
  `IS NULL`), `orderBy: CREATED_AT_ASC`.
* tags: PostGraphile has no many-to-many field without a plugin, so it walks the join table
  (`postTagsByPostId { nodes { tagByTagId { name } } }`), ordered by the join table's primary
  key; Quire orders a post's tags by name.
* authors: Quire hides inactive users (`author` becomes null); PostGraphile does not.

(d) is (b) with 100 posts; (e) is (b) sent with a signed-in reader's access token (Quire only:
PostGraphile has no users); g<size> are (b) at other page sizes, for the CPU growth table.
"""

from dataclasses import dataclass
from typing import Any

JSON = dict[str, Any]

LIST_QUIRE = """
query QuirePosts($first: Int!, $comments: Int!) {
  posts(first: $first) {
    nodes {
      title
      author { displayName }
      tags { name }
      comments(first: $comments) { nodes { body author { displayName } } }
    }
  }
}
"""

LIST_POSTGRAPHILE = """
query PostGraphilePosts($first: Int!, $comments: Int!) {
  allPosts(first: $first, condition: {status: "PUBLISHED"}, orderBy: PUBLISHED_AT_DESC) {
    nodes {
      title
      userByAuthorId { displayName }
      postTagsByPostId { nodes { tagByTagId { name } } }
      commentsByPostId(
        first: $comments
        condition: {status: "APPROVED", parentId: null}
        orderBy: CREATED_AT_ASC
      ) { nodes { body userByAuthorId { displayName } } }
    }
  }
}
"""

ONE_QUIRE = """
query QuirePost($slug: String!) {
  post(slug: $slug) { title }
}
"""

ONE_POSTGRAPHILE = """
query PostGraphilePost($slug: String!) {
  allPosts(first: 1, condition: {slug: $slug, status: "PUBLISHED"}) { nodes { title } }
}
"""


ME_QUIRE = """
query QuireViewer {
  me { username role }
}
"""

# The nested listing at these page sizes: b, c and d are the scenarios; the growth
# table (CPU per request against page size) reuses them and adds g<size> for the others.
LISTING_KEYS = {20: "b", 50: "c", 100: "d"}


@dataclass(frozen=True, slots=True)
class Scenario:
    key: str
    description: str
    bodies: dict[str, JSON]  # server name -> POST body; a server without one skips it
    expected_posts: int
    # Sent with a reader's access token (Authorization: Bearer), by Quire only.
    signed_in: bool = False
    posts_per_page: int | None = None  # the listing's page size, for the growth table
    # The scenario whose PostGraphile row this one's Quire/PG ratio compares with.
    postgraphile_baseline: str | None = None


def _body(query: str, variables: JSON) -> JSON:
    return {"query": " ".join(query.split()), "variables": variables}


def listing(key: str, first: int) -> Scenario:
    variables = {"first": first, "comments": 10}
    return Scenario(
        key=key,
        description=f"posts(first: {first}) with author, tags, 10 comments + authors",
        bodies={
            "quire": _body(LIST_QUIRE, variables),
            "postgraphile": _body(LIST_POSTGRAPHILE, variables),
        },
        expected_posts=first,
        posts_per_page=first,
    )


def growth_key(first: int) -> str:
    return LISTING_KEYS.get(first, f"g{first}")


def scenarios(slug: str, *, growth_sizes: tuple[int, ...] = ()) -> list[Scenario]:
    catalogue = [
        Scenario(
            key="a",
            description="post(slug) { title }",
            bodies={
                "quire": _body(ONE_QUIRE, {"slug": slug}),
                "postgraphile": _body(ONE_POSTGRAPHILE, {"slug": slug}),
            },
            expected_posts=1,
        ),
        *(listing(key, first) for first, key in LISTING_KEYS.items()),
        Scenario(
            key="e",
            description="(b) for a signed-in reader (Quire only: PostGraphile has no users)",
            bodies={"quire": _body(LIST_QUIRE, {"first": 20, "comments": 10})},
            expected_posts=20,
            signed_in=True,
            posts_per_page=20,
            postgraphile_baseline="b",
        ),
    ]
    extra = sorted({first for first in growth_sizes if first not in LISTING_KEYS})
    catalogue += [listing(growth_key(first), first) for first in extra]
    return catalogue


def viewer_body() -> JSON:
    return _body(ME_QUIRE, {})


def normalized_posts(server: str, data: JSON) -> list[JSON]:
    """The posts of a response in one shape, so both servers' answers can be compared."""
    if server == "quire":
        if "post" in data:
            return [] if data["post"] is None else [{"title": data["post"]["title"]}]
        return [
            {
                "title": node["title"],
                "author": (node["author"] or {}).get("displayName"),
                "tags": sorted(tag["name"] for tag in node["tags"]),
                "comments": [
                    (c["body"], (c["author"] or {}).get("displayName"))
                    for c in node["comments"]["nodes"]
                ],
            }
            for node in data["posts"]["nodes"]
        ]
    posts: list[JSON] = []
    for node in data["allPosts"]["nodes"]:
        if "userByAuthorId" not in node:
            posts.append({"title": node["title"]})
            continue
        posts.append(
            {
                "title": node["title"],
                "author": (node["userByAuthorId"] or {}).get("displayName"),
                "tags": sorted(
                    link["tagByTagId"]["name"] for link in node["postTagsByPostId"]["nodes"]
                ),
                "comments": [
                    (c["body"], (c["userByAuthorId"] or {}).get("displayName"))
                    for c in node["commentsByPostId"]["nodes"]
                ],
            }
        )
    return posts
