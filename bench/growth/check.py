"""Are the bench's bulk-written projections what the catalog's own projector makes?

A sample of products (with every category) is copied, events only, into a fresh catalog
database; `rebuild_projections` replays them through `CatalogProjector`, and the rows it
leaves are compared with the bench's rows for the same products.
"""

from __future__ import annotations

import uuid
from typing import Any

import psycopg
from sqlalchemy.ext.asyncio import create_async_engine

from bench.services import fresh_database
from marcus_eventstore import EventStore
from marcus_eventstore.migrations import libpq_dsn
from marcus_eventstore.projections import rebuild_projections

PRODUCT_COLUMNS = (
    "id, sku, name, description, price, currency, category_id, attributes::text, stock,"
    " version, created_at, updated_at, kind"
)
RESERVATION_COLUMNS = "order_id, product_id, quantity, status, reserved_at, released_at"
EVENT_COLUMNS = "id, subject, sequence, type, dataversion, time, envelope"


def _rows(dsn: str, query: str, ids: list[uuid.UUID]) -> list[tuple[Any, ...]]:
    with psycopg.connect(dsn) as conn:
        return conn.execute(query, (ids,)).fetchall()


async def check_projections(
    server_url: str, history_url: str, products: list[uuid.UUID], categories: list[uuid.UUID]
) -> dict[str, Any]:
    """Replays the sample through the catalog's projector; returns what differs."""
    from catalog.storage.projector import CatalogProjector
    from catalog.storage.tables import event_store

    source = libpq_dsn(history_url)
    subjects = [str(i) for i in [*categories, *products]]
    with fresh_database(server_url, ("catalog",), "growth_check") as check_url:
        target = libpq_dsn(check_url)
        with psycopg.connect(source) as src, psycopg.connect(target) as dst:
            rows = src.execute(
                f"SELECT {EVENT_COLUMNS.replace('envelope', 'envelope::text')}"
                " FROM catalog.events WHERE subject = ANY(%s) ORDER BY position",
                (subjects,),
            ).fetchall()
            with (
                dst.cursor() as cur,
                cur.copy(f"COPY catalog.events ({EVENT_COLUMNS}) FROM STDIN") as copy,
            ):
                for row in rows:
                    copy.write_row(row)
        engine = create_async_engine(check_url)
        try:
            replayed = await rebuild_projections(
                engine, EventStore(event_store), CatalogProjector()
            )
        finally:
            await engine.dispose()
        differences = []
        for table, columns, key in (
            ("products", PRODUCT_COLUMNS, "id"),
            ("reservations", RESERVATION_COLUMNS, "product_id"),
        ):
            query = (
                f"SELECT {columns} FROM catalog.{table} WHERE {key} = ANY(%s) ORDER BY {columns}"
            )
            bench_rows = _rows(source, query, products)
            projector_rows = _rows(target, query, products)
            if bench_rows != projector_rows:
                mismatched = [
                    (a, b) for a, b in zip(bench_rows, projector_rows, strict=False) if a != b
                ]
                differences.append(
                    {
                        "table": table,
                        "bench_rows": len(bench_rows),
                        "projector_rows": len(projector_rows),
                        "first": repr(mismatched[:1])[:600],
                    }
                )
    return {
        "products": len(products),
        "events_replayed": replayed,
        "differences": differences,
    }
