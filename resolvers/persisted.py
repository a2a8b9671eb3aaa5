"""Persisted queries: Apollo's automatic persisted queries (APQ) and trusted documents.

APQ: a client sends `extensions.persistedQuery { version: 1, sha256Hash }` without the query;
an unknown hash is answered with PERSISTED_QUERY_NOT_FOUND, and the client retries with the
query and the hash, which registers it once it has run (so only valid documents are stored).
Over GET this makes queries short and cacheable by a CDN.

Trusted documents (production): only documents of a manifest loaded at start run, named by hash
or sent in full; anything else is refused with TRUSTED_DOCUMENT_REQUIRED.

The APQ store is an in-memory LRU per process by default and Redis when REDIS_URL is set, so
that a hash registered through one instance is known to all. Redis failures are logged and
treated as a miss: the client then sends the full query, and the request still succeeds.
"""

import hashlib
import json
import logging
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

from anyio import to_thread
from graphql import GraphQLError, strip_ignored_characters
from redis.asyncio import Redis
from redis.exceptions import RedisError

from resolvers.redis_circuit import failure_log_level
from settings import Settings

LOGGER = logging.getLogger("quire.persisted")

PersistedMode = Literal["off", "apq", "trusted"]


def sha256_hex(document: str) -> str:
    return hashlib.sha256(document.encode()).hexdigest()


class PersistedQueryError(GraphQLError):
    def __init__(self, message: str, code: str) -> None:
        super().__init__(message, extensions={"code": code})


class DocumentStore(Protocol):
    async def get(self, sha256: str) -> str | None: ...

    async def put(self, sha256: str, document: str) -> None: ...

    async def close(self) -> None: ...


class MemoryStore:
    """A bounded LRU of hash -> document for one process, bounded in entries and in bytes
    (documents are stored minified, so the bytes are what the documents need)."""

    def __init__(self, max_entries: int, max_bytes: int) -> None:
        self.max_entries, self.max_bytes = max_entries, max_bytes
        self.bytes = 0
        self._documents: OrderedDict[str, str] = OrderedDict()

    async def get(self, sha256: str) -> str | None:
        document = self._documents.get(sha256)
        if document is not None:
            self._documents.move_to_end(sha256)
        return document

    async def put(self, sha256: str, document: str) -> None:
        previous = self._documents.pop(sha256, None)
        self.bytes += _size(document) - (_size(previous) if previous is not None else 0)
        self._documents[sha256] = document
        while len(self._documents) > self.max_entries or self.bytes > self.max_bytes:
            _, evicted = self._documents.popitem(last=False)
            self.bytes -= _size(evicted)

    async def close(self) -> None:
        self._documents.clear()
        self.bytes = 0


def _size(document: str) -> int:
    return len(document.encode())


# Registers a document and evicts the least recently used ones while the store holds more
# entries or bytes than allowed. The sizes are kept beside the documents, so that documents
# that expired (unused for the TTL) stay counted until their index entry is evicted (they are
# the oldest, so they go first): the count is never below what Redis holds.
# KEYS: document, index (hash by last use), sizes (hash -> bytes), total bytes.
# ARGV: document, hash, now, max entries, max bytes, document key prefix, TTL in seconds.
REGISTER_SCRIPT = """
local size = string.len(ARGV[1])
local previous = tonumber(redis.call('HGET', KEYS[3], ARGV[2]) or '0')
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[7])
redis.call('HSET', KEYS[3], ARGV[2], size)
redis.call('INCRBY', KEYS[4], size - previous)
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[2])
while redis.call('ZCARD', KEYS[2]) > tonumber(ARGV[4])
    or tonumber(redis.call('GET', KEYS[4]) or '0') > tonumber(ARGV[5]) do
  local oldest = redis.call('ZPOPMIN', KEYS[2])
  if #oldest == 0 then break end
  local evicted = tonumber(redis.call('HGET', KEYS[3], oldest[1]) or '0')
  redis.call('HDEL', KEYS[3], oldest[1])
  redis.call('DEL', ARGV[6] .. oldest[1])
  redis.call('DECRBY', KEYS[4], evicted)
end
"""


class RedisStore:
    """Documents shared by every instance, expiring when unused for `ttl_seconds`, and
    bounded in entries and bytes across all instances (least recently used evicted)."""

    def __init__(
        self,
        client: "Redis",
        *,
        prefix: str,
        ttl_seconds: int,
        max_entries: int,
        max_bytes: int,
    ) -> None:
        self.client, self.prefix, self.ttl_seconds = client, prefix, ttl_seconds
        self.max_entries, self.max_bytes = max_entries, max_bytes
        self._register = client.register_script(REGISTER_SCRIPT)

    async def get(self, sha256: str) -> str | None:
        try:
            async with self.client.pipeline(transaction=False) as pipeline:
                pipeline.getex(f"{self.prefix}{sha256}", ex=self.ttl_seconds)
                pipeline.zadd(f"{self.prefix}index", {sha256: time.time()}, xx=True)
                found, _ = await pipeline.execute()
        except (RedisError, OSError) as error:
            LOGGER.log(
                failure_log_level(error),
                "persisted-query store unavailable: %s",
                type(error).__name__,
            )
            return None
        return found.decode() if isinstance(found, bytes) else found

    async def put(self, sha256: str, document: str) -> None:
        keys = [f"{self.prefix}{sha256}", *(f"{self.prefix}{n}" for n in STORE_KEYS)]
        arguments: list[str | float | int] = [document, sha256, time.time()]
        arguments += [self.max_entries, self.max_bytes, self.prefix, self.ttl_seconds]
        try:
            await self._register(keys=keys, args=arguments, client=self.client)
        except (RedisError, OSError) as error:
            LOGGER.log(
                failure_log_level(error),
                "persisted-query store unavailable: %s",
                type(error).__name__,
            )

    async def close(self) -> None:
        await self.client.aclose()


# The bookkeeping keys beside the documents (the prefix ends with ':'; hashes are hex).
STORE_KEYS = ("index", "sizes", "bytes")


def load_manifest(path: Path) -> dict[str, str]:
    """A JSON object of sha256 hash -> document, or Apollo's persisted-query manifest
    (`{"format": "apollo-persisted-query-manifest", "operations": [{"id", "body"}]}`).
    Every hash must be the SHA-256 of its document."""
    raw: Any = json.loads(path.read_text())
    if isinstance(raw, dict) and raw.get("format") == "apollo-persisted-query-manifest":
        pairs = [(operation["id"], operation["body"]) for operation in raw["operations"]]
    elif isinstance(raw, dict):
        pairs = list(raw.items())
    else:
        raise ValueError(f"{path}: expected a JSON object of hash -> document")
    documents: dict[str, str] = {}
    for sha256, document in pairs:
        if not isinstance(document, str) or sha256_hex(document) != sha256:
            raise ValueError(f"{path}: {sha256} is not the SHA-256 of its document")
        documents[sha256] = document
    return documents


@dataclass
class ResolvedQuery:
    query: str | None
    # The hash to register once the query has run (APQ registration).
    register: str | None = None


class PersistedQueries:
    def __init__(
        self,
        mode: PersistedMode,
        store: DocumentStore | None = None,
        trusted: dict[str, str] | None = None,
        max_document_bytes: int = 10_000,
    ) -> None:
        self.mode = mode
        self.store = store
        self.trusted = trusted or {}
        self.max_document_bytes = max_document_bytes

    async def resolve(self, query: str | None, extensions: dict[str, Any] | None) -> ResolvedQuery:
        """The document to run for a request, or a PersistedQueryError."""
        sha256 = _requested_hash(extensions)
        if self.mode == "trusted":
            return ResolvedQuery(self._trusted(query, sha256))
        if sha256 is None:
            return ResolvedQuery(query)
        if self.mode == "off" or self.store is None:
            raise PersistedQueryError("PersistedQueryNotSupported", "PERSISTED_QUERY_NOT_SUPPORTED")
        if query is None:
            found = await self.store.get(sha256)
            if found is None:
                raise PersistedQueryError("PersistedQueryNotFound", "PERSISTED_QUERY_NOT_FOUND")
            return ResolvedQuery(found)
        if sha256_hex(query) != sha256:
            raise PersistedQueryError(
                "provided sha256Hash does not match the query", "PERSISTED_QUERY_HASH_MISMATCH"
            )
        return ResolvedQuery(query, register=sha256)

    async def register(self, sha256: str, document: str) -> None:
        """Stores the document minified (a GraphQL comment is not a token: a 1-cost query may
        carry a huge one); a document still over the size bound runs but is not stored, so its
        client keeps sending it in full."""
        if self.store is None:
            return
        # Lexing a whole document takes milliseconds: not on the event loop.
        minified = await to_thread.run_sync(strip_ignored_characters, document)
        if len(minified.encode()) <= self.max_document_bytes:
            await self.store.put(sha256, minified)

    def _trusted(self, query: str | None, sha256: str | None) -> str:
        if query is None and sha256 is not None and sha256 in self.trusted:
            return self.trusted[sha256]
        if (
            query is not None
            and sha256 in (None, sha256_hex(query))
            and (sha256_hex(query) in self.trusted)
        ):
            return query
        raise PersistedQueryError(
            "Only trusted documents run on this server; send the sha256Hash of a document "
            "from its manifest.",
            "TRUSTED_DOCUMENT_REQUIRED",
        )

    async def close(self) -> None:
        if self.store is not None:
            await self.store.close()


def _requested_hash(extensions: dict[str, Any] | None) -> str | None:
    persisted = (extensions or {}).get("persistedQuery")
    if persisted is None:
        return None
    if not isinstance(persisted, dict) or persisted.get("version") != 1:
        raise PersistedQueryError(
            "extensions.persistedQuery must be {version: 1, sha256Hash}",
            "PERSISTED_QUERY_INVALID",
        )
    sha256 = persisted.get("sha256Hash")
    if not isinstance(sha256, str) or len(sha256) != 64:
        raise PersistedQueryError(
            "extensions.persistedQuery.sha256Hash must be a hex SHA-256",
            "PERSISTED_QUERY_INVALID",
        )
    return sha256.lower()


def create_persisted_queries(settings: Settings, redis: "Redis | None") -> PersistedQueries:
    trusted = (
        load_manifest(Path(settings.trusted_documents))
        if settings.trusted_documents is not None
        else None
    )
    store: DocumentStore | None = None
    if settings.persisted_queries == "apq":
        store = (
            RedisStore(
                redis,
                prefix=f"{settings.redis_key_prefix}:apq:",
                ttl_seconds=settings.persisted_query_ttl_seconds,
                max_entries=settings.persisted_query_cache_size,
                max_bytes=settings.persisted_query_cache_bytes,
            )
            if redis is not None
            else MemoryStore(
                settings.persisted_query_cache_size, settings.persisted_query_cache_bytes
            )
        )
    return PersistedQueries(
        settings.persisted_queries,
        store=store,
        trusted=trusted,
        max_document_bytes=settings.persisted_query_max_document_bytes,
    )
