"""Writes become events on `events.catalog`: in order, once each, with a full envelope."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from catalog.settings import CatalogSettings
from catalog.storage.tables import event_store
from catalog.storage.uow import CatalogUnitOfWork as UnitOfWork
from marcus_contracts import registry
from marcus_contracts.events import catalog as ev
from marcus_web.app import make_engine
from tests.support.servers import wait_for


async def test_product_lifecycle_is_published_in_order_once(
    api, client, admin_headers, catalog_stream
) -> None:
    category = await api.category()
    product = await api.product(category["id"])
    url = f"/api/v1/products/{product['id']}"
    request_id = str(uuid.uuid4())
    headers = {**admin_headers, "X-Request-ID": request_id}
    assert (await client.patch(url, json={"price": "949.00"}, headers=headers)).status_code == 200
    assert (await client.put(f"{url}/stock", json={"stock": 9}, headers=headers)).status_code == 200
    assert (await client.delete(url, headers=headers)).status_code == 204

    await wait_for(lambda: catalog_stream.has_at_least(5), what="5 events on the stream")
    envelopes = await catalog_stream.envelopes()
    assert [e.type for e in envelopes] == [
        "catalog.category.created",
        "catalog.product.created",
        "catalog.product.updated",
        "catalog.stock.adjusted",
        "catalog.product.deleted",
    ]
    assert len({e.id for e in envelopes}) == 5
    product_events = [e for e in envelopes if e.subject == product["id"]]
    assert [e.sequence for e in product_events] == [1, 2, 3, 4]
    for envelope in envelopes:
        assert envelope.source == "catalog"
        assert envelope.specversion == "1.0"
        assert envelope.datacontenttype == "application/json"
        assert envelope.dataversion == registry.latest_version(envelope.type)
    assert all(e.correlationid == request_id for e in product_events[1:])

    updated = registry.decode(product_events[1])
    assert isinstance(updated, ev.ProductUpdated)
    assert str(updated.price) == "949.00"
    assert updated.category.slug == "bikes"
    stock = registry.decode(product_events[2])
    assert isinstance(stock, ev.StockAdjusted)
    assert (stock.delta, stock.stock) == (4, 9)


async def test_republish_restores_a_stream_redis_lost(
    api, catalog_stream, redis_client, settings: CatalogSettings, engine: AsyncEngine
) -> None:
    category = await api.category()
    for i in range(3):
        await api.product(category["id"], sku=f"R-{i}")
    await wait_for(lambda: catalog_stream.has_at_least(4), what="4 events")
    original = [e.id for e in await catalog_stream.envelopes()]

    await redis_client.delete(catalog_stream.stream)  # Redis lost the stream
    app_engine = make_engine(settings)
    async with AsyncSession(app_engine) as session, session.begin():
        assert await UnitOfWork.store.republish(session) == 4
    await app_engine.dispose()

    await wait_for(lambda: catalog_stream.has_at_least(4), what="republished events")
    assert [e.id for e in await catalog_stream.envelopes()] == original

    async def outbox_drained() -> bool:
        async with engine.connect() as conn:
            return not (await conn.execute(select(event_store.outbox.c.position))).all()

    await wait_for(outbox_drained, what="the outbox to drain")
    assert [e.id for e in await catalog_stream.envelopes()] == original
