"""Warm-up: the assistant is ready only once the embedder of the active index is loaded.

A query is embedded by the embedder that built the active collection. The local MiniLM
model loads on its first use (seconds of CPU: about 9 s on two cores), which would
otherwise happen inside the first search or chat reply and could push that reply past
`CHAT_TIMEOUT_S`. A background task loads it as soon as an active index exists (and
again after a rebuild switches to another embedder); `/readyz` reports `embedder` as
failed until then. With no active index yet there is nothing to load: ready.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from fastapi import FastAPI

from assistant.search import SearchService
from marcus_search import EmbedderUnavailable

log = logging.getLogger("assistant.warmup")

POLL_S = 1.0
"""How often the active index is looked up (one Redis GET) to warm a new embedder."""


class NotWarm(Exception):
    """The active index's embedder is still loading."""


class Warmup:
    def __init__(self, search: SearchService) -> None:
        self.search = search
        self.warmed: set[tuple[str, int]] = set()

    async def _active_key(self) -> tuple[str, int] | None:
        active = await self.search.alias.read()
        if active is None:
            return None
        return active.name.kind, active.name.dimension

    async def warm(self) -> None:
        """Load the active index's embedder if it is not loaded yet."""
        key = await self._active_key()
        if key is None or key in self.warmed:
            return
        try:
            embedder = self.search.embedders.for_collection(*key)
        except EmbedderUnavailable as exc:  # search answers 503 with the reason anyway
            log.warning("the active index's embedder cannot run here: %s", exc)
            self.warmed.add(key)
            return
        warm_up = getattr(embedder, "warm_up", None)
        if warm_up is not None:  # a local model: load it, then one encode (lazy kernels)
            started = time.monotonic()
            await warm_up()
            await embedder.embed(["warm up"])
            log.info("embedder %s loaded in %.1f s", embedder.name, time.monotonic() - started)
        self.warmed.add(key)

    async def check(self) -> None:
        """The readiness check: raises while the active index's embedder is loading."""
        key = await self._active_key()
        if key is not None and key not in self.warmed:
            raise NotWarm(f"embedder for {key[0]}/{key[1]} is loading")

    async def run(self, app: FastAPI, stop: asyncio.Event) -> None:
        """Background task: warm now, then whenever the active index changes."""
        while not stop.is_set():
            try:
                await self.warm()
            except Exception as exc:  # Redis away or a load failure: try again
                log.warning("embedder warm-up failed, retrying: %r", exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), POLL_S)
