"""Composition root of the assistant: search, recommendations and chat routes on the
shared service app, the outbox relay of its chat events, its consumer, and the warm-up
of the active index's embedder (ready only once it is loaded: `assistant.warmup`)."""

from __future__ import annotations

import asyncio

from fastapi import FastAPI

from assistant.api.actions import router as actions_router
from assistant.api.chat import router as chat_router
from assistant.api.routes import router
from assistant.api.sessions import router as sessions_router
from assistant.chat.llm import chat_model
from assistant.chat.turns import ChatService
from assistant.consumer import run_consumer
from assistant.search import SearchService
from assistant.settings import SERVICE, AssistantSettings
from assistant.shop_api import ShopApi
from assistant.warmup import Warmup
from marcus_search import AliasStore, EmbedderPool, IndexServers
from marcus_web.app import create_service_app


async def close_chat(app: FastAPI, stop: asyncio.Event) -> None:
    """At shutdown, replies still being written are stored as interrupted."""
    await stop.wait()
    await app.state.chat.close()
    if app.state.chat.shop_api is not None:
        await app.state.chat.shop_api.aclose()


def create_app(settings: AssistantSettings | None = None) -> FastAPI:
    settings = settings or AssistantSettings()

    async def check_chroma() -> None:
        await app.state.search.check()

    async def check_embedder() -> None:
        await app.state.warmup.check()

    async def warm_embedder(app: FastAPI, stop: asyncio.Event) -> None:
        await app.state.warmup.run(app, stop)

    app = create_service_app(
        settings,
        service=SERVICE,
        title="Marcus assistant",
        description=(
            "Semantic product search and recommendations (public); chat with the shopping "
            "assistant (customers, their own sessions only)."
        ),
        routers=[router, chat_router, actions_router, sessions_router],
        background=[run_consumer, close_chat, warm_embedder],
        checks={"chroma": check_chroma, "embedder": check_embedder},
    )
    app.state.search = SearchService(
        IndexServers(
            settings.chroma_url,
            settings.chroma_alt_url,
            max_connections=settings.chroma_max_connections,
        ),
        AliasStore(app.state.redis, settings.stream_prefix),
        EmbedderPool(settings.embedder_config()),
        hybrid_candidates=settings.hybrid_candidates,
        batch=settings.search_batch,
    )
    app.state.warmup = Warmup(app.state.search)
    shop = ShopApi(settings.catalog_url, settings.orders_url, settings.shop_timeout_s)
    app.state.chat = ChatService(
        settings, app.state.sessions, app.state.search, chat_model(settings), shop
    )
    return app
