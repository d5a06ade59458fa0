"""Metric names and labels after real traffic: HTTP, outbox relay, consumer group
(consumed, dead-lettered, lag, pending, handler time) and the indexer's sync.

Catalog, indexer and assistant run in this process on real sockets (one Prometheus
registry, scraped through each service's /metrics); the events go through PostgreSQL,
Redis and a real Chroma server.
"""

from __future__ import annotations

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.support.servers import wait_for
from tests.support.stack import search_stack


async def scrape(client: httpx.AsyncClient) -> dict[str, list[tuple[dict[str, str], float]]]:
    """Sample name -> [(labels, value)] of one /metrics page."""
    reply = await client.get("/metrics")
    assert reply.status_code == 200
    assert reply.headers["content-type"].startswith("text/plain")
    samples: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(reply.text):
        samples.setdefault(family.name, [])
        for sample in family.samples:
            samples.setdefault(sample.name, []).append((sample.labels, sample.value))
    return samples


def value(samples, name: str, **labels: str) -> float | None:
    for sample_labels, sample_value in samples.get(name, []):
        if all(sample_labels.get(k) == v for k, v in labels.items()):
            return sample_value
    return None


async def test_metrics_after_real_traffic(
    clean_database, redis_url, stream_prefix, chroma_url, redis_client
) -> None:
    stream = f"{stream_prefix}events.catalog"
    async with search_stack(clean_database, redis_url, stream_prefix, chroma_url) as s:
        category = await s.catalog.post(
            "/api/v1/categories", json={"slug": "lamps", "name": "Lamps"}, headers=s.admin
        )
        assert category.status_code == 201
        created = await s.catalog.post(
            "/api/v1/products",
            json={
                "sku": "LAMP-1",
                "name": "Head lamp",
                "price": "39.00",
                "category_id": category.json()["id"],
                "stock": 2,
            },
            headers=s.admin,
        )
        assert created.status_code == 201
        missing = await s.catalog.get("/api/v1/products/00000000-0000-0000-0000-000000000000")
        assert missing.status_code == 404
        # A poison entry: the indexer's group dead-letters it.
        await redis_client.xadd(stream, {"event": b"{not json"})

        async def settled() -> bool:
            found = await scrape(s.catalog)
            return bool(
                value(
                    found,
                    "messaging_events_dead_lettered_total",
                    group="indexer",
                    stream=stream,
                )
                and value(
                    found,
                    "indexer_documents_synced_total",
                    collection_role="active",
                    operation="upsert",
                )
                and value(found, "messaging_group_lag", group="indexer", stream=stream) == 0
            )

        await wait_for(settled, within=60, interval=0.5, what="events consumed and synced")
        search = await s.assistant.get("/api/v1/search", params={"q": "lamp"})
        assert search.status_code == 200

        catalog = await scrape(s.catalog)
        indexer = await scrape(s.indexer)
        assistant = await scrape(s.assistant)

    # HTTP rate and latency, per service, method, route template and status
    assert value(
        catalog,
        "http_requests_total",
        service="catalog",
        method="POST",
        route="/api/v1/products",
        status="201",
    )
    assert value(
        catalog,
        "http_requests_total",
        service="catalog",
        method="GET",
        route="/api/v1/products/{product_id}",
        status="404",
    )
    assert value(
        assistant,
        "http_request_duration_seconds_count",
        service="assistant",
        method="GET",
        route="/api/v1/search",
    )
    assert value(assistant, "http_request_duration_seconds_bucket", service="assistant", le="+Inf")

    # outbox relay: published, backlog and its age, leadership
    assert (value(catalog, "outbox_events_published_total", schema="catalog") or 0) >= 2
    assert value(catalog, "outbox_backlog", schema="catalog") == 0
    assert value(catalog, "outbox_oldest_age_seconds", schema="catalog") == 0
    assert value(catalog, "outbox_relay_leader", schema="catalog") == 1

    # consumer group: consumed, dead-lettered, lag and pending per stream, handler time
    consumed = value(
        indexer,
        "messaging_events_consumed_total",
        group="indexer",
        stream=stream,
        type="catalog.product.created",
    )
    assert consumed and consumed >= 1
    assert value(
        indexer,
        "messaging_events_dead_lettered_total",
        group="indexer",
        stream=stream,
        type="<undecodable>",
    )
    # refreshed every few seconds: present per (group, stream), value not asserted
    assert value(indexer, "messaging_group_pending", group="indexer", stream=stream) is not None
    assert value(
        indexer,
        "messaging_handler_duration_seconds_count",
        group="indexer",
        stream=stream,
        type="catalog.product.created",
    )
    for family in ("messaging_events_failed", "messaging_events_duplicate"):
        assert family in indexer, family  # declared (same labels); nothing failed here

    # the indexer's own: documents written, queue, embedding time, rebuild duration
    assert value(indexer, "indexer_sync_queue_length") is not None
    assert value(indexer, "indexer_embed_seconds_count", embedder="hash")
    assert value(indexer, "indexer_documents")  # the active collection's size after a sync
    assert "indexer_rebuild_seconds" in indexer  # declared; no rebuild ran here
