"""Locust traffic against a Quire deployment: readers, authors and mobile clients.

    locust -f bench/locustfile.py --host https://quire.example.com           # web UI on :8089
    locust -f bench/locustfile.py --headless -u 50 -r 5 -t 2m --host http://127.0.0.1:8000

- Reader (most traffic): pages through the feed with endCursor, opens posts by slug with their
  comments and replies, searches, browses tags and a tag's posts.
- Author: logs in with QUIRE_LOCUST_AUTHOR / QUIRE_LOCUST_PASSWORD (an author, editor or admin
  account: `quire create-admin`), writes drafts, edits them with the updatedAt it saw, publishes
  some and deletes others; on TOKEN_EXPIRED it refreshes the token and retries. Without those
  variables the Author class is left out.
- Mobile: automatic persisted queries. The first request sends only the sha256Hash; on
  PersistedQueryNotFound it sends the query with the hash, and from then on GET by hash (the
  request a CDN could cache).

A response counts as a failure when it is not HTTP 200 JSON, or carries GraphQL `errors` (or a
mutation payload's `errors`), except the PersistedQueryNotFound that APQ expects and the
TOKEN_EXPIRED that the author answers by refreshing. Requests are named by operation, so the
statistics read per operation. Rate limits count per client address: run with
QUIRE_RATE_LIMIT_ENABLED=false, or expect 429s once one address exceeds its budget.
"""

import hashlib
import json
import logging
import os
import random
import uuid
from collections.abc import Mapping
from typing import Any

from locust import FastHttpUser, between, task

JSON = dict[str, Any]
ENDPOINT = "/graphql"
AUTHOR = os.environ.get("QUIRE_LOCUST_AUTHOR")
PASSWORD = os.environ.get("QUIRE_LOCUST_PASSWORD")
EXPECTED = frozenset({"PERSISTED_QUERY_NOT_FOUND", "TOKEN_EXPIRED"})
SEARCH_WORDS = ["system", "design", "python", "data", "learning", "team", "history", "world"]

FEED = """
query Feed($first: Int!, $after: String) {
  posts(first: $first, after: $after) {
    pageInfo { hasNextPage endCursor }
    nodes {
      id title slug excerpt publishedAt readingTimeMinutes commentCount
      author { username displayName }
      tags { name slug }
    }
  }
}
"""

POST = """
query Post($slug: String!) {
  post(slug: $slug) {
    id title html publishedAt updatedAt readingTimeMinutes
    author { username displayName avatarUrl }
    tags { name slug }
    commentCount
    comments(first: 10) {
      pageInfo { hasNextPage endCursor }
      nodes {
        id body createdAt author { displayName }
        replies(first: 5) { nodes { id body createdAt author { displayName } } }
      }
    }
  }
}
"""

SEARCH = """
query Search($query: String!, $after: String) {
  search(query: $query, first: 10, after: $after) {
    pageInfo { hasNextPage endCursor }
    nodes { title slug excerpt author { displayName } }
  }
}
"""

TAGS = """
query Tags {
  tags(first: 50) { nodes { name slug postCount } }
}
"""

TAG = """
query Tag($slug: String!) {
  tag(slug: $slug) {
    name postCount
    posts(first: 10) { nodes { title slug publishedAt author { displayName } } }
  }
}
"""

LOG_IN = """
mutation LogIn($input: LogInInput!) {
  logIn(input: $input) { accessToken refreshToken errors { field code message } }
}
"""

REFRESH = """
mutation Refresh($refreshToken: String!) {
  refreshToken(refreshToken: $refreshToken) { accessToken refreshToken errors { code message } }
}
"""

CREATE_POST = """
mutation CreatePost($input: CreatePostInput!) {
  createPost(input: $input) { post { id slug status updatedAt } errors { field code message } }
}
"""

UPDATE_POST = """
mutation UpdatePost($input: UpdatePostInput!) {
  updatePost(input: $input) { post { id updatedAt } errors { field code message } }
}
"""

PUBLISH_POST = """
mutation PublishPost($id: ID!) {
  publishPost(id: $id) { post { id status publishedAt } errors { field code message } }
}
"""

DELETE_POST = """
mutation DeletePost($id: ID!) { deletePost(id: $id) { deletedId } }
"""

MY_POSTS = """
query MyPosts { me { username posts(first: 10) { nodes { id title status updatedAt } } } }
"""

# Short documents a mobile app ships, sent by hash.
MOBILE_FEED = """
query MobileFeed($after: String) {
  posts(first: 10, after: $after) {
    pageInfo { hasNextPage endCursor }
    nodes { id title slug excerpt commentCount author { displayName } }
  }
}
"""

MOBILE_POST = """
query MobilePost($slug: String!) {
  post(slug: $slug) { id title html commentCount comments(first: 5) { nodes { body } } }
}
"""


class GraphQLFailure(Exception):
    """A response Locust should count as failed; the message says why."""


def sha256(document: str) -> str:
    return hashlib.sha256(document.encode()).hexdigest()


def error_codes(body: Mapping[str, Any]) -> list[str]:
    return [
        str((error.get("extensions") or {}).get("code", error.get("message", "?")))
        for error in body.get("errors") or []
    ]


def payload_errors(data: Mapping[str, Any] | None) -> list[str]:
    """The `errors { code }` of mutation payloads (problems the user could fix)."""
    found: list[str] = []
    for payload in (data or {}).values():
        if isinstance(payload, dict):
            found += [str(error.get("code")) for error in payload.get("errors") or []]
    return found


class GraphQLUser(FastHttpUser):
    abstract = True
    # Post and tag slugs seen in responses, shared by every simulated user in this process.
    seen_slugs: list[str] = []
    seen_tags: list[str] = []

    def operation(
        self,
        name: str,
        query: str | None,
        variables: JSON | None = None,
        *,
        token: str | None = None,
        extensions: JSON | None = None,
        method: str = "POST",
    ) -> tuple[JSON | None, list[str]]:
        """One GraphQL request: the data and the error codes. Unexpected errors, a non-200
        status or a body that is not JSON mark the request as failed."""
        headers = {"accept": "application/json", "x-request-id": f"locust-{uuid.uuid4().hex}"}
        if token:
            headers["authorization"] = f"Bearer {token}"
        if method == "GET":
            params = {"variables": json.dumps(variables or {}, separators=(",", ":"))}
            if extensions is not None:
                params["extensions"] = json.dumps(extensions, separators=(",", ":"))
            if query is not None:
                params["query"] = query
            request = self.client.get(
                ENDPOINT, params=params, headers=headers, name=name, catch_response=True
            )
        else:
            body: JSON = {"variables": variables or {}}
            if query is not None:
                body["query"] = query
            if extensions is not None:
                body["extensions"] = extensions
            request = self.client.post(
                ENDPOINT, json=body, headers=headers, name=name, catch_response=True
            )
        with request as response:
            try:
                try:
                    result = response.json()
                except (ValueError, TypeError):
                    text = (response.text or "")[:100]
                    raise GraphQLFailure(f"HTTP {response.status_code}, not JSON: {text}") from None
                if response.status_code != 200:
                    # By code, not message, so that the error report groups them.
                    summary = ", ".join(error_codes(result)) or "no GraphQL errors"
                    raise GraphQLFailure(f"HTTP {response.status_code}: {summary}")
                codes = error_codes(result)
                unexpected = [code for code in codes if code not in EXPECTED]
                data = result.get("data")
                unexpected += payload_errors(data)
                if unexpected:
                    raise GraphQLFailure(f"errors: {', '.join(unexpected)}")
            except GraphQLFailure as failure:
                response.failure(str(failure))
                return None, ["FAILED"]
            response.success()
            return data, codes

    def remember(self, nodes: list[JSON]) -> None:
        for node in nodes:
            if node.get("slug"):
                self.seen_slugs.append(node["slug"])
            for tag in node.get("tags") or []:
                self.seen_tags.append(tag["slug"])
        # Keep the shared pools bounded.
        del self.seen_slugs[:-500]
        del self.seen_tags[:-200]


class Reader(GraphQLUser):
    """An anonymous visitor of the site."""

    weight = 10
    wait_time = between(1, 4)

    @task(5)
    def read_the_feed(self) -> None:
        after: str | None = None
        for _page in range(random.choice((1, 1, 2, 3))):
            data, _ = self.operation("Feed", FEED, {"first": 10, "after": after})
            if not data:
                return
            posts = data["posts"]
            self.remember(posts["nodes"])
            if not posts["pageInfo"]["hasNextPage"]:
                return
            after = posts["pageInfo"]["endCursor"]

    @task(4)
    def open_a_post(self) -> None:
        if not self.seen_slugs:
            self.read_the_feed()
            return
        data, _ = self.operation("Post", POST, {"slug": random.choice(self.seen_slugs)})
        if data and data["post"]:
            self.remember([data["post"]])

    @task(2)
    def search(self) -> None:
        words = random.choice(SEARCH_WORDS)
        data, _ = self.operation("Search", SEARCH, {"query": words})
        page = data["search"] if data else None
        if page and page["pageInfo"]["hasNextPage"] and random.random() < 0.3:
            variables = {"query": words, "after": page["pageInfo"]["endCursor"]}
            self.operation("Search (next page)", SEARCH, variables)

    @task(1)
    def browse_tags(self) -> None:
        tags = self.seen_tags
        if not tags or random.random() < 0.3:
            data, _ = self.operation("Tags", TAGS)
            tags = [tag["slug"] for tag in (data or {}).get("tags", {}).get("nodes", [])]
        if tags:
            self.operation("Tag", TAG, {"slug": random.choice(tags)})


class Author(GraphQLUser):
    """A writer at work: drafts, edits, publishes."""

    weight = 1
    wait_time = between(2, 6)
    abstract = not (AUTHOR and PASSWORD)  # no credentials: no authors
    if abstract:
        logging.getLogger(__name__).warning(
            "QUIRE_LOCUST_AUTHOR / QUIRE_LOCUST_PASSWORD are unset: no Author users run"
        )

    access_token: str | None = None
    refresh_token: str | None = None
    drafts: list[JSON]

    def on_start(self) -> None:
        self.drafts = []
        self.log_in()

    def log_in(self) -> None:
        variables = {"input": {"usernameOrEmail": AUTHOR, "password": PASSWORD}}
        data, _ = self.operation("LogIn", LOG_IN, variables)
        session = (data or {}).get("logIn") or {}
        self.access_token = session.get("accessToken")
        self.refresh_token = session.get("refreshToken")

    def refresh(self) -> None:
        if self.refresh_token is None:
            self.log_in()
            return
        data, _ = self.operation("RefreshToken", REFRESH, {"refreshToken": self.refresh_token})
        session = (data or {}).get("refreshToken") or {}
        if session.get("accessToken"):
            self.access_token = session["accessToken"]
            self.refresh_token = session["refreshToken"]
        else:
            self.log_in()

    def signed_in(self, name: str, query: str, variables: JSON | None = None) -> JSON | None:
        """An operation with the access token, refreshed once when it has expired."""
        if self.access_token is None:
            self.log_in()
        data, codes = self.operation(name, query, variables, token=self.access_token)
        if "TOKEN_EXPIRED" in codes:
            self.refresh()
            data, codes = self.operation(name, query, variables, token=self.access_token)
        return data

    @task(3)
    def write_a_draft(self) -> None:
        number = random.randrange(1_000_000)
        body = "\n\n".join(
            f"Paragraph {i} of draft {number}: load testing Quire with Locust." for i in range(8)
        )
        variables = {
            "input": {
                "title": f"Load test draft {number}",
                "body": f"# Draft {number}\n\n{body}",
                "tags": random.sample(["locust", "load-test", "python", "graphql"], 2),
            }
        }
        data = self.signed_in("CreatePost", CREATE_POST, variables)
        post = ((data or {}).get("createPost") or {}).get("post")
        if post:
            self.drafts.append(post)

    @task(3)
    def edit_a_draft(self) -> None:
        if not self.drafts:
            return
        draft = random.choice(self.drafts)
        variables = {
            "input": {
                "id": draft["id"],
                "updatedAt": draft["updatedAt"],
                "body": f"# Edited\n\nRevised at random {random.random()}.",
            }
        }
        data = self.signed_in("UpdatePost", UPDATE_POST, variables)
        post = ((data or {}).get("updatePost") or {}).get("post")
        if post:
            draft["updatedAt"] = post["updatedAt"]

    @task(1)
    def publish_or_discard(self) -> None:
        if not self.drafts:
            return
        draft = self.drafts.pop(random.randrange(len(self.drafts)))
        if random.random() < 0.5:
            self.signed_in("PublishPost", PUBLISH_POST, {"id": draft["id"]})
        else:
            self.signed_in("DeletePost", DELETE_POST, {"id": draft["id"]})

    @task(1)
    def my_posts(self) -> None:
        self.signed_in("MyPosts", MY_POSTS)


class Mobile(GraphQLUser):
    """The mobile app: automatic persisted queries, by hash over GET once registered."""

    weight = 4
    wait_time = between(1, 3)
    registered: set[str]

    def on_start(self) -> None:
        self.registered = set()

    def persisted(self, name: str, document: str, variables: JSON) -> JSON | None:
        digest = sha256(document)
        extensions = {"persistedQuery": {"version": 1, "sha256Hash": digest}}
        if digest in self.registered:
            data, codes = self.operation(
                f"{name} (APQ GET)", None, variables, extensions=extensions, method="GET"
            )
        else:
            data, codes = self.operation(
                f"{name} (APQ hash)", None, variables, extensions=extensions
            )
        if "PERSISTED_QUERY_NOT_FOUND" in codes:
            # Unknown here (first use, or evicted): send the document along with its hash.
            data, codes = self.operation(
                f"{name} (APQ register)", document, variables, extensions=extensions
            )
        if data is not None:
            self.registered.add(digest)
        return data

    @task(3)
    def scroll_the_feed(self) -> None:
        after: str | None = None
        for _page in range(random.choice((1, 2))):
            data = self.persisted("MobileFeed", MOBILE_FEED, {"after": after})
            if not data:
                return
            self.remember(data["posts"]["nodes"])
            after = data["posts"]["pageInfo"]["endCursor"]
            if not data["posts"]["pageInfo"]["hasNextPage"]:
                return

    @task(2)
    def open_a_post(self) -> None:
        if self.seen_slugs:
            self.persisted("MobilePost", MOBILE_POST, {"slug": random.choice(self.seen_slugs)})
        else:
            self.scroll_the_feed()
