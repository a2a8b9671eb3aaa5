"""Quire's response cache for anonymous reads: encoded response bodies by operation, dropped by
tag when a write changes what they hold (see resolvers/cache_tags.py).

Two stores behind one interface: `MemoryResponses` (this process, the default) and
`RedisResponses` (shared by every instance, when REDIS_URL is set). Both are bounded in bytes,
and both keep a generation counter that every invalidation increments: a read notes the
generation before it runs and its response is stored only if the generation is unchanged, so
a read that overlapped a write never stores what it read before the write.

When Redis fails, the shared cache is bypassed (never served from, never stored to); an
invalidation that could not be delivered makes this instance bypass the cache until it has
dropped every entry (a write it could not announce may have made any of them stale).
"""

import asyncio
import contextlib
import gzip
import logging
import time
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

import brotli
import orjson
from redis.asyncio import Redis
from redis.exceptions import RedisError

from resolvers.cache_purge import PurgeHook
from resolvers.cache_tags import EVERYTHING
from resolvers.observability import RESPONSE_CACHE
from resolvers.redis_circuit import failure_log_level

LOGGER = logging.getLogger("quire.cache")
# Compressing a body this large takes more than a millisecond: it runs in a thread.
THREAD_COMPRESSION_BYTES = 64_000


@dataclass(frozen=True, slots=True)
class CachedResponse:
    """An encoded response body and its compressed forms (None below the size threshold)."""

    body: bytes
    etag: str  # unquoted; the representations add their suffix
    tags: tuple[str, ...]
    gzip: bytes | None = None
    brotli: bytes | None = None

    @property
    def size(self) -> int:
        return len(self.body) + len(self.gzip or b"") + len(self.brotli or b"") + 64

    def encode(self) -> bytes:
        head = orjson.dumps(
            [self.etag, self.tags, len(self.body), len(self.gzip or b""), len(self.brotli or b"")]
        )
        return (
            len(head).to_bytes(4, "big")
            + head
            + self.body
            + (self.gzip or b"")
            + (self.brotli or b"")
        )

    @classmethod
    def decode(cls, raw: bytes) -> "CachedResponse":
        size = int.from_bytes(raw[:4], "big")
        etag, tags, body_size, gzip_size, brotli_size = orjson.loads(raw[4 : 4 + size])
        start = 4 + size
        body = raw[start : start + body_size]
        start += body_size
        gzipped = raw[start : start + gzip_size] if gzip_size else None
        start += gzip_size
        brotlied = raw[start : start + brotli_size] if brotli_size else None
        return cls(body, etag, tuple(tags), gzipped, brotlied)


def compress(
    body: bytes, minimum_bytes: int, only: str | None = None
) -> tuple[bytes | None, bytes | None]:
    """gzip and brotli forms of a body worth compressing (`only`: just that one); both
    deterministic (no timestamp), so equal bodies give equal bytes on every instance."""
    if len(body) < minimum_bytes:
        return None, None
    gzipped = gzip.compress(body, compresslevel=6, mtime=0) if only in (None, "gzip") else None
    brotlied = brotli.compress(body, quality=5) if only in (None, "br") else None
    return gzipped, brotlied


async def prepare(
    body: bytes,
    *,
    etag: str,
    tags: Iterable[str],
    minimum_bytes: int,
    only: str | None = None,
) -> CachedResponse:
    """A response to keep (every encoding), or to serve once (`only` the client's encoding)."""
    if len(body) >= THREAD_COMPRESSION_BYTES:
        gzipped, brotlied = await asyncio.to_thread(compress, body, minimum_bytes, only)
    else:
        gzipped, brotlied = compress(body, minimum_bytes, only)
    return CachedResponse(body, etag, tuple(sorted(tags)), gzipped, brotlied)


class ResponseStore(Protocol):
    async def get(self, key: str) -> CachedResponse | None: ...

    async def generation(self) -> int: ...

    async def put(
        self, key: str, response: CachedResponse, *, generation: int, ttl: int
    ) -> bool: ...

    async def invalidate(self, tags: Iterable[str]) -> None: ...

    async def close(self) -> None: ...


@dataclass(slots=True)
class _Entry:
    response: CachedResponse
    expires_at: float


class MemoryResponses:
    """This process's cache: least recently used entries go first past `max_bytes`."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.bytes = 0
        self.current_generation = 0
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._keys_by_tag: dict[str, set[str]] = {}

    async def get(self, key: str) -> CachedResponse | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry.expires_at <= time.monotonic():
            self._remove(key)
            return None
        self._entries.move_to_end(key)
        return entry.response

    async def generation(self) -> int:
        return self.current_generation

    async def put(self, key: str, response: CachedResponse, *, generation: int, ttl: int) -> bool:
        if generation != self.current_generation or response.size > self.max_bytes:
            return False
        self._remove(key)
        self._entries[key] = _Entry(response, time.monotonic() + ttl)
        self.bytes += response.size
        for tag in response.tags:
            self._keys_by_tag.setdefault(tag, set()).add(key)
        while self.bytes > self.max_bytes:
            self._remove(next(iter(self._entries)))
        return True

    async def invalidate(self, tags: Iterable[str]) -> None:
        self.current_generation += 1
        tags = set(tags)
        if EVERYTHING in tags:
            self._entries.clear()
            self._keys_by_tag.clear()
            self.bytes = 0
            return
        for tag in tags:
            for key in self._keys_by_tag.pop(tag, set()):
                self._remove(key)

    def _remove(self, key: str) -> None:
        entry = self._entries.pop(key, None)
        if entry is None:
            return
        self.bytes -= entry.response.size
        for tag in entry.response.tags:
            keys = self._keys_by_tag.get(tag)
            if keys is not None:
                keys.discard(key)
                if not keys:
                    del self._keys_by_tag[tag]

    async def close(self) -> None:
        self._entries.clear()
        self._keys_by_tag.clear()
        self.bytes = 0


# Stores an entry unless an invalidation came since the read began (the generation moved),
# indexes it under each of its tags and under EVERYTHING, and evicts the oldest entries while
# the cache holds more entries or bytes than allowed. Tag sets expire with their newest entry.
# KEYS: generation, index (key by time stored), sizes (key -> bytes), total bytes.
# ARGV: value, key, generation seen, TTL seconds, now, max entries, max bytes, prefix, tags...
PUT_SCRIPT = """
if (redis.call('GET', KEYS[1]) or '0') ~= ARGV[3] then return 0 end
local prefix = ARGV[8]
local size = string.len(ARGV[1])
local previous = tonumber(redis.call('HGET', KEYS[3], ARGV[2]) or '0')
redis.call('SET', prefix .. 'entry:' .. ARGV[2], ARGV[1], 'EX', ARGV[4])
redis.call('HSET', KEYS[3], ARGV[2], size)
redis.call('INCRBY', KEYS[4], size - previous)
redis.call('ZADD', KEYS[2], ARGV[5], ARGV[2])
for i = 9, #ARGV do
  local tag = prefix .. 'tag:' .. ARGV[i]
  redis.call('SADD', tag, ARGV[2])
  redis.call('EXPIRE', tag, ARGV[4])
end
while redis.call('ZCARD', KEYS[2]) > tonumber(ARGV[6])
    or tonumber(redis.call('GET', KEYS[4]) or '0') > tonumber(ARGV[7]) do
  local oldest = redis.call('ZPOPMIN', KEYS[2])
  if #oldest == 0 then break end
  local evicted = tonumber(redis.call('HGET', KEYS[3], oldest[1]) or '0')
  redis.call('HDEL', KEYS[3], oldest[1])
  redis.call('DEL', prefix .. 'entry:' .. oldest[1])
  redis.call('DECRBY', KEYS[4], evicted)
end
return 1
"""

# Moves the generation on, then drops every entry indexed under one of the tags.
# KEYS: generation, index, sizes, total bytes. ARGV: prefix, tags...
INVALIDATE_SCRIPT = """
redis.call('INCR', KEYS[1])
local prefix = ARGV[1]
for i = 2, #ARGV do
  local tag = prefix .. 'tag:' .. ARGV[i]
  for _, key in ipairs(redis.call('SMEMBERS', tag)) do
    redis.call('DEL', prefix .. 'entry:' .. key)
    local size = tonumber(redis.call('HGET', KEYS[3], key) or '0')
    if redis.call('HDEL', KEYS[3], key) == 1 then redis.call('DECRBY', KEYS[4], size) end
    redis.call('ZREM', KEYS[2], key)
  end
  redis.call('DEL', tag)
end
return 1
"""

BOOKKEEPING = ("generation", "index", "sizes", "bytes")


class RedisResponses:
    """The cache every instance shares, bounded in entries and bytes (oldest stored first
    out). Errors propagate: ResponseCache decides what a failure means."""

    def __init__(self, client: Redis, *, prefix: str, max_entries: int, max_bytes: int) -> None:
        self.client, self.prefix = client, prefix
        self.max_entries, self.max_bytes = max_entries, max_bytes
        self.keys = [f"{prefix}{name}" for name in BOOKKEEPING]
        self._put = client.register_script(PUT_SCRIPT)
        self._invalidate = client.register_script(INVALIDATE_SCRIPT)

    async def get(self, key: str) -> CachedResponse | None:
        raw = await self.client.get(f"{self.prefix}entry:{key}")
        if raw is None:
            return None
        return CachedResponse.decode(raw if isinstance(raw, bytes) else raw.encode("latin-1"))

    async def generation(self) -> int:
        return int(await self.client.get(self.keys[0]) or 0)

    async def put(self, key: str, response: CachedResponse, *, generation: int, ttl: int) -> bool:
        arguments: list[bytes | str | int | float] = [response.encode(), key, generation, ttl]
        arguments += [time.time(), self.max_entries, self.max_bytes, self.prefix]
        arguments += [*response.tags, EVERYTHING]
        stored = await self._put(keys=self.keys, args=arguments, client=self.client)
        return bool(stored)

    async def invalidate(self, tags: Iterable[str]) -> None:
        arguments = [self.prefix, *sorted(set(tags))]
        await self._invalidate(keys=self.keys, args=arguments, client=self.client)

    async def close(self) -> None:
        return None  # the connection pool is the process's, closed with it


class ResponseCache:
    """The store, with the failure rules of the module's docstring and the metrics."""

    def __init__(self, store: ResponseStore) -> None:
        self.store = store
        self.bypass = False  # an invalidation failed: serve nothing until everything is dropped
        self._recovery: asyncio.Task[None] | None = None

    async def get(self, key: str) -> CachedResponse | None:
        if self.bypass:
            RESPONSE_CACHE.labels("bypass").inc()
            return None
        try:
            found = await self.store.get(key)
        except (RedisError, OSError, ValueError) as error:
            _log_failure("read", error)
            RESPONSE_CACHE.labels("bypass").inc()
            return None
        RESPONSE_CACHE.labels("miss" if found is None else "hit").inc()
        return found

    async def generation(self) -> int | None:
        """The generation a read starts at; None when nothing it reads may be stored."""
        if self.bypass:
            return None
        try:
            return await self.store.generation()
        except (RedisError, OSError) as error:
            _log_failure("read", error)
            return None

    async def put(self, key: str, response: CachedResponse, *, generation: int, ttl: int) -> None:
        if self.bypass or ttl <= 0:
            return
        try:
            stored = await self.store.put(key, response, generation=generation, ttl=ttl)
        except (RedisError, OSError) as error:
            _log_failure("store", error)
            return
        RESPONSE_CACHE.labels("stored" if stored else "not_stored").inc()

    async def invalidate(self, tags: Iterable[str]) -> None:
        tags = set(tags)
        if not tags:
            return
        try:
            await self.store.invalidate(tags)
        except (RedisError, OSError) as error:
            _log_failure("invalidate", error)
            self._start_recovery()
            return
        RESPONSE_CACHE.labels("invalidated").inc()

    def _start_recovery(self) -> None:
        self.bypass = True
        if self._recovery is None or self._recovery.done():
            self._recovery = asyncio.create_task(self._recover(), name="quire-cache-recovery")

    async def _recover(self) -> None:
        delay = 0.5
        while True:
            try:
                await self.store.invalidate({EVERYTHING})
            except (RedisError, OSError) as error:
                _log_failure("recover", error)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)
                continue
            self.bypass = False
            LOGGER.warning("response cache emptied after a failed invalidation; serving again")
            return

    async def close(self) -> None:
        if self._recovery is not None:
            self._recovery.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._recovery
        await self.store.close()


class Invalidator:
    """What a write calls after its commit with the tags it changed: they are dropped from
    Quire's cache before the write's response leaves, and queued for the CDN's purge hook."""

    def __init__(self, cache: ResponseCache | None, purge: PurgeHook | None) -> None:
        self.cache, self.purge = cache, purge

    async def changed(self, tags: Iterable[str]) -> None:
        tags = set(tags)
        if self.cache is not None:
            await self.cache.invalidate(tags)
        if self.purge is not None:
            self.purge.enqueue(tags)


async def invalidate(invalidator: Invalidator | None, tags: Iterable[str]) -> None:
    if invalidator is not None:
        await invalidator.changed(tags)


def _log_failure(action: str, error: Exception) -> None:
    LOGGER.log(failure_log_level(error), "response cache %s failed: %s", action, type(error))
