"""A pending order nobody answers is reported and its placed event published again."""

from __future__ import annotations

import httpx
import redis.asyncio as aioredis

from marcus_contracts import STREAM_FIELD, Envelope, StreamNames
from services.orders.tests.stack import MailCatcher, Shop, Stack, wait_read_model
from tests.support.servers import wait_for


async def _metric(url: str, name: str) -> float | None:
    async with httpx.AsyncClient() as client:
        text = (await client.get(f"{url}/metrics")).text
    for line in text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    return None


async def test_stuck_order_is_reported_and_republished_until_the_catalog_answers(
    stack: Stack, mail: MailCatcher, redis_url: str, stream_prefix: str
) -> None:
    catalog = stack.start("catalog")
    orders = stack.start("orders", PENDING_TIMEOUT_S="1", PENDING_CHECK_INTERVAL_S="0.3")
    await catalog.ready()
    await orders.ready()
    shop = Shop(catalog.url, orders.url)
    redis = aioredis.from_url(redis_url)
    names = StreamNames(stream_prefix)
    try:
        product = await shop.product(sku="STUCK-1", price="4.00", stock=3)
        await wait_read_model(stack.database_url, product["id"])
        catalog.stop()  # nobody reserves stock now

        placed = await shop.place("dora", [(product["id"], 1)])
        assert placed.status_code == 201
        order_id = placed.json()["id"]

        async def republished() -> bool:
            entries = await redis.xrange(names.events("orders"))
            copies = [Envelope.from_json(fields[STREAM_FIELD.encode()]) for _, fields in entries]
            placed_copies = [e for e in copies if e.subject == order_id]
            return len(placed_copies) >= 2 and len({e.id for e in placed_copies}) == 1

        await wait_for(republished, within=30, what="the placed event published again")
        await wait_for(
            lambda: _stuck_at_least(orders.url, 1), within=30, what="orders_pending_stuck >= 1"
        )
        assert (await shop.order("dora", order_id)).json()["status"] == "pending"

        # The catalog returns: the order completes, the copies are skipped by id.
        restarted = stack.start("catalog")
        await restarted.ready()
        await shop.wait_status("dora", order_id, "confirmed", within=60)
        await wait_for(
            lambda: _stuck_is(orders.url, 0), within=30, what="orders_pending_stuck back to 0"
        )
        await shop.catalog.aclose()
        shop.catalog = httpx.AsyncClient(base_url=restarted.url)
        assert await shop.stock(product["id"]) == 2
    finally:
        await redis.aclose()
        await shop.aclose()


async def _stuck_at_least(url: str, n: int) -> bool:
    value = await _metric(url, "orders_pending_stuck")
    return value is not None and value >= n


async def _stuck_is(url: str, n: int) -> bool:
    return await _metric(url, "orders_pending_stuck") == n
