"""Catalog + indexer + assistant for the search tests, on one database and one Redis.

Each test gets its own stream prefix and Chroma namespace; the indexer's and the
catalog's tables are emptied first (one active collection per database)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from marcus_eventstore.migrations import upgrade
from tests.support import auth
from tests.support.databases import truncate_tables
from tests.support.servers import serve_app

SECRET = "search-tests-secret-0123456789abcdef"


def migrate(database_url: str) -> None:
    for service in ("catalog", "indexer", "assistant"):
        upgrade(service, database_url)


async def reset(database_url: str) -> None:
    """The indexer's and the catalog's tables emptied (one active collection per database)."""
    await truncate_tables(database_url, "indexer", "catalog")


async def empty_schema(database_url: str, schema: str) -> None:
    """Every table of `schema` emptied (its migrations' version kept): a stack that starts
    a new world must not inherit another test's read models (the assistant's categories
    would turn a query word into a filter the new world knows nothing of)."""
    engine = create_async_engine(database_url)
    try:
        async with engine.begin() as conn:
            names = (
                await conn.execute(
                    text(
                        "SELECT tablename FROM pg_tables WHERE schemaname = :schema"
                        " AND tablename <> 'alembic_version'"
                    ),
                    {"schema": schema},
                )
            ).scalars()
            tables = ", ".join(f'"{schema}"."{name}"' for name in names)
            if tables:
                await conn.execute(text(f"TRUNCATE {tables} CASCADE"))
    finally:
        await engine.dispose()


def admin_headers() -> dict[str, str]:
    return auth.admin_headers(secret=SECRET)


def common(database_url: str, redis_url: str, prefix: str) -> dict[str, object]:
    return {
        "database_url": database_url,
        "redis_url": redis_url,
        "stream_prefix": prefix,
        "jwt_secret": SECRET,
        "relay_poll_interval": 0.2,
    }


def indexer_settings(database_url: str, redis_url: str, prefix: str, chroma_url: str, **extra):  # type: ignore[no-untyped-def]
    from indexer.settings import IndexerSettings

    return IndexerSettings(
        **common(database_url, redis_url, prefix),  # type: ignore[arg-type]
        chroma_url=chroma_url,
        index_namespace=prefix,
        embedder="hash",
        consumer_reclaim_min_idle_ms=3000,
        consumer_backoff_base_ms=200,
        rebuild_poll_interval=0.2,
        alias_refresh_interval=1.0,
        **extra,
    )


@dataclass
class Stack:
    catalog: httpx.AsyncClient
    indexer: httpx.AsyncClient
    assistant: httpx.AsyncClient
    admin: dict[str, str]


@asynccontextmanager
async def search_stack(
    database_url: str,
    redis_url: str,
    prefix: str,
    chroma_url: str,
    *,
    indexer: bool = True,
    catalog: dict | None = None,
    **extra,
) -> AsyncIterator[Stack]:
    """Catalog, indexer and assistant served on real sockets in this event loop
    (`catalog`: extra catalog settings; `extra`: extra indexer settings, whose
    `chroma_alt_url` the assistant is given too)."""
    from assistant.main import create_app as assistant_app
    from assistant.settings import AssistantSettings
    from catalog.main import create_app as catalog_app
    from catalog.settings import CatalogSettings
    from indexer.main import create_app as indexer_app

    catalog_settings = CatalogSettings(**common(database_url, redis_url, prefix), **(catalog or {}))  # type: ignore[arg-type]
    assistant_settings = AssistantSettings(
        **common(database_url, redis_url, prefix),  # type: ignore[arg-type]
        chroma_url=chroma_url,
        chroma_alt_url=extra.get("chroma_alt_url"),
    )
    async with (
        serve_app(catalog_app(catalog_settings)) as catalog_url,
        serve_app(assistant_app(assistant_settings)) as assistant_url,
        httpx.AsyncClient(base_url=catalog_url, timeout=30) as catalog_client,
        httpx.AsyncClient(base_url=assistant_url, timeout=30) as assistant_client,
    ):
        if indexer:
            settings = indexer_settings(database_url, redis_url, prefix, chroma_url, **extra)
            async with (
                serve_app(indexer_app(settings)) as indexer_url,
                httpx.AsyncClient(base_url=indexer_url, timeout=30) as indexer_client,
            ):
                yield Stack(catalog_client, indexer_client, assistant_client, admin_headers())
        else:
            async with httpx.AsyncClient(base_url="http://127.0.0.1:9") as nothing:
                yield Stack(catalog_client, nothing, assistant_client, admin_headers())
