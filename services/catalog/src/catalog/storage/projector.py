"""Applies catalog events to the projection tables (live and during rebuilds)."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any

from sqlalchemy import Table, Update, bindparam, delete, text, update
from sqlalchemy.dialects.postgresql import Insert, insert
from sqlalchemy.ext.asyncio import AsyncSession

from catalog.storage import configurations
from catalog.storage.tables import (
    PROJECTIONS,
    categories,
    option_reservations,
    options,
    products,
    reservations,
)
from marcus_contracts import Envelope, registry
from marcus_contracts.events import catalog as ev

Apply = Callable[[AsyncSession, Envelope, Any], Awaitable[None]]


_UPSERTS: dict[tuple[str, frozenset[str]], Insert] = {}
"""Upsert statements by table and columns, built once: with the values as parameters,
SQLAlchemy neither builds a statement nor computes its cache key per event."""


def _upsert_statement(table: Table, columns: frozenset[str]) -> Insert:
    """INSERT these columns (and `created_at`); on an existing id, SET them all from the
    proposed row (EXCLUDED): every column but `created_at` takes the event's value."""
    key = (table.name, columns)
    stmt = _UPSERTS.get(key)
    if stmt is None:
        proposed = insert(table)
        stmt = _UPSERTS[key] = proposed.on_conflict_do_update(
            index_elements=["id"],
            set_={name: proposed.excluded[name] for name in sorted(columns)},
        )
    return stmt


async def _upsert(
    session: AsyncSession, table: Table, envelope: Envelope, values: dict[str, Any]
) -> None:
    """The row as the snapshot event has it, at the event's version: inserted, or
    updated in place (`created_at` stays the first event's time)."""
    values = values | {"version": envelope.sequence, "updated_at": envelope.time}
    stmt = _upsert_statement(table, frozenset(values))
    await session.execute(stmt, values | {"created_at": envelope.time})


async def _category(session: AsyncSession, envelope: Envelope, event: Any) -> None:
    values = event.model_dump(include={"slug", "name", "description"})
    await _upsert(session, categories, envelope, values | {"id": event.category_id})


async def _product(session: AsyncSession, envelope: Envelope, event: Any) -> None:
    await _upsert(
        session,
        products,
        envelope,
        {
            "id": event.product_id,
            "sku": event.sku,
            "name": event.name,
            "description": event.description,
            "price": event.price,
            "currency": event.currency,
            "category_id": event.category.id,
            "attributes": event.attributes,
            "stock": event.stock,
            "kind": event.kind,
            "base_product_id": event.base_product_id,
        },
    )
    if event.kind == "configurable":
        await configurations.replace_configuration(session, event)
    elif event.kind == "preconfigured":
        await configurations.replace_selection(session, event)


async def _product_deleted(session: AsyncSession, envelope: Envelope, event: Any) -> None:
    await session.execute(delete(products).where(products.c.id == event.product_id))
    await configurations.delete_configuration(session, event.product_id)
    await configurations.delete_selection(session, event.product_id)


def _new_stock(envelope: Envelope, event: Any) -> Update:
    return (
        update(products)
        .where(products.c.id == event.product_id)
        .values(stock=event.stock, version=envelope.sequence, updated_at=envelope.time)
    )


async def _stock_adjusted(session: AsyncSession, envelope: Envelope, event: Any) -> None:
    await session.execute(_new_stock(envelope, event))


async def _stock_reserved(session: AsyncSession, envelope: Envelope, event: Any) -> None:
    await _stocks_reserved(session, [(envelope, event)])


_RESERVED_MANY = text(
    f"""WITH r AS (
    SELECT * FROM jsonb_to_recordset(CAST(:rows AS jsonb))
        AS r(order_id uuid, product_id uuid, quantity bigint, stock bigint,
             version integer, at timestamptz)
), new_stock AS (
    UPDATE {products.fullname} AS p SET stock = r.stock, version = r.version, updated_at = r.at
    FROM r WHERE p.id = r.product_id
)
INSERT INTO {reservations.fullname}
    (order_id, product_id, quantity, status, reserved_at, released_at)
SELECT order_id, product_id, quantity, 'reserved', at, NULL FROM r
ON CONFLICT (order_id, product_id) DO UPDATE
SET quantity = EXCLUDED.quantity, status = 'reserved', released_at = NULL"""
)
"""`catalog.stock.reserved` of distinct products (an order's lines, or one) in one
statement: each product's new stock (the UPDATE a CTE) and the order's reservation,
read from one JSON array. Distinct, because one statement cannot update a row twice."""


async def _stocks_reserved(session: AsyncSession, run: list[tuple[Envelope, Any]]) -> None:
    rows = [
        {
            "order_id": str(event.order_id),
            "product_id": str(event.product_id),
            "quantity": event.quantity,
            "stock": event.stock,
            "version": envelope.sequence,
            "at": envelope.time.isoformat(),
        }
        for envelope, event in run
    ]
    await session.execute(_RESERVED_MANY, {"rows": json.dumps(rows)})


async def _stock_released(session: AsyncSession, envelope: Envelope, event: Any) -> None:
    await _stock_adjusted(session, envelope, event)
    held = reservations.c.product_id == event.product_id
    await _released(session, envelope, reservations, event.order_id, held)


async def _released(
    session: AsyncSession, envelope: Envelope, table: Table, order_id: Any, which: Any
) -> None:
    """The order's reservations `which` selects are released (kept, for the record)."""
    await session.execute(
        update(table)
        .where(table.c.order_id == order_id, which)
        .values(status="released", released_at=envelope.time)
    )


async def _option_stock(session: AsyncSession, envelope: Envelope, event: Any) -> None:
    """The moved options get their new stock (the event carries every option's)."""
    await _stock_adjusted(session, envelope, event)
    moved = {o.option_id for o in event.options}
    await session.execute(
        update(options).where(options.c.id == bindparam("b_id")).values(stock=bindparam("b_stock")),
        [{"b_id": s.option_id, "b_stock": s.stock} for s in event.stocks if s.option_id in moved],
    )


async def _options_reserved(session: AsyncSession, envelope: Envelope, event: Any) -> None:
    await _option_stock(session, envelope, event)
    rows = [
        {
            "order_id": event.order_id,
            "option_id": moved.option_id,
            "product_id": event.product_id,
            "quantity": moved.quantity,
            "status": "reserved",
            "reserved_at": envelope.time,
            "released_at": None,
        }
        for moved in event.options
    ]
    stmt = insert(option_reservations)
    await session.execute(
        stmt.on_conflict_do_update(
            index_elements=["order_id", "option_id"],
            set_={"quantity": stmt.excluded.quantity, "status": "reserved", "released_at": None},
        ),
        rows,
    )


async def _options_released(session: AsyncSession, envelope: Envelope, event: Any) -> None:
    await _option_stock(session, envelope, event)
    held = option_reservations.c.option_id.in_([o.option_id for o in event.options])
    await _released(session, envelope, option_reservations, event.order_id, held)


_APPLIERS: dict[str, Apply] = {
    ev.CategoryCreated.event_type: _category,
    ev.CategoryUpdated.event_type: _category,
    ev.ProductCreated.event_type: _product,
    ev.ProductUpdated.event_type: _product,
    ev.ProductDeleted.event_type: _product_deleted,
    ev.StockAdjusted.event_type: _stock_adjusted,
    ev.StockReserved.event_type: _stock_reserved,
    ev.StockReleased.event_type: _stock_released,
    ev.OptionStockReserved.event_type: _options_reserved,
    ev.OptionStockReleased.event_type: _options_released,
}


class CatalogProjector:
    """One function per event type; events are decoded (and upcast) through the registry."""

    tables: Sequence[Table] = PROJECTIONS

    async def apply(self, session: AsyncSession, envelope: Envelope) -> None:
        applier = _APPLIERS.get(envelope.type)
        if applier is not None:
            await applier(session, envelope, registry.decode(envelope))

    async def apply_all(self, session: AsyncSession, envelopes: Iterable[Envelope]) -> None:
        """`apply` each in order, except that consecutive stock reservations of distinct
        products (a reserved order's lines, the saga's hot path) are one statement
        instead of one each."""
        run: list[tuple[Envelope, Any]] = []
        for envelope in envelopes:
            if envelope.type == ev.StockReserved.event_type:
                event: Any = registry.decode(envelope)
                if all(event.product_id != other.product_id for _, other in run):
                    run.append((envelope, event))
                    continue
                await self._reserved(session, run)
                run = [(envelope, event)]
                continue
            await self._reserved(session, run)
            run = []
            await self.apply(session, envelope)
        await self._reserved(session, run)

    async def _reserved(self, session: AsyncSession, run: list[tuple[Envelope, Any]]) -> None:
        if run:
            await _stocks_reserved(session, run)
