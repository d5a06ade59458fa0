"""The live path end to end: catalog API -> events.catalog -> indexer -> Chroma -> search."""

from __future__ import annotations

from services.indexer.tests.support import new_category
from tests.support.databases import query_rows
from tests.support.search import catalog_snapshot, differences, index_snapshot, seed_products
from tests.support.servers import wait_for
from tests.support.stack import search_stack


async def _search(assistant, q: str, **params) -> list[dict]:
    response = await assistant.get("/api/v1/search", params={"q": q, **params})
    if response.status_code != 200:
        return []
    return response.json()["results"]


async def test_created_updated_deleted_products_show_in_search(
    clean_database, redis_url, stream_prefix, chroma_url
) -> None:
    async with search_stack(clean_database, redis_url, stream_prefix, chroma_url) as s:
        cat_id = await new_category(s, "outdoor")
        created = await s.catalog.post(
            "/api/v1/products",
            json={
                "sku": "JKT-1",
                "name": "Storm rain jacket",
                "description": "Waterproof breathable shell for hiking in the rain.",
                "price": "129.90",
                "currency": "EUR",
                "category_id": cat_id,
                "attributes": {"waterproof": True},
                "stock": 3,
            },
            headers=s.admin,
        )
        assert created.status_code == 201, created.text
        product = created.json()

        async def found(q: str, name: str) -> bool:
            return any(hit["name"] == name for hit in await _search(s.assistant, q))

        await wait_for(
            lambda: found("rain jacket", "Storm rain jacket"),
            within=30,
            what="created product in search",
        )
        [hit] = [
            h for h in await _search(s.assistant, "rain jacket") if h["product_id"] == product["id"]
        ]
        assert hit["price"] == "129.90" and hit["currency"] == "EUR" and hit["in_stock"] is True
        assert 0 < hit["score"] <= 1

        patched = await s.catalog.patch(
            f"/api/v1/products/{product['id']}",
            json={"name": "Tempest rain jacket", "price": "99.00"},
            headers=s.admin | {"If-Match": f'"{product["version"]}"'},
        )
        assert patched.status_code == 200, patched.text
        await wait_for(
            lambda: found("tempest", "Tempest rain jacket"),
            within=30,
            what="renamed product in search",
        )
        cheap = await _search(s.assistant, "rain jacket", max_price="100")
        assert [h["name"] for h in cheap] == ["Tempest rain jacket"]
        assert cheap[0]["price"] == "99.00"
        assert await _search(s.assistant, "rain jacket", max_price="98.99") == []

        deleted = await s.catalog.delete(f"/api/v1/products/{product['id']}", headers=s.admin)
        assert deleted.status_code in (200, 204), deleted.text

        async def gone() -> bool:
            hits = await _search(s.assistant, "tempest rain jacket")
            return all(h["product_id"] != product["id"] for h in hits)

        await wait_for(gone, within=30, what="deleted product gone from search")
        assert (
            differences(
                await catalog_snapshot(s.catalog),
                await index_snapshot(chroma_url, redis_url, stream_prefix),
            )
            == []
        )


async def test_a_stock_change_updates_metadata_without_embedding_again(
    clean_database, redis_url, stream_prefix, chroma_url
) -> None:
    """Stock is metadata, not embedded text: a reservation-like change of a simple
    product reaches the index with no embedding call; a rename is embedded."""
    from prometheus_client import REGISTRY

    def embedded() -> float:
        return REGISTRY.get_sample_value("indexer_embed_batch_size_sum", {"embedder": "hash"}) or 0

    def synced(operation: str) -> float:
        labels = {"collection_role": "active", "operation": operation}
        return REGISTRY.get_sample_value("indexer_documents_synced_total", labels) or 0

    async with search_stack(clean_database, redis_url, stream_prefix, chroma_url) as s:
        [product] = await seed_products(s.catalog, s.admin, 1, "LAMP", name="Camp lantern")
        pid = product["id"]  # stock 0

        async def indexed(**expected: object) -> bool:
            meta = (await index_snapshot(chroma_url, redis_url, stream_prefix)).get(pid, {})
            return all(meta.get(key) == value for key, value in expected.items())

        await wait_for(lambda: indexed(in_stock=False), within=60, what="the product indexed")
        embeds, metadata_only = embedded(), synced("metadata")

        restocked = await s.catalog.put(
            f"/api/v1/products/{pid}/stock", json={"stock": 7}, headers=s.admin
        )
        assert restocked.status_code == 200, restocked.text
        await wait_for(lambda: indexed(in_stock=True), within=60, what="stock 7")
        assert embedded() == embeds, "a stock change was embedded again"
        assert synced("metadata") == metadata_only + 1
        assert [hit["product_id"] for hit in await _search(s.assistant, "camp lantern")] == [pid]

        renamed = await s.catalog.patch(
            f"/api/v1/products/{pid}", json={"name": "Storm lantern"}, headers=s.admin
        )
        assert renamed.status_code == 200, renamed.text
        await wait_for(lambda: indexed(name="Storm lantern"), within=60, what="the rename")
        assert embedded() == embeds + 1, "the new text was embedded once"


async def test_a_stock_change_that_keeps_a_product_in_stock_writes_nothing_to_chroma(
    clean_database, redis_url, stream_prefix, chroma_url
) -> None:
    """The index holds `in_stock`, not the count (ADR 0033): a change from 7 to 5 is
    folded in PostgreSQL and queues nothing; selling out writes `in_stock` false, and
    search filters on it."""
    from prometheus_client import REGISTRY

    def synced() -> tuple[float, ...]:
        return tuple(
            REGISTRY.get_sample_value(
                "indexer_documents_synced_total",
                {"collection_role": "active", "operation": operation},
            )
            or 0
            for operation in ("upsert", "metadata", "delete")
        )

    async with search_stack(clean_database, redis_url, stream_prefix, chroma_url) as s:
        [product] = await seed_products(s.catalog, s.admin, 1, "LAMP", name="Camp lantern")
        pid = product["id"]

        async def put_stock(stock: int) -> None:
            response = await s.catalog.put(
                f"/api/v1/products/{pid}/stock", json={"stock": stock}, headers=s.admin
            )
            assert response.status_code == 200, response.text

        async def indexed(**expected: object) -> bool:
            meta = (await index_snapshot(chroma_url, redis_url, stream_prefix)).get(pid, {})
            return all(meta.get(key) == value for key, value in expected.items())

        async def folded(stock: int) -> bool:
            rows = await query_rows(
                clean_database,
                "SELECT stock FROM indexer.documents WHERE product_id = :pid",
                pid=pid,
            )
            return [row.stock for row in rows] == [stock]

        async def queue_empty() -> bool:
            return await query_rows(clean_database, "SELECT id FROM indexer.sync_queue") == []

        async def fold_sequence() -> int:
            rows = await query_rows(
                clean_database,
                "SELECT sequence FROM indexer.documents WHERE product_id = :pid",
                pid=pid,
            )
            return int(rows[0].sequence)

        await put_stock(7)
        await wait_for(lambda: indexed(in_stock=True), within=60, what="in stock")
        await wait_for(queue_empty, within=60, what="the sync batch committed")  # counted
        before = synced()
        # A record carries the product version it reflects (the fold's, when written).
        written_at = (await index_snapshot(chroma_url, redis_url, stream_prefix))[pid]["sequence"]
        assert written_at == await fold_sequence()

        await put_stock(5)
        await wait_for(lambda: folded(5), within=60, what="stock 5 folded")
        # Queued in the fold's transaction, or not at all: nothing queued, nothing synced.
        assert await queue_empty()
        assert synced() == before
        record = (await index_snapshot(chroma_url, redis_url, stream_prefix))[pid]
        assert "stock" not in record
        assert record["sequence"] == written_at  # not written, so not moved
        in_stock = await _search(s.assistant, "camp lantern", in_stock="true")
        assert [hit["product_id"] for hit in in_stock] == [pid]

        await put_stock(0)
        await wait_for(lambda: indexed(in_stock=False), within=60, what="sold out")
        record = (await index_snapshot(chroma_url, redis_url, stream_prefix))[pid]
        assert record["sequence"] == await fold_sequence()
        upserts, metadata_only, deletes = synced()
        assert (upserts, metadata_only, deletes) == (before[0], before[1] + 1, before[2])
        assert await _search(s.assistant, "camp lantern", in_stock="true") == []
        sold_out = await _search(s.assistant, "camp lantern", in_stock="false")
        assert [(hit["product_id"], hit["in_stock"]) for hit in sold_out] == [(pid, False)]
