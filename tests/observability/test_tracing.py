"""One trace across HTTP and events: catalog request -> relay -> indexer consumer ->
indexer sync -> Chroma.

The catalog, its relay and the indexer run in this process, so OpenTelemetry's
in-memory exporter sees all their spans; the event travels for real through
PostgreSQL (event table, outbox), Redis (events.catalog, the indexer's group) and the
indexer writes to a real Chroma server. The link between the request and the consumer
is nothing but the envelope's `traceparent`.
"""

from __future__ import annotations

import json

from opentelemetry import trace
from opentelemetry.trace import SpanKind

from tests.support.servers import wait_for
from tests.support.stack import search_stack
from tests.support.tracing import Spans


async def test_indexer_consumer_span_is_a_child_of_the_catalog_request_span(
    clean_database, redis_url, stream_prefix, chroma_url, spans: Spans, redis_client
) -> None:
    async with search_stack(clean_database, redis_url, stream_prefix, chroma_url) as s:
        category = await s.catalog.post(
            "/api/v1/categories", json={"slug": "tents", "name": "Tents"}, headers=s.admin
        )
        assert category.status_code == 201, category.text
        with trace.get_tracer("tests").start_as_current_span("shop front end") as caller:
            created = await s.catalog.post(
                "/api/v1/products",
                json={
                    "sku": "TENT-2",
                    "name": "Two person tent",
                    "description": "Light tent for two.",
                    "price": "249.00",
                    "currency": "EUR",
                    "category_id": category.json()["id"],
                    "stock": 4,
                },
                headers=s.admin,
            )
        assert created.status_code == 201, created.text
        product_id = created.json()["id"]

        def consumer_spans() -> list:
            return spans.named(
                "process catalog.product.created",
                **{"cloudevents.event_subject": product_id},
            )

        await wait_for(consumer_spans, within=30, what="the indexer's consumer span")

        [request] = [
            span for span in spans.named("POST /api/v1/products") if span.kind is SpanKind.SERVER
        ]
        [consumer] = consumer_spans()
        [publish] = spans.named(
            f"publish {stream_prefix}events.catalog", **{"cloudevents.event_subject": product_id}
        )

        # The request continues the caller's trace (httpx sent its traceparent header).
        assert request.context.trace_id == caller.get_span_context().trace_id
        assert request.attributes["marcus.service"] == "catalog"

        # The envelope carries the request span's context ...
        envelopes = [
            json.loads(fields[b"event"])
            for _, fields in await redis_client.xrange(f"{stream_prefix}events.catalog")
        ]
        [envelope] = [
            e
            for e in envelopes
            if e["type"] == "catalog.product.created" and e["subject"] == product_id
        ]
        request_traceparent = (
            f"00-{request.context.trace_id:032x}-{request.context.span_id:016x}-"
            f"{int(request.context.trace_flags):02x}"
        )
        assert envelope["traceparent"] == request_traceparent

        # ... so the relay's publish span and the indexer's consumer span are its children.
        for child in (publish, consumer):
            assert child.context.trace_id == request.context.trace_id
            assert child.parent is not None and child.parent.span_id == request.context.span_id
        assert publish.kind is SpanKind.PRODUCER
        assert consumer.kind is SpanKind.CONSUMER
        assert consumer.attributes["messaging.consumer.group.name"] == "indexer"
        assert consumer.attributes["messaging.destination.name"] == f"{stream_prefix}events.catalog"
        assert consumer.attributes["messaging.message.id"] == envelope["id"]
        assert consumer.start_time >= publish.start_time

        # The syncer's batch continues the consumer's trace (the sync queue keeps the
        # traceparent) and its Chroma calls (httpx) are children of the batch span.
        def sync_spans() -> list:
            return [
                span
                for span in spans.named("indexer sync")
                if span.parent is not None and span.parent.span_id == consumer.context.span_id
            ]

        await wait_for(sync_spans, within=30, what="the indexer's sync span")
        [sync] = sync_spans()
        chroma_calls = [
            span
            for span in spans.all()
            if span.kind is SpanKind.CLIENT
            and span.parent is not None
            and span.parent.span_id == sync.context.span_id
            and str(
                span.attributes.get("url.full") or span.attributes.get("http.url") or ""
            ).startswith(chroma_url)
        ]
        assert chroma_calls, "no Chroma call under the sync span"
        assert all(call.context.trace_id == request.context.trace_id for call in chroma_calls)
