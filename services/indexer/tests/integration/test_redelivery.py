"""Events delivered twice and out of order: the index still equals the catalog."""

from __future__ import annotations

import random

from marcus_contracts import StreamNames
from services.indexer.tests.support import new_category
from tests.support.search import catalog_snapshot, differences, index_snapshot
from tests.support.servers import wait_for
from tests.support.stack import search_stack


async def test_duplicates_and_out_of_order_copies_leave_the_index_equal_to_the_catalog(
    clean_database, redis_url, stream_prefix, chroma_url, redis_client
) -> None:
    stream = StreamNames(stream_prefix).events("catalog")
    async with search_stack(clean_database, redis_url, stream_prefix, chroma_url) as s:
        cat_id = await new_category(s, "kitchen")
        products = []
        for i in range(12):
            created = await s.catalog.post(
                "/api/v1/products",
                json={
                    "sku": f"K-{i}",
                    "name": f"Kettle {i}",
                    "price": f"{10 + i}.50",
                    "currency": "EUR",
                    "category_id": cat_id,
                    "stock": i % 3,
                },
                headers=s.admin,
            )
            assert created.status_code == 201, created.text
            products.append(created.json())
        for product in products[:8]:
            for round_ in range(2):
                current = (await s.catalog.get(f"/api/v1/products/{product['id']}")).json()
                patched = await s.catalog.patch(
                    f"/api/v1/products/{product['id']}",
                    json={"name": f"{product['name']} mk{round_ + 2}"},
                    headers=s.admin | {"If-Match": f'"{current["version"]}"'},
                )
                assert patched.status_code == 200, patched.text
                stocked = await s.catalog.put(
                    f"/api/v1/products/{product['id']}/stock",
                    json={"stock": round_ + 4},
                    headers=s.admin,
                )
                assert stocked.status_code == 200, stocked.text
        for product in products[8:10]:
            assert (
                await s.catalog.delete(f"/api/v1/products/{product['id']}", headers=s.admin)
            ).status_code in (200, 204)

        catalog = await catalog_snapshot(s.catalog)
        assert len(catalog) == 10

        async def equal() -> bool:
            return (
                differences(catalog, await index_snapshot(chroma_url, redis_url, stream_prefix))
                == []
            )

        await wait_for(equal, within=60, what="index equal to the catalog")

        # Now every product event again, twice, shuffled: old versions arrive after new ones.
        entries = await redis_client.xrange(stream)
        copies = [
            fields
            for _, fields in entries
            if b"catalog.product" in fields[b"event"] or b"catalog.stock" in fields[b"event"]
        ]
        replay = copies * 2
        random.Random(3).shuffle(replay)
        for fields in replay:
            await redis_client.xadd(stream, fields)

        async def drained() -> bool:
            status = await s.indexer.get("/api/v1/admin/index", headers=s.admin)
            return status.status_code == 200 and status.json()["lag"]["total"] == 0

        await wait_for(drained, within=60, what="the copies consumed")
        assert (
            differences(catalog, await index_snapshot(chroma_url, redis_url, stream_prefix)) == []
        )
        status = (await s.indexer.get("/api/v1/admin/index", headers=s.admin)).json()
        assert status["documents"] == 10
