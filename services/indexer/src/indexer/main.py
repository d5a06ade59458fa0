"""Composition root of the indexer: admin routes; the runtime (syncer, rebuild worker,
alias keeper) and the consumer as background tasks of the shared service app."""

from __future__ import annotations

import asyncio

from fastapi import FastAPI

from indexer.api.routes import router
from indexer.consumer import run_consumer
from indexer.runtime import IndexerRuntime
from indexer.settings import SERVICE, IndexerSettings
from marcus_web.app import create_service_app


def create_app(settings: IndexerSettings | None = None) -> FastAPI:
    settings = settings or IndexerSettings()

    async def run_indexer(app: FastAPI, stop: asyncio.Event) -> None:
        await app.state.indexer.run(stop)

    async def check_chroma() -> None:
        runtime: IndexerRuntime = app.state.indexer
        if not runtime.ready.is_set():
            raise RuntimeError("not connected to Chroma yet")
        await runtime.servers.heartbeat()

    app = create_service_app(
        settings,
        service=SERVICE,
        title="Marcus indexer",
        description="Keeps the Chroma product index in sync with the catalog; rebuilds it "
        "from a catalog snapshot. Admin endpoints need `admin`.",
        routers=[router],
        background=[run_indexer, run_consumer],
        checks={"chroma": check_chroma},
    )
    app.state.indexer = IndexerRuntime(settings, app.state.engine, app.state.redis)
    return app
