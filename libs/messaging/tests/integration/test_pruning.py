"""Ledger pruning: the service app prunes its schema's ledger on a schedule (rows past
the retention go, recent rows of every group stay), in batches, and a redelivered event
within the retention is still skipped after a pruning."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from pydantic import ValidationError
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from libs.messaging.tests.integration.support import Bus, category_created, wait_for
from libs.messaging.tests.integration.test_consumer import make_consumer
from marcus_messaging.pruning import prune_ledger
from marcus_web.app import create_service_app
from marcus_web.settings import ServiceSettings
from tests.support.servers import serve_app

WEEK = timedelta(days=7)


async def add_rows(engine: AsyncEngine, schema: str, group: str, ages: list[timedelta]) -> None:
    """Ledger rows of `group`, processed `age` ago each."""
    async with engine.begin() as conn:
        for age in ages:
            await conn.execute(
                text(
                    f"INSERT INTO {schema}.processed_events"
                    " (consumer_group, event_id, event_type, stream, entry_id, processed_at)"
                    " VALUES (:group, :id, 'catalog.category.created', 'events.catalog',"
                    " '1-0', now() - :age)"
                ),
                {"group": group, "id": uuid.uuid4(), "age": age},
            )


async def ages(engine: AsyncEngine, schema: str) -> list[tuple[str, int]]:
    """(group, age in whole days) of every ledger row."""
    async with engine.connect() as conn:
        rows = await conn.execute(
            text(
                "SELECT consumer_group, extract(day FROM now() - processed_at)::int"
                f" FROM {schema}.processed_events ORDER BY 1, 2"
            )
        )
        return [(row[0], row[1]) for row in rows]


async def test_the_service_app_prunes_its_ledger_on_a_schedule(
    engine: AsyncEngine, schema: str, database_url: str, redis_url: str
) -> None:
    days = [timedelta(days=d) for d in (30, 8, 6, 1)] + [timedelta(minutes=5)]
    await add_rows(engine, schema, "indexer", days)
    await add_rows(engine, schema, "catalog", days[:2] + days[-1:])
    settings = ServiceSettings(
        database_url=database_url, redis_url=redis_url, ledger_prune_interval_s=0.2
    )
    app = create_service_app(
        settings, service=schema, title="t", description="d", routers=[], relay=False
    )
    async with serve_app(app):
        remaining = await wait_for(
            lambda: ages(engine, schema),
            lambda rows: all(age < 7 for _, age in rows),
            what="rows older than the retention pruned",
        )
    assert remaining == [("catalog", 0), ("indexer", 0), ("indexer", 1), ("indexer", 6)]


async def test_pruning_goes_in_batches(engine: AsyncEngine, schema: str) -> None:
    await add_rows(engine, schema, "indexer", [timedelta(days=8)] * 7 + [timedelta(hours=1)])
    assert await prune_ledger(engine, schema, WEEK, batch=3) == 7
    assert await ages(engine, schema) == [("indexer", 0)]


async def test_a_redelivery_within_the_retention_is_still_skipped_after_pruning(
    bus: Bus,
) -> None:
    engine, schema = bus.engine, bus.schema
    consumer = make_consumer(bus)

    once = category_created("once")
    await add_rows(engine, schema, "indexer", [timedelta(days=8)])
    async with consumer.running():
        await bus.publish(once)
        await bus.effects_until(1)
        # The retention's minimum (an hour), and the default week: both keep the row.
        assert await prune_ledger(engine, schema, timedelta(hours=1)) == 1
        assert await prune_ledger(engine, schema, WEEK) == 0
        marker = category_created("marker")
        await bus.publish(once, marker)  # the same event again, e.g. a republish
        rows = await bus.effects_until(
            lambda rows: str(marker.id) in {row[0] for row in rows}, what="the marker effect"
        )
    assert [row[0] for row in rows] == [str(once.id), str(marker.id)]


def test_a_retention_shorter_than_an_hour_is_refused() -> None:
    with pytest.raises(ValidationError, match="ledger_retention_s"):
        ServiceSettings(ledger_retention_s=600)
