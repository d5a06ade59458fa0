"""A catalog's history at a fixed catalog, written as the catalog service would have.

N simple products in 12 categories, then rounds of changes: each round gives every
product one more change, drawn like a shop's day: mostly stock reservations (grouped
into orders of 1-3 lines, each order answered by one `catalog.stock.allocated`), some
releases (a cancelled order's units back), restocks and price or name updates. Every
event is the catalog's own class from `marcus_contracts.events.catalog` in an envelope
from `registry.envelope`, with the product's next version as its sequence.

Each event is written twice, in the same order: into the catalog's PostgreSQL event
table (COPY, the JSON text the relay publishes) and into `events.catalog` (pipelined
XADD of that same text). No outbox rows: a running catalog's relay has nothing to send
again. The projections (categories, products, reservations) are what the catalog's
projector would make of those events; `check_projections` replays a sample of products
through `CatalogProjector` itself and compares.
"""

from __future__ import annotations

import json
import random
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import psycopg
import redis

from marcus_contracts import STREAM_FIELD, Event, registry
from marcus_contracts.events import catalog as ev

START = datetime(2026, 1, 1, tzinfo=UTC)
STEP = timedelta(seconds=2)
"""Simulated time between two events (envelope times only; stream ids are Redis's)."""
FLUSH = 5000
LINES = (1, 1, 1, 1, 1, 2, 2, 2, 3, 3)
"""Distinct products per order (mean 1.7)."""
MIX = (("reserved", 0.80), ("released", 0.06), ("adjusted", 0.04), ("updated", 0.10))
"""What one change of a product is: mostly the stock saga, some catalog edits."""
STOCK_TYPES = frozenset(
    {
        ev.StockReserved.event_type,
        ev.StockReleased.event_type,
        ev.StockAdjusted.event_type,
        ev.OptionStockReserved.event_type,
        ev.OptionStockReleased.event_type,
    }
)
ADJECTIVES = ("Trail", "Urban", "Classic", "Compact", "Sturdy", "Light", "Warm", "Quiet")
NOUNS = ("jacket", "grinder", "kettle", "backpack", "lamp", "chair", "boots", "tent")


@dataclass
class Product:
    id: uuid.UUID
    sku: str
    name: str
    description: str
    price: Decimal
    category: int
    attributes: dict[str, Any]
    stock: int
    version: int = 0
    created_at: datetime = START
    updated_at: datetime = START
    open: list[tuple[uuid.UUID, int]] = field(default_factory=list)
    """Reservations not released yet: (order id, quantity)."""


@dataclass
class Reservation:
    quantity: int
    reserved_at: datetime
    status: str = "reserved"
    released_at: datetime | None = None


class History:
    """The growing history of one catalog: `create` once, then `extend` by rounds."""

    def __init__(
        self, products: int, database_url: str, redis_url: str, stream: str, seed: int = 24
    ) -> None:
        self.size = products
        self.database_url = database_url
        self.stream = stream
        self.rng = random.Random(seed)
        self.redis = redis.Redis.from_url(redis_url)
        self.clock = START
        self.rounds = 0
        self.types: Counter[str] = Counter()
        self.categories: list[ev.CategoryRef] = []
        self.category_times: list[datetime] = []
        self.products: list[Product] = []
        self.reservations: dict[tuple[uuid.UUID, uuid.UUID], Reservation] = {}
        self._rows: list[tuple[Any, ...]] = []

    # ------------------------------------------------------------------ writing

    def _emit(self, event: Event, subject: uuid.UUID, sequence: int) -> datetime:
        self.clock += STEP
        envelope = registry.envelope(event, subject=str(subject), sequence=sequence)
        envelope = envelope.model_copy(update={"time": self.clock})
        text = json.dumps(envelope.model_dump(mode="json", exclude_none=True))
        self._rows.append(
            (
                envelope.id,
                envelope.subject,
                sequence,
                envelope.type,
                event.version,
                self.clock,
                text,
            )
        )
        self.types[envelope.type] += 1
        if len(self._rows) >= FLUSH:
            self.flush()
        return self.clock

    def flush(self) -> None:
        """The buffered events into the event table and the stream, in order."""
        rows, self._rows = self._rows, []
        if not rows:
            return
        with (
            psycopg.connect(self.database_url) as conn,
            conn.cursor() as cur,
            cur.copy(
                "COPY catalog.events (id, subject, sequence, type, dataversion, time, envelope)"
                " FROM STDIN"
            ) as copy,
        ):
            for row in rows:
                copy.write_row(row)
        pipe = self.redis.pipeline(transaction=False)
        for row in rows:
            pipe.xadd(self.stream, {STREAM_FIELD: row[6]})
        pipe.execute()

    def close(self) -> None:
        self.redis.close()

    # ------------------------------------------------------------------ history

    def create(self) -> None:
        """Categories and products, each created once (version 1)."""
        for i in range(12):
            ref = ev.CategoryRef(id=uuid.uuid4(), slug=f"category-{i}", name=f"Category {i}")
            created = ev.CategoryCreated(
                category_id=ref.id, slug=ref.slug, name=ref.name, description=f"All of {i}"
            )
            self.category_times.append(self._emit(created, ref.id, 1))
            self.categories.append(ref)
        for i in range(self.size):
            product = Product(
                id=uuid.uuid4(),
                sku=f"G-{i:06d}",
                name=f"{self.rng.choice(ADJECTIVES)} {self.rng.choice(NOUNS)} {i}",
                description="Made to last, easy to care for, and good value. " * 2,
                price=Decimal(f"{5 + i % 400}.90"),
                category=i % 12,
                attributes={"colour": ("red", "blue", "black")[i % 3], "weight_g": 100 + i % 900},
                stock=1000 + self.rng.randrange(500),
            )
            product.version = 1
            product.created_at = product.updated_at = self._emit(
                ev.ProductCreated(**self._snapshot(product)), product.id, 1
            )
            self.products.append(product)
        self.flush()

    def _snapshot(self, product: Product) -> dict[str, Any]:
        return {
            "product_id": product.id,
            "sku": product.sku,
            "name": product.name,
            "description": product.description,
            "price": product.price,
            "currency": "EUR",
            "category": self.categories[product.category],
            "attributes": product.attributes,
            "stock": product.stock,
            "kind": "simple",
        }

    def extend(self, rounds: int) -> None:
        """`rounds` more changes per product, products interleaved within each round."""
        for _ in range(rounds):
            self._round()
            self.rounds += 1
        self.flush()

    def _kind(self, product: Product) -> str:
        draw = self.rng.random()
        for kind, share in MIX:
            if draw < share:
                return "reserved" if kind == "released" and not product.open else kind
            draw -= share
        return MIX[-1][0]

    def _round(self) -> None:
        units: list[tuple[str, list[Product]]] = []
        reserving: list[Product] = []
        for product in self.products:
            kind = self._kind(product)
            if kind == "reserved":
                reserving.append(product)
            else:
                units.append((kind, [product]))
        self.rng.shuffle(reserving)
        while reserving:
            size = self.rng.choice(LINES)
            units.append(("order", reserving[:size]))
            reserving = reserving[size:]
        self.rng.shuffle(units)
        for kind, products in units:
            if kind == "order":
                self._order(products)
            else:
                self._change(kind, products[0])

    def _order(self, lines: list[Product]) -> None:
        """One order's reservations and the catalog's answer, as the saga commits them."""
        order_id = uuid.uuid4()
        allocated = []
        for number, product in enumerate(lines):
            quantity = self.rng.choice((1, 1, 1, 2))
            product.stock -= quantity
            product.version += 1
            at = self._emit(
                ev.StockReserved(
                    product_id=product.id, order_id=order_id, quantity=quantity, stock=product.stock
                ),
                product.id,
                product.version,
            )
            product.updated_at = at
            product.open.append((order_id, quantity))
            self.reservations[(order_id, product.id)] = Reservation(quantity, at)
            allocated.append(
                ev.AllocatedLine(
                    line=number,
                    product_id=product.id,
                    sku=product.sku,
                    name=product.name,
                    quantity=quantity,
                    base_price=product.price,
                    unit_price=product.price,
                    line_total=product.price * quantity,
                )
            )
        total = sum((line.line_total for line in allocated), Decimal(0))
        self._emit(
            ev.StockAllocated(order_id=order_id, currency="EUR", lines=allocated, total=total),
            order_id,
            1,
        )

    def _change(self, kind: str, product: Product) -> None:
        product.version += 1
        event: Event
        if kind == "released":
            order_id, quantity = product.open.pop(self.rng.randrange(len(product.open)))
            product.stock += quantity
            event = ev.StockReleased(
                product_id=product.id, order_id=order_id, quantity=quantity, stock=product.stock
            )
        elif kind == "adjusted":
            product.stock += 20
            event = ev.StockAdjusted(
                product_id=product.id, delta=20, stock=product.stock, reason="restock"
            )
        elif self.rng.random() < 0.5:
            product.price += Decimal("1.00")
            event = ev.ProductUpdated(**self._snapshot(product))
        else:
            product.name = f"{product.name.rsplit(' v', 1)[0]} v{product.version}"
            event = ev.ProductUpdated(**self._snapshot(product))
        at = self._emit(event, product.id, product.version)
        product.updated_at = at
        if kind == "released":
            reservation = self.reservations[(order_id, product.id)]
            reservation.status, reservation.released_at = "released", at

    # ------------------------------------------------------------------ projections

    def write_projections(self) -> None:
        """categories, products and reservations as the projector leaves them."""
        with psycopg.connect(self.database_url) as conn, conn.cursor() as cur:
            cur.execute("TRUNCATE catalog.reservations, catalog.products, catalog.categories")
            with cur.copy(
                "COPY catalog.categories (id, slug, name, description, version, created_at,"
                " updated_at) FROM STDIN"
            ) as copy:
                for n, (ref, at) in enumerate(
                    zip(self.categories, self.category_times, strict=True)
                ):
                    copy.write_row((ref.id, ref.slug, ref.name, f"All of {n}", 1, at, at))
            with cur.copy(
                "COPY catalog.products (id, sku, name, description, price, currency, category_id,"
                " attributes, stock, version, created_at, updated_at, kind) FROM STDIN"
            ) as copy:
                for p in self.products:
                    copy.write_row(
                        (p.id, p.sku, p.name, p.description, p.price, "EUR",
                         self.categories[p.category].id, json.dumps(p.attributes), p.stock,
                         p.version, p.created_at, p.updated_at, "simple")
                    )  # fmt: skip
            with cur.copy(
                "COPY catalog.reservations (order_id, product_id, quantity, status, reserved_at,"
                " released_at) FROM STDIN"
            ) as copy:
                for (order_id, product_id), r in self.reservations.items():
                    copy.write_row(
                        (order_id, product_id, r.quantity, r.status, r.reserved_at, r.released_at)
                    )
            cur.execute("ANALYZE catalog.products")

    def entries(self) -> int:
        return sum(self.types.values())

    def stock_share(self) -> float:
        stock = sum(n for t, n in self.types.items() if t in STOCK_TYPES)
        return stock / self.entries()
