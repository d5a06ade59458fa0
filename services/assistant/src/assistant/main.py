"""Composition root of the assistant: public search routes on the shared service app."""

from __future__ import annotations

from fastapi import FastAPI

from assistant.api.routes import router
from assistant.search import SearchService
from assistant.settings import SERVICE, AssistantSettings
from marcus_search import AliasStore, EmbedderPool
from marcus_search.chroma import AsyncClientAPI, connect
from marcus_web.app import create_service_app


def create_app(settings: AssistantSettings | None = None) -> FastAPI:
    settings = settings or AssistantSettings()

    async def chroma_client() -> AsyncClientAPI:
        return await connect(settings.chroma_url)

    async def check_chroma() -> None:
        await (await app.state.search.client()).heartbeat()

    app = create_service_app(
        settings,
        service=SERVICE,
        title="Marcus assistant",
        description="Semantic product search and recommendations (public).",
        routers=[router],
        relay=False,
        checks={"chroma": check_chroma},
    )
    app.state.search = SearchService(
        chroma_client,
        AliasStore(app.state.redis, settings.stream_prefix),
        EmbedderPool(settings.embedder_config()),
        hybrid_candidates=settings.hybrid_candidates,
    )
    return app
