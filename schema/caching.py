"""Caching of public reads over HTTP and in Quire's response cache.

A read is public when nobody is signed in (no credentials, preview token or request for
extensions.sql are sent), it is a query, every root field it asks for is in
PUBLIC_ROOT_FIELDS (never `me` or `apiLimits`, which depend on who asks), and it ran without
an error. Public reads are:
- stored in Quire's response cache (GET and POST), keyed by the document (or its persisted
  hash), the operation name, the variables and the media type, and answered from there with no
  parsing, validation or SQL until a write drops them (resolvers/response_cache.py);
- over GET, cacheable by browsers and CDNs: `Cache-Control: public` with max-age and
  stale-while-revalidate, a CDN max age in its own header, a strong ETag per encoding (304 for
  a matching If-None-Match), `Vary`, and the cache tags of what the response holds.
Everything else is `Cache-Control: private, no-store`.

Public bodies of 1 KB and more are compressed once, when stored: brotli or gzip as the
client's Accept-Encoding allows (each with its own ETag); private ones are gzipped per request.
"""

import gzip
import hashlib
import importlib.metadata
import math
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import orjson
from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
)
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from strawberry.extensions import SchemaExtension
from strawberry.schema.base import BaseSchema
from strawberry.types.graphql import OperationType

from resolvers.cache_tags import EVERYTHING
from resolvers.context import Context
from resolvers.events import PublishScheduler
from resolvers.response_cache import CachedResponse, ResponseCache, prepare
from schema.responses import GRAPHQL_RESPONSE_JSON, accepts_graphql_response, outcomes_of
from settings import Settings

# Root fields whose answer is the same for every anonymous caller.
PUBLIC_ROOT_FIELDS = frozenset(
    {
        "posts",
        "post",
        "authors",
        "author",
        "tags",
        "tag",
        "search",
        "node",
        "nodes",
        "__typename",
        "__schema",
        "__type",
    }
)
SQL_REPORT_HEADER = "x-quire-sql-report"
# Headers that make an answer the caller's own (credentials, or extensions.sql with this
# request's timings): a request with one is never answered from, or stored in, a cache.
PERSONAL_HEADERS = ("authorization", "x-preview-token", "cookie", SQL_REPORT_HEADER)
PRIVATE = "private, no-store"
# CDNs bound the tag header (Fastly and Cloudflare: 16 KB); a response whose tags do not fit
# is left to browsers (max-age) rather than cached at the CDN without a way to purge it.
MAX_TAG_HEADER_BYTES = 16_000
# Changes whenever how a body is encoded changes: entries of an older layout are never read.
KEY_VERSION = "1"


# The settings that decide whether a read runs or what it returns: instances that differ in
# them never answer each other's reads from a shared cache (a hit skips every check).
KEYED_SETTINGS = frozenset(
    {
        "env",
        "introspection",
        "suggestions",
        "persisted_queries",
        "trusted_documents",
        "max_query_depth",
        "max_query_aliases",
        "max_query_directives",
        "max_repeated_fields",
        "max_query_cost",
        "max_query_tokens",
        "max_query_bytes",
        "max_query_operations",
        "max_query_fragments",
        "max_variable_depth",
        "max_variable_values",
        "default_page_size",
        "max_page_size",
        "max_search_characters",
        "max_search_words",
    }
)


def schema_fingerprint(schema: BaseSchema, settings: Settings) -> str:
    """Part of every cache key: a deployment that changes the schema, Quire's version or the
    settings that decide what a read returns never reads what another stored in a shared
    cache."""
    try:
        version = importlib.metadata.version("quire")
    except importlib.metadata.PackageNotFoundError:
        version = "unknown"
    keyed = orjson.dumps(
        settings.model_dump(include=set(KEYED_SETTINGS)), option=orjson.OPT_SORT_KEYS
    )
    material = f"{version}\n{schema.as_str()}\n".encode() + keyed
    return hashlib.sha256(material).hexdigest()[:16]


class ReadScope(SchemaExtension):
    """Marks the context of a query whose root fields are all public (see the docstring)."""

    def on_execute(self) -> Iterator[None]:
        context = self.execution_context
        quire = context.context
        if isinstance(quire, Context):
            document = context.graphql_document
            operation = _operation(document, context.operation_name)
            quire.public_read = (
                context.operation_type is OperationType.QUERY
                and operation is not None
                and _root_fields(operation.selection_set, _fragments(document), set())
                <= PUBLIC_ROOT_FIELDS
            )
        yield


def _operation(document: Any, name: str | None) -> OperationDefinitionNode | None:
    for definition in getattr(document, "definitions", ()):
        if isinstance(definition, OperationDefinitionNode) and (
            name is None or (definition.name is not None and definition.name.value == name)
        ):
            return definition
    return None


def _fragments(document: Any) -> dict[str, FragmentDefinitionNode]:
    return {
        definition.name.value: definition
        for definition in getattr(document, "definitions", ())
        if isinstance(definition, FragmentDefinitionNode)
    }


def _root_fields(
    selections: SelectionSetNode, fragments: dict[str, FragmentDefinitionNode], seen: set[str]
) -> set[str]:
    names: set[str] = set()
    for selection in selections.selections:
        if isinstance(selection, FieldNode):
            names.add(selection.name.value)
        elif isinstance(selection, InlineFragmentNode):
            names |= _root_fields(selection.selection_set, fragments, seen)
        elif isinstance(selection, FragmentSpreadNode) and selection.name.value not in seen:
            seen.add(selection.name.value)
            fragment = fragments.get(selection.name.value)
            if fragment is not None:
                names |= _root_fields(fragment.selection_set, fragments, seen)
    return names


@dataclass(frozen=True, slots=True)
class Lookup:
    """A request Quire's cache may answer: its key and the generation its read starts at."""

    key: str
    generation: int | None


def is_anonymous(request: Request) -> bool:
    return not any(request.headers.get(name) for name in PERSONAL_HEADERS)


async def operation_key(request: Request, *, fingerprint: str) -> str | None:
    """The cache key of a well-formed single-operation request; None otherwise (a malformed
    one goes to Strawberry, which answers it with the right error)."""
    if request.method == "GET":
        params: Any = request.query_params
        variables = params.get("variables")
        extensions = params.get("extensions")
        try:
            variables = orjson.loads(variables) if variables else None
            extensions = orjson.loads(extensions) if extensions else None
        except orjson.JSONDecodeError:
            return None
    elif request.method == "POST":
        try:
            params = orjson.loads(await request.body())
        except orjson.JSONDecodeError:
            return None
        if not isinstance(params, dict):
            return None  # a batch
        variables, extensions = params.get("variables"), params.get("extensions")
    else:
        return None
    query, name = params.get("query"), params.get("operationName")
    well_formed = (
        isinstance(query, str | None)
        and isinstance(name, str | None)
        and isinstance(variables, dict | None)
        and isinstance(extensions, dict | None)
    )
    if not well_formed:
        return None
    persisted = extensions.get("persistedQuery") if isinstance(extensions, dict) else None
    material = [
        KEY_VERSION,
        fingerprint,
        GRAPHQL_RESPONSE_JSON if accepts_graphql_response(request) else "application/json",
        query,
        name,
        variables,
        persisted.get("sha256Hash") if isinstance(persisted, dict) else None,
    ]
    try:
        encoded = orjson.dumps(material, option=orjson.OPT_SORT_KEYS)
    except TypeError:
        return None
    return hashlib.sha256(encoded).hexdigest()


def accepted_encoding(request: Request, cached: CachedResponse) -> str | None:
    """br or gzip when the client accepts it and the body was compressed; None: identity."""
    available = [name for name in ("br", "gzip") if getattr(cached, ENCODED[name]) is not None]
    return preferred_encoding(request.headers.get("accept-encoding", ""), available)


ENCODED = {"br": "brotli", "gzip": "gzip"}


def preferred_encoding(accept_encoding: str, available: list[str]) -> str | None:
    """The first of `available` (in order of preference) the Accept-Encoding header allows
    (q-values and `*` honoured); None: identity."""
    accepted: dict[str, float] = {}
    for part in accept_encoding.lower().split(","):
        name, _, parameters = part.strip().partition(";")
        quality = 1.0
        if parameters.strip().startswith("q="):
            try:
                quality = float(parameters.strip()[2:])
            except ValueError:
                quality = 0.0
        accepted[name.strip()] = quality
    wildcard = accepted.get("*", 0.0)
    return next((name for name in available if accepted.get(name, wildcard) > 0), None)


def compress_private(request: Request, response: Response, minimum_bytes: int) -> None:
    """gzip for a private response the client accepts it for (per request: nothing is kept)."""
    if isinstance(response, StreamingResponse) or "content-encoding" in response.headers:
        return  # a stream (subscriptions over HTTP) is sent as it comes
    body = bytes(response.body)
    if len(body) < minimum_bytes:
        return
    response.headers["vary"] = "Accept-Encoding"
    if preferred_encoding(request.headers.get("accept-encoding", ""), ["gzip"]) is None:
        return
    response.body = gzip.compress(body, compresslevel=6, mtime=0)
    response.headers["content-encoding"] = "gzip"
    response.headers["content-length"] = str(len(response.body))


def _matches(if_none_match: str, etag: str) -> bool:
    if if_none_match.strip() == "*":
        return True
    candidates = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
    return etag in candidates


class HttpCaching:
    """Decides the caching of every GraphQL response (see the module's docstring)."""

    def __init__(
        self,
        settings: Settings,
        *,
        cache: ResponseCache | None,
        scheduler: PublishScheduler | None,
        fingerprint: str,
    ) -> None:
        self.settings = settings
        self.cache = cache
        self.scheduler = scheduler
        self.fingerprint = fingerprint
        # CORSMiddleware adds Origin itself wherever the allowed origins are a list.
        self.vary = "Accept, Accept-Encoding"
        self.tag_separator = " " if settings.cache_tag_header.lower() == "surrogate-key" else ","

    async def lookup(self, request: Request) -> tuple[Lookup | None, CachedResponse | None]:
        """The request's cache entry, if Quire's cache may answer it and holds one."""
        if self.cache is None or not is_anonymous(request):
            return None, None
        key = await operation_key(request, fingerprint=self.fingerprint)
        if key is None:
            return None, None
        found = await self.cache.get(key)
        if found is not None:
            return Lookup(key, None), found
        return Lookup(key, await self.cache.generation()), None

    async def finish(
        self,
        request: Request,
        response: Response,
        *,
        context: Context | None,
        lookup: Lookup | None,
        tags: set[str],
    ) -> Response:
        """A response that ran: stored and served as public when it may be, else private."""
        public = self._public_read(request, response, context)
        stored = public and self.cache is not None and lookup is not None
        if not public or (request.method != "GET" and not stored):
            response.headers["cache-control"] = PRIVATE
            if response.media_type != "text/html":
                compress_private(request, response, self.settings.compression_minimum_bytes)
            return response
        body = bytes(response.body)
        etag = hashlib.sha256(body).hexdigest()[:32]
        minimum = self.settings.compression_minimum_bytes
        if self.cache is None or lookup is None or lookup.generation is None:
            # Not kept: only the encoding this client takes is worth the work.
            wanted = preferred_encoding(request.headers.get("accept-encoding", ""), ["br", "gzip"])
            cached = await prepare(
                body,
                etag=etag,
                tags={*tags, EVERYTHING},
                minimum_bytes=minimum,
                only=wanted or "identity",
            )
            return self.serve(request, cached, source="miss")
        cached = await prepare(body, etag=etag, tags={*tags, EVERYTHING}, minimum_bytes=minimum)
        ttl = self._capped(self.settings.response_cache_ttl_seconds)
        await self.cache.put(lookup.key, cached, generation=lookup.generation, ttl=ttl)
        return self.serve(request, cached, source="miss")

    def _public_read(self, request: Request, response: Response, context: Context | None) -> bool:
        outcomes = outcomes_of(request)
        return (
            context is not None
            and context.public_read
            and context.viewer.user_id is None
            and not context.private
            and not context.preview
            and is_anonymous(request)
            and response.status_code == 200
            and len(outcomes) == 1
            and outcomes[0].executed
            and not outcomes[0].errors
        )

    def serve(self, request: Request, cached: CachedResponse, *, source: str) -> Response:
        encoding = accepted_encoding(request, cached)
        body = {"br": cached.brotli, "gzip": cached.gzip}.get(encoding or "") or cached.body
        etag = f'"{cached.etag}-{encoding}"' if encoding else f'"{cached.etag}"'
        media_type = (
            GRAPHQL_RESPONSE_JSON if accepts_graphql_response(request) else "application/json"
        )
        headers = {"etag": etag, "vary": self.vary, "x-quire-cache": source}
        if encoding is not None:
            headers["content-encoding"] = encoding
        headers.update(self._freshness(request, cached))
        if request.method == "GET" and _matches(request.headers.get("if-none-match", ""), etag):
            headers.pop("content-encoding", None)
            return Response(status_code=304, headers=headers)
        return Response(body, status_code=200, headers=headers, media_type=media_type)

    def _freshness(self, request: Request, cached: CachedResponse) -> dict[str, str]:
        if request.method != "GET":
            return {"cache-control": PRIVATE}
        settings = self.settings
        max_age = self._capped(settings.cache_max_age_seconds)
        stale = settings.cache_stale_while_revalidate_seconds
        headers = {"cache-control": f"public, max-age={max_age}, stale-while-revalidate={stale}"}
        tag_header = self.tag_separator.join(cached.tags)
        if len(tag_header) <= MAX_TAG_HEADER_BYTES:
            cdn_age = self._capped(settings.cache_cdn_max_age_seconds)
            headers[settings.cache_cdn_control_header.lower()] = f"max-age={cdn_age}"
            headers[settings.cache_tag_header.lower()] = tag_header
        return headers

    def _capped(self, seconds: int) -> int:
        """No cache may keep a list past the next scheduled publication: it changes then."""
        due = self.scheduler.next_due() if self.scheduler is not None else None
        if due is None:
            return seconds
        return max(0, min(seconds, math.floor(due - time.time())))
