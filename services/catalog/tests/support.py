"""What the catalog's integration and end-to-end tests share besides fixtures: API
shortcuts, the stream as consumers see it, order events as the orders service publishes
them (imported by path: `from services.catalog.tests.support import ...`)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any
from uuid import UUID

import httpx
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from catalog.storage.tables import event_store
from catalog.storage.uow import CatalogUnitOfWork
from marcus_contracts import STREAM_FIELD, Envelope, registry
from marcus_contracts.events import orders
from marcus_contracts.events.history import orders as order_history
from marcus_eventstore import rebuild_projections

PROBLEM = "application/problem+json"


async def event_count(engine: AsyncEngine) -> int:
    """Events in the catalog's event store (a refused write adds none)."""
    async with engine.connect() as conn:
        return int(
            (await conn.execute(select(func.count()).select_from(event_store.events))).scalar_one()
        )


class CatalogApi:
    """Shortcuts for the writes most tests need before they can test something."""

    def __init__(self, client: httpx.AsyncClient, headers: dict[str, str]) -> None:
        self.client = client
        self.headers = headers

    async def category(self, slug: str = "bikes") -> dict[str, Any]:
        response = await self.client.post(
            "/api/v1/categories", json={"slug": slug, "name": slug.title()}, headers=self.headers
        )
        assert response.status_code == 201, response.text
        return dict(response.json())

    async def product(self, category_id: str, **overrides: object) -> dict[str, Any]:
        body = {
            "sku": "SKU-1",
            "name": "Road bike",
            "description": "A light aluminium road bike.",
            "price": "999.90",
            "currency": "EUR",
            "category_id": category_id,
            "attributes": {"colour": "red", "weight_kg": 8.4},
            "stock": 5,
        } | overrides
        response = await self.client.post("/api/v1/products", json=body, headers=self.headers)
        assert response.status_code == 201, response.text
        return dict(response.json())


class StreamReader:
    """Reads a stream as consumers will see it."""

    def __init__(self, redis_client: Any, stream: str) -> None:
        self.redis = redis_client
        self.stream = stream

    async def envelopes(self) -> list[Envelope]:
        entries = await self.redis.xrange(self.stream)
        return [Envelope.from_json(fields[STREAM_FIELD.encode()]) for _, fields in entries]

    async def has_at_least(self, count: int) -> bool:
        return int(await self.redis.xlen(self.stream)) >= count


def product_body(category_id: str, **fields: object) -> dict[str, object]:
    """The body of a minimal product (SKU-1 at 1.00); `fields` add to it or override."""
    return {"sku": "SKU-1", "name": "p", "price": "1.00", "category_id": category_id} | fields


async def projections_rebuild_unchanged(engine: AsyncEngine, *tables: str) -> None:
    """Rebuilding the projections from the event store leaves these `catalog` tables
    exactly as they are."""

    async def rows() -> dict[str, list[tuple[Any, ...]]]:
        async with engine.connect() as conn:
            return {
                t: sorted(
                    map(tuple, (await conn.execute(text(f"SELECT * FROM catalog.{t}"))).all())
                )
                for t in tables
            }

    before = await rows()
    await rebuild_projections(engine, CatalogUnitOfWork.store, CatalogUnitOfWork.projector)
    assert await rows() == before


def _order_event(
    model: Any, order_id: UUID, lines: list[Any], sequence: int, **fields: Any
) -> Envelope:
    event = model(
        order_id=order_id,
        customer="alice",
        email="alice@example.com",
        currency="EUR",
        lines=lines,
        **fields,
    )
    return registry.envelope(event, subject=str(order_id), sequence=sequence)


def order_envelope(
    model: type[order_history._OrderSnapshotV1],
    order_id: UUID,
    lines: list[tuple[str, int]],
    sequence: int,
) -> Envelope:
    """An order event of the first version (priced lines of 1.00): the catalog upcasts."""
    priced = [
        order_history.OrderLine(
            product_id=UUID(product_id),
            sku="X",
            name="x",
            unit_price=Decimal("1.00"),
            quantity=quantity,
            line_total=Decimal(quantity),
        )
        for product_id, quantity in lines
    ]
    total = Decimal(sum(q for _, q in lines))
    return _order_event(model, order_id, priced, sequence, total=total)


def placed(
    order_id: UUID,
    lines: list[tuple[str, int, list[str]]],
    model: Any = orders.OrderPlaced,
    sequence: int = 1,
) -> Envelope:
    """An order event as the orders service writes it now: (product, quantity, options)
    lines, unpriced (the catalog prices them)."""
    unpriced = [
        orders.OrderLine(
            product_id=UUID(product_id),
            sku="X",
            name="x",
            quantity=quantity,
            kind="configurable" if options else "simple",
            options=[orders.LineOption(option_id=UUID(o)) for o in options],
        )
        for product_id, quantity, options in lines
    ]
    return _order_event(model, order_id, unpriced, sequence)
