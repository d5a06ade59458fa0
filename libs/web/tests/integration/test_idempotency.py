"""Issue 19, finding 11: idempotency keys expire (real PostgreSQL)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from marcus_web.idempotency import prune_idempotency_keys
from marcus_web.settings import ServiceSettings


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_async_engine(database_url)
    yield engine
    await engine.dispose()


async def test_finding_11_idempotency_keys_older_than_the_ttl_are_pruned(
    engine: AsyncEngine,
) -> None:
    schema = f"idem_{uuid.uuid4().hex[:8]}"
    async with engine.begin() as conn:
        await conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        await conn.execute(
            text(
                f'CREATE TABLE "{schema}".idempotency_keys (customer text, key text,'
                " request_hash text NOT NULL, order_id uuid NOT NULL,"
                " created_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (customer, key))"
            )
        )
        for i, age in enumerate(["3 days", "25 hours", "23 hours", "1 minute"] * 3):
            await conn.execute(
                text(
                    f'INSERT INTO "{schema}".idempotency_keys VALUES'
                    " (:c, :k, 'h', :o, now() - CAST(:age AS interval))"
                ),
                {"c": "alice", "k": f"k{i}", "o": uuid.uuid4(), "age": age},
            )
    try:
        ttl = timedelta(seconds=ServiceSettings().idempotency_key_ttl_s)
        assert ttl == timedelta(hours=24)
        assert await prune_idempotency_keys(engine, schema, ttl, batch=2) == 6
        async with engine.connect() as conn:
            left = await conn.scalar(text(f'SELECT count(*) FROM "{schema}".idempotency_keys'))
        assert left == 6
        assert await prune_idempotency_keys(engine, schema, ttl) == 0
        assert await prune_idempotency_keys(engine, "no_such_schema", ttl) == 0
    finally:
        async with engine.begin() as conn:
            await conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
