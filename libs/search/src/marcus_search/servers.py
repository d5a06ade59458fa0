"""The Chroma servers that hold product collections: the main one and, optionally, an
alternate (ADR 0035).

A local Chroma server applies writes, drops and reads one at a time in one component,
so a rebuild writing into the server that answers searches makes them wait. With an
alternate server configured, a rebuild builds on whichever server does not hold the
active collection, and after the switch the old collection is dropped on the server
that no longer answers searches. Each collection's name says its server
(`CollectionName.server`), so the indexer and the assistant need no other record.
"""

from __future__ import annotations

import asyncio

from marcus_search.chroma import AsyncClientAPI, connect
from marcus_search.naming import ALT, MAIN, CollectionName


class IndexServers:
    """Clients of the main Chroma server and, when configured, the alternate one;
    each is connected on first use and kept."""

    def __init__(
        self, main_url: str, alt_url: str | None = None, *, max_connections: int | None = None
    ) -> None:
        if alt_url and alt_url.rstrip("/") == main_url.rstrip("/"):
            raise ValueError(
                f"CHROMA_ALT_URL must name another Chroma server than CHROMA_URL ({main_url})"
            )
        self._urls = {MAIN: main_url} | ({ALT: alt_url} if alt_url else {})
        self._max_connections = max_connections
        self._clients: dict[str, AsyncClientAPI] = {}
        self._connecting = asyncio.Lock()

    @classmethod
    def of(cls, main: AsyncClientAPI, alt: AsyncClientAPI | None = None) -> IndexServers:
        """The servers behind clients already connected (tools and tests)."""
        servers = cls("main", "alt" if alt is not None else None)
        servers._clients = {MAIN: main} | ({ALT: alt} if alt is not None else {})
        return servers

    @property
    def has_alt(self) -> bool:
        return ALT in self._urls

    async def client(self, server: str = MAIN) -> AsyncClientAPI:
        if server not in self._urls:
            raise LookupError(
                f"a collection on the Chroma server {server!r}, but CHROMA_ALT_URL is not set"
            )
        client = self._clients.get(server)
        if client is None:
            async with self._connecting:
                client = self._clients.get(server)
                if client is None:
                    client = await connect(
                        self._urls[server], max_connections=self._max_connections
                    )
                    self._clients[server] = client
        return client

    async def for_collection(self, name: str | CollectionName) -> AsyncClientAPI:
        """The client of the server that holds the collection `name`."""
        parsed = name if isinstance(name, CollectionName) else CollectionName.parse(name)
        return await self.client(parsed.server)

    def to_build_beside(self, active: str | CollectionName | None) -> str:
        """Where a rebuild builds: the server that does not hold the active collection
        (the main one when there is no alternate, or nothing is active yet)."""
        if not self.has_alt or active is None:
            return MAIN
        parsed = active if isinstance(active, CollectionName) else CollectionName.parse(active)
        return MAIN if parsed.server == ALT else ALT

    async def heartbeat(self, server: str | None = None) -> None:
        """`server` answers; every configured server when None (raises the first failure)."""
        for each in self._urls if server is None else (server,):
            await (await self.client(each)).heartbeat()
