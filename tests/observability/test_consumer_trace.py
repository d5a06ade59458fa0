"""The consumer runtime continues the producer's trace from the envelope, and binds the
event's id and type for log lines, with tracing on and off."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis
from opentelemetry.trace import SpanKind
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from libs.messaging.tests.integration.support import category_created, publish
from marcus_contracts import StreamNames
from marcus_messaging import Consumer, ConsumerSettings, HandlerContext, create_ledger_tables
from marcus_telemetry import current_traceparent, log_fields
from tests.support.servers import wait_for
from tests.support.tracing import capture_spans

PRODUCER_TRACE = "0af7651916cd43dd8448eb211c80319c"
PRODUCER_SPAN = "b7ad6b7169203331"


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_async_engine(database_url)
    yield engine
    await engine.dispose()


async def _consume(engine: AsyncEngine, redis_url: str, prefix: str) -> dict[str, object]:
    schema = f"trace_{uuid.uuid4().hex[:8]}"
    await create_ledger_tables(engine, schema)
    seen: dict[str, object] = {}
    consumer = Consumer(
        group="tracing-test",
        streams=["catalog"],
        engine=engine,
        schema=schema,
        redis_url=redis_url,
        names=StreamNames(prefix),
        settings=ConsumerSettings(block_ms=100, metrics_interval_ms=60_000),
    )

    @consumer.handler("catalog.category.created")
    async def on_created(ctx: HandlerContext) -> None:
        seen["traceparent"] = current_traceparent()
        seen["log"] = log_fields()
        seen["id"] = str(ctx.envelope.id)

    envelope = category_created().model_copy(
        update={"traceparent": f"00-{PRODUCER_TRACE}-{PRODUCER_SPAN}-01"}
    )
    redis = aioredis.from_url(redis_url)
    try:
        await publish(redis, StreamNames(prefix).events("catalog"), envelope)
        async with consumer.running():
            await wait_for(lambda: "id" in seen, within=20, what="the handler ran")
    finally:
        await redis.aclose()
        async with engine.begin() as conn:
            await conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
    assert log_fields() == {}  # nothing leaks out of the handler
    return seen


async def test_the_handler_runs_in_a_consumer_span_continuing_the_envelope(
    engine, redis_url, stream_prefix
) -> None:
    with capture_spans() as spans:
        seen = await _consume(engine, redis_url, stream_prefix)
        [span] = spans.named("process catalog.category.created")
    assert span.kind is SpanKind.CONSUMER
    assert f"{span.context.trace_id:032x}" == PRODUCER_TRACE
    assert span.parent is not None and f"{span.parent.span_id:016x}" == PRODUCER_SPAN
    assert span.attributes["messaging.consumer.group.name"] == "tracing-test"
    # A unit of work in the handler would stamp this span into the events it records.
    assert seen["traceparent"] == (
        f"00-{PRODUCER_TRACE}-{span.context.span_id:016x}-{int(span.context.trace_flags):02x}"
    )
    assert seen["log"] == {"event_id": seen["id"], "event_type": "catalog.category.created"}


async def test_without_tracing_the_handler_still_gets_its_log_context(
    engine, redis_url, stream_prefix
) -> None:
    seen = await _consume(engine, redis_url, stream_prefix)
    assert seen["traceparent"] is None  # no span: the caller's traceparent is passed on
    assert seen["log"] == {"event_id": seen["id"], "event_type": "catalog.category.created"}
