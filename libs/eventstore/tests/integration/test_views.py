"""Materialized views refreshed from `scheduler.views.refresh_requested`, through a real
consumer group on a real stream, against a real materialized view made here (no service
owns one yet: the assistant's best sellers come later)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from marcus_contracts import STREAM_FIELD, StreamNames, registry
from marcus_contracts.events.scheduler import ViewsRefreshRequested
from marcus_eventstore.views import MaterializedViews, ViewError
from marcus_messaging import (
    Consumer,
    ConsumerSettings,
    HandlerContext,
    create_ledger_tables,
    group_state,
)
from tests.support.servers import wait_for


@pytest.fixture
async def shop(engine: AsyncEngine) -> AsyncIterator[str]:
    """A schema with sales, a best-sellers view (unique index) and an unfilled view."""
    schema = f"views_{uuid.uuid4().hex[:8]}"
    async with engine.begin() as conn:
        for statement in (
            f"CREATE SCHEMA {schema}",
            f"CREATE TABLE {schema}.sales (product text NOT NULL, quantity int NOT NULL)",
            f"INSERT INTO {schema}.sales VALUES ('mug', 3), ('tea', 1)",
            f"CREATE MATERIALIZED VIEW {schema}.best_sellers AS "
            f"SELECT product, sum(quantity) AS sold FROM {schema}.sales GROUP BY product",
            f"CREATE UNIQUE INDEX ON {schema}.best_sellers (product)",
            f"CREATE MATERIALIZED VIEW {schema}.daily AS "
            f"SELECT count(*) AS n, 1 AS k FROM {schema}.sales WITH NO DATA",
            f"CREATE UNIQUE INDEX ON {schema}.daily (k)",
            f"CREATE MATERIALIZED VIEW {schema}.no_key AS SELECT product FROM {schema}.sales",
        ):
            await conn.execute(text(statement))
    await create_ledger_tables(engine, schema)
    yield schema
    async with engine.begin() as conn:
        await conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))


async def sold(engine: AsyncEngine, schema: str, product: str) -> int | None:
    async with engine.connect() as conn:
        query = text(f"SELECT sold FROM {schema}.best_sellers WHERE product = :p")
        return (await conn.execute(query, {"p": product})).scalar_one_or_none()


async def request_refresh(redis_client, prefix: str, views: list[str]) -> None:
    event = ViewsRefreshRequested(
        job="views-refresh", fire_time=datetime.now(UTC), requested_by="schedule", views=views
    )
    envelope = registry.envelope(event, subject=str(uuid.uuid4()), sequence=1)
    stream = StreamNames(prefix).events("scheduler")
    await redis_client.xadd(stream, {STREAM_FIELD: envelope.to_json()})


def views_consumer(engine, schema, redis_url, prefix, views: MaterializedViews) -> Consumer:
    consumer = Consumer(
        group=schema,
        streams=["scheduler"],
        engine=engine,
        schema=schema,
        redis_url=redis_url,
        names=StreamNames(prefix),
        settings=ConsumerSettings(block_ms=100, backoff_base_ms=100),
    )

    async def on_views_refresh_requested(ctx: HandlerContext) -> None:
        await views.refresh(ctx.session, ctx.event.views)

    consumer.handler(ViewsRefreshRequested.event_type)(on_views_refresh_requested)
    return consumer


async def test_refresh_requests_refresh_the_view_while_readers_keep_reading(
    engine, shop, redis_url, redis_client, stream_prefix
) -> None:
    views = MaterializedViews(shop, ["best_sellers", "daily"])
    async with engine.connect() as conn:
        await views.check(conn)
    async with engine.begin() as conn:
        await conn.execute(text(f"INSERT INTO {shop}.sales VALUES ('mug', 4), ('pot', 2)"))
    assert await sold(engine, shop, "mug") == 3, "a view shows what it held at its refresh"

    consumer = views_consumer(engine, shop, redis_url, stream_prefix, views)
    async with consumer.running(), engine.connect() as reader:
        # A reader inside an open transaction holds ACCESS SHARE on the view: a plain
        # REFRESH would wait for it; CONCURRENTLY does not.
        await reader.execute(text("BEGIN"))
        await reader.execute(text(f"SELECT * FROM {shop}.best_sellers"))
        await request_refresh(redis_client, stream_prefix, views=[])
        await wait_for(lambda: _equals(sold(engine, shop, "mug"), 7), within=15, what="the refresh")
        assert await sold(engine, shop, "pot") == 2
        await reader.execute(text("ROLLBACK"))
    async with engine.connect() as conn:
        filled = await conn.execute(text(f"SELECT n FROM {shop}.daily"))
        assert filled.scalar_one() == 4, "the unfilled view was filled (plainly, once)"


async def test_views_of_other_services_are_left_alone(
    engine, shop, redis_url, redis_client, stream_prefix
) -> None:
    views = MaterializedViews(shop, ["best_sellers"])
    assert views.selected(["orders.daily_totals"]) == []
    assert views.selected([f"{shop}.best_sellers"]) == ["best_sellers"]
    assert views.selected(["best_sellers", "x"]) == ["best_sellers"]

    async with engine.begin() as conn:
        await conn.execute(text(f"INSERT INTO {shop}.sales VALUES ('tea', 9)"))
    consumer = views_consumer(engine, shop, redis_url, stream_prefix, views)
    async with consumer.running():
        await request_refresh(redis_client, stream_prefix, views=["orders.daily_totals"])
        await request_refresh(redis_client, stream_prefix, views=[f"{shop}.best_sellers"])
        await wait_for(lambda: _equals(sold(engine, shop, "tea"), 10), what="the named refresh")
        stream = StreamNames(stream_prefix).events("scheduler")
        await wait_for(lambda: _acked(redis_client, stream, shop), what="both requests acked")


async def test_check_refuses_views_that_cannot_be_refreshed_concurrently(engine, shop) -> None:
    async with engine.connect() as conn:
        with pytest.raises(ViewError, match="unique index"):
            await MaterializedViews(shop, ["no_key"]).check(conn)
        with pytest.raises(ViewError, match="does not exist"):
            await MaterializedViews(shop, ["nope"]).check(conn)
    with pytest.raises(ValueError, match="at least one"):
        MaterializedViews(shop, [])


async def _equals(value, expected) -> bool:
    return await value == expected


async def _acked(redis_client, stream: str, group: str) -> bool:
    state = await group_state(redis_client, stream, group)
    return state is not None and state.pending == 0 and state.lag == 0
