"""The CDN purge hook: after each write, the tags it changed are POSTed as `{"tags": [...]}` to
QUIRE_CACHE_PURGE_URL (Cloudflare's purge-by-tag endpoint takes exactly this body; a small
adapter suits Fastly or another CDN), with QUIRE_CACHE_PURGE_AUTHORIZATION as the
Authorization header.

A write never waits for it: the tags go into a bounded queue that one background task empties,
merging what has piled up into one call, and retrying a failed call with backoff. When the
queue is full the oldest tags are dropped (logged and counted): the CDN then serves those
responses until their CDN max age runs out.
"""

import asyncio
import contextlib
import logging
from collections.abc import Iterable

import httpx

from resolvers.observability import CACHE_PURGES

LOGGER = logging.getLogger("quire.cache")
# Tags per call: CDNs bound how many one purge request may name (Cloudflare: 30 to 100).
TAGS_PER_CALL = 30


class PurgeHook:
    def __init__(
        self,
        url: str,
        *,
        authorization: str | None,
        max_pending: int = 1_000,
        attempts: int = 4,
        first_delay: float = 0.5,
        timeout: float = 5.0,
    ) -> None:
        self.url = url
        self.headers = {"authorization": authorization} if authorization else {}
        self.max_pending, self.attempts, self.first_delay = max_pending, attempts, first_delay
        self.pending: dict[str, None] = {}  # ordered: the oldest tags are dropped first
        self.wake = asyncio.Event()
        self.client = httpx.AsyncClient(timeout=timeout)
        self.task: asyncio.Task[None] | None = None

    def enqueue(self, tags: Iterable[str]) -> None:
        for tag in tags:
            self.pending.pop(tag, None)
            self.pending[tag] = None
        while len(self.pending) > self.max_pending:
            del self.pending[next(iter(self.pending))]
            CACHE_PURGES.labels("dropped").inc()
            LOGGER.warning("CDN purge queue full: the oldest tag was dropped")
        self.wake.set()

    def start(self) -> None:
        self.task = asyncio.create_task(self._run(), name="quire-cache-purge")

    async def _run(self) -> None:
        while True:
            await self.wake.wait()
            self.wake.clear()
            while self.pending:
                batch = list(self.pending)[:TAGS_PER_CALL]
                for tag in batch:
                    del self.pending[tag]
                await self._send(batch)

    async def _send(self, tags: list[str]) -> None:
        delay = self.first_delay
        for attempt in range(1, self.attempts + 1):
            try:
                response = await self.client.post(
                    self.url, json={"tags": tags}, headers=self.headers
                )
                response.raise_for_status()
            except httpx.HTTPError as error:
                # Never the URL's query or the headers: they may hold credentials.
                LOGGER.warning("CDN purge attempt %d failed: %s", attempt, type(error).__name__)
                if attempt < self.attempts:
                    await asyncio.sleep(delay)
                    delay *= 2
                continue
            CACHE_PURGES.labels("sent").inc()
            return
        CACHE_PURGES.labels("failed").inc()

    async def close(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task
        await self.client.aclose()
