"""50 customers race for 10 units, with two catalog and two orders replicas."""

from __future__ import annotations

import asyncio
from collections import Counter

import redis.asyncio as aioredis

from marcus_contracts import STREAM_FIELD, Envelope, StreamNames
from services.orders.tests.stack import MailCatcher, Shop, Stack, wait_read_model
from tests.support.servers import wait_for

CUSTOMERS = 50
UNITS = 10


async def test_fifty_orders_for_ten_units_sell_exactly_ten(
    stack: Stack, shop: Shop, mail: MailCatcher, redis_url: str, stream_prefix: str
) -> None:
    for service in ("catalog", "orders"):  # second replicas join the same groups
        await stack.start(service).ready()
    product = await shop.product(sku="HOT-1", price="19.99", stock=UNITS, name="Hot item")
    await wait_read_model(stack.database_url, product["id"])

    replicas = [p.url for p in stack.processes if p.service == "orders"]

    async def buy(i: int) -> str:
        """Half the customers go through each orders replica."""
        client = Shop(stack.first("catalog").url, replicas[i % 2])
        try:
            response = await client.place(f"customer-{i:02d}", [(product["id"], 1)])
        finally:
            await client.aclose()
        assert response.status_code == 201, response.text
        return str(response.json()["id"])

    order_ids = await asyncio.gather(*(buy(i) for i in range(CUSTOMERS)))

    finals = await asyncio.gather(
        *(
            shop.wait_status(f"customer-{i:02d}", order_id, "confirmed", "rejected", within=120)
            for i, order_id in enumerate(order_ids)
        )
    )
    statuses = Counter(order["status"] for order in finals)
    assert statuses == {"confirmed": UNITS, "rejected": CUSTOMERS - UNITS}
    assert await shop.stock(product["id"]) == 0
    for order in finals:
        if order["status"] == "rejected":
            [reason] = order["reasons"]
            assert reason["reason"] == "insufficient_stock"
            assert reason["requested"] == 1 and reason["available"] == 0

    # The catalog's stream: exactly 10 reservations, stock never below zero, and the
    # product's sequence strictly increasing (no two writers took the same version).
    redis = aioredis.from_url(redis_url)
    try:
        entries = await redis.xrange(StreamNames(stream_prefix).events("catalog"))
    finally:
        await redis.aclose()
    events = [Envelope.from_json(fields[STREAM_FIELD.encode()]) for _, fields in entries]
    unique = list({e.id: e for e in events}.values())
    reserved = [e for e in unique if e.type == "catalog.stock.reserved"]
    assert len(reserved) == UNITS
    assert sorted(e.data["stock"] for e in reserved) == list(range(UNITS))
    sequences = [e.sequence for e in unique if e.subject == product["id"]]
    assert sequences == list(range(1, len(sequences) + 1))

    await wait_for(
        lambda: len(mail.mailbox.read()) >= CUSTOMERS, within=120, what="one e-mail per customer"
    )
    received = mail.mailbox.read()
    assert len(received) == CUSTOMERS
    assert not any(r.duplicate for r in received)
    per_recipient = Counter(r.recipients[0] for r in received)
    assert set(per_recipient.values()) == {1}
    subjects = Counter(r.subject.split(" (")[0] for r in received)
    assert subjects == {
        "Your order is confirmed": UNITS,
        "We could not accept your order": CUSTOMERS - UNITS,
    }
