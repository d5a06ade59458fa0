"""What the bus benches run, in one process or in the workers of `bench.bus_processes`:
sample events, the raw redis-py producer and consumer (the ceiling), and the consumer
runtime with a no-op handler.

A module of its own so that `bench.bus` (the bench) and `bench.bus_processes` (its
worker processes) both import it and neither imports the other.
"""

from __future__ import annotations

import asyncio
import uuid
from decimal import Decimal
from typing import Any

import redis.asyncio as aioredis
from sqlalchemy.ext.asyncio import AsyncEngine

from marcus_contracts import STREAM_FIELD, Envelope, StreamNames, registry
from marcus_contracts.events import catalog as ev
from marcus_messaging import Consumer, ConsumerSettings, HandlerContext

GROUP = "bench"
"""The consumer group of the runtime under test."""


def sample_envelopes(count: int) -> list[Envelope]:
    category = ev.CategoryRef(id=uuid.uuid4(), slug="bikes", name="Bikes")
    envelopes = []
    for i in range(count):
        product_id = uuid.uuid4()
        event = ev.ProductUpdated(  # what the catalog records today (a simple product)
            product_id=product_id,
            sku=f"BENCH-{i}",
            name="Aluminium road bike, 54 cm",
            description="A light road bike with a carbon fork and Shimano 105 groupset.",
            price=Decimal("999.90"),
            currency="EUR",
            category=category,
            attributes={"colour": "red", "weight_kg": 8.4, "frame": "aluminium"},
            stock=12,
        )
        envelopes.append(registry.envelope(event, subject=str(product_id), sequence=1))
    return envelopes


def sample_payloads(count: int) -> list[str]:
    return [envelope.to_json() for envelope in sample_envelopes(count)]


async def raw_consume(
    redis: aioredis.Redis, stream: str, group: str, total: int, batch: int
) -> None:
    """The ceiling consumer: XREADGROUP a batch, XACK it, repeat until `total` acked."""
    done = 0
    while done < total:
        reply: Any = await redis.xreadgroup(group, "bench", {stream: ">"}, count=batch, block=1000)
        if not reply:
            continue
        ids = [entry_id for entry_id, _ in reply[0][1]]
        await redis.xack(stream, group, *ids)
        done += len(ids)


async def produce(redis: aioredis.Redis, stream: str, payloads: list[str], batch: int) -> None:
    for start in range(0, len(payloads), batch):
        pipe = redis.pipeline(transaction=False)
        for payload in payloads[start : start + batch]:
            pipe.xadd(stream, {STREAM_FIELD: payload})
        await pipe.execute()


class RuntimeUnderTest:
    """The consumer runtime with a no-op handler; `consumed()` waits until all `total`
    events ran and were acknowledged, which happens only after their batch committed."""

    def __init__(
        self,
        engine: AsyncEngine,
        redis_url: str,
        names: StreamNames,
        total: int,
        batch: int,
        *,
        schema: str,
        freeze_heap: bool = True,
    ) -> None:
        self.consumer = Consumer(
            group=GROUP,
            streams=["catalog"],
            engine=engine,
            schema=schema,
            redis_url=redis_url,
            names=names,
            settings=ConsumerSettings(batch=batch, block_ms=100, freeze_heap=freeze_heap),
        )
        self._stream = names.events("catalog")
        self._total = total
        self._seen = 0
        self._done = asyncio.Event()
        self.consumer.handler("catalog.product.updated")(self._on_product)

    async def _on_product(self, ctx: HandlerContext) -> None:
        self._seen += 1
        if self._seen >= self._total:
            self._done.set()

    async def consumed(self, redis: aioredis.Redis) -> None:
        await self._done.wait()
        while True:  # the last batch ran; now its commit and XACK
            if not int((await redis.xpending(self._stream, GROUP))["pending"]):
                return
            await asyncio.sleep(0.001)
