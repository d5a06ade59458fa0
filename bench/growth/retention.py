"""Redis memory over simulated days of orders, with a 7-day retention on every stream.

Each simulated day K orders go through the shop's real saga, as envelopes of the real
event classes on the streams their services publish to (every order through the cart):

- `events.orders`: `cart.item_added` per line, `cart.checked_out`, `order.placed`, then
  `order.confirmed`, `order.shipped` and `order.delivered` (3 % of confirmed orders are
  cancelled instead of shipped: `order.cancelled`; 2 % are rejected:
  `cart.items_restored` and `order.rejected`);
- `events.catalog`: `stock.reserved` per line and `stock.allocated` (a rejected order:
  `stock.rejected`; a cancelled one: `stock.released` per line);
- `events.notifier`: `email.sent` for each confirmed, shipped, cancelled or rejected order.

Entries carry explicit ids at the simulated time (`<ms>-<seq>`); the day's orders are
placed in its first 16 hours, shipped 6 hours and delivered 8 hours later. One consumer
group per stream reads and acknowledges everything after each day (consumers keep up),
then retention runs with `now` = the end of that day. Per day: entries and
`MEMORY USAGE <key> SAMPLES 0` per stream, their sum, bytes per entry.
"""

from __future__ import annotations

import json
import random
import time
import uuid
from collections import Counter, defaultdict
from datetime import timedelta
from decimal import Decimal
from typing import Any

import redis.asyncio as aioredis

from bench.growth.history import LINES, START, STOCK_TYPES
from marcus_contracts import STREAM_FIELD, Event, StreamNames, registry
from marcus_contracts.events import cart as cart_ev
from marcus_contracts.events import catalog as cat_ev
from marcus_contracts.events import notifier as note_ev
from marcus_contracts.events import orders as ord_ev

DAY = timedelta(days=1)
GROUP = "bench-growth"
STREAMS = ("orders", "catalog", "notifier")
REJECTED = 0.02
CANCELLED = 0.03
ADDRESS = ord_ev.ShippingAddress(
    name="Ada Lovelace", lines=["12 Long Street"], city="Lyon", postal_code="69001", country="FR"
)


class Shop:
    """The products orders are for, and the versions every aggregate has reached."""

    def __init__(self, products: int, seed: int = 24) -> None:
        self.rng = random.Random(seed)
        self.products = [
            (uuid.uuid4(), f"G-{i:06d}", f"Trail jacket {i}", Decimal(f"{5 + i % 400}.90"))
            for i in range(products)
        ]
        self.stock = [10**9] * products
        self.versions: Counter[uuid.UUID] = Counter()

    def _next(self, subject: uuid.UUID) -> int:
        self.versions[subject] += 1
        return self.versions[subject]

    def day(self, start: Any, orders: int) -> dict[str, list[tuple[int, str, str]]]:
        """The day's entries per stream: (ms, type, envelope JSON), in time order."""
        out: dict[str, list[tuple[int, str, str]]] = defaultdict(list)
        spacing = timedelta(hours=16) / orders

        def emit(stream: str, event: Event, subject: uuid.UUID, at: Any) -> None:
            envelope = registry.envelope(event, subject=str(subject), sequence=self._next(subject))
            envelope = envelope.model_copy(update={"time": at})
            text = json.dumps(envelope.model_dump(mode="json", exclude_none=True))
            out[stream].append((int(at.timestamp() * 1000), envelope.type, text))

        for n in range(orders):
            self._order(emit, start + n * spacing, n)
        for entries in out.values():
            entries.sort(key=lambda entry: entry[0])
        return out

    def _order(self, emit: Any, at: Any, n: int) -> None:
        rng = self.rng
        customer = f"customer-{rng.randrange(50_000)}"
        email = f"{customer}@example.com"
        cart_id = uuid.uuid5(uuid.NAMESPACE_URL, customer)
        picked = rng.sample(range(len(self.products)), rng.choice(LINES))
        lines: list[cart_ev.CartLine] = []
        for i in picked:
            pid, sku, name, price = self.products[i]
            lines.append(
                cart_ev.CartLine(
                    line_id=uuid.uuid4(), product_id=pid, sku=sku, name=name,
                    quantity=rng.choice((1, 1, 1, 2)), unit_price=price, currency="EUR",
                )
            )  # fmt: skip
            cart = {"cart_id": cart_id, "customer": customer, "email": email, "lines": lines}
            emit("orders", cart_ev.CartItemAdded(**cart, line_id=lines[-1].line_id), cart_id, at)
        order_id = uuid.uuid4()
        total = sum((line.unit_price * line.quantity for line in lines), Decimal(0))
        order_lines = [
            ord_ev.OrderLine(
                product_id=line.product_id, sku=line.sku, name=line.name, quantity=line.quantity,
                unit_price=line.unit_price, line_total=line.unit_price * line.quantity,
            )
            for line in lines
        ]  # fmt: skip
        emit(
            "orders",
            cart_ev.CartCheckedOut(
                cart_id=cart_id, customer=customer, email=email, order_id=order_id,
                checked_out=lines, total=total, currency="EUR", address=ADDRESS,
            ),
            cart_id, at,
        )  # fmt: skip
        order = {
            "order_id": order_id, "customer": customer, "email": email, "currency": "EUR",
            "lines": order_lines, "total": total, "cart_id": cart_id, "address": ADDRESS,
        }  # fmt: skip
        emit("orders", ord_ev.OrderPlaced(**order), order_id, at)
        answer = at + timedelta(milliseconds=50)
        draw = rng.random()
        if draw < REJECTED:
            pid = order_lines[0].product_id
            rejected = cat_ev.RejectedLine(
                product_id=pid, requested=order_lines[0].quantity, available=0,
                reason="insufficient_stock", line=0,
            )  # fmt: skip
            emit(
                "catalog",
                cat_ev.StockRejected(order_id=order_id, lines=[rejected]),
                order_id,
                answer,
            )
            reason = ord_ev.RejectionReason(
                product_id=pid, reason="insufficient_stock", requested=rejected.requested,
                available=0, line=0,
            )  # fmt: skip
            final = answer + timedelta(milliseconds=50)
            emit("orders", ord_ev.OrderRejected(**order, reasons=[reason]), order_id, final)
            restored = cart_ev.CartItemsRestored(
                cart_id=cart_id, customer=customer, email=email, lines=lines,
                order_id=order_id, line_ids=[line.line_id for line in lines],
            )  # fmt: skip
            emit("orders", restored, cart_id, final)
            self._email(emit, order_id, email, "orders.order.rejected", final)
            return
        allocated = []
        for number, (line, i) in enumerate(zip(order_lines, picked, strict=True)):
            self.stock[i] -= line.quantity
            emit(
                "catalog",
                cat_ev.StockReserved(
                    product_id=line.product_id, order_id=order_id, quantity=line.quantity,
                    stock=self.stock[i],
                ),
                line.product_id, answer,
            )  # fmt: skip
            allocated.append(
                cat_ev.AllocatedLine(
                    line=number, product_id=line.product_id, sku=line.sku, name=line.name,
                    quantity=line.quantity, base_price=line.unit_price,
                    unit_price=line.unit_price, line_total=line.line_total,
                )
            )  # fmt: skip
        emit(
            "catalog",
            cat_ev.StockAllocated(order_id=order_id, currency="EUR", lines=allocated, total=total),
            order_id, answer,
        )  # fmt: skip
        confirmed = answer + timedelta(milliseconds=50)
        emit("orders", ord_ev.OrderConfirmed(**order), order_id, confirmed)
        self._email(emit, order_id, email, "orders.order.confirmed", confirmed)
        if draw < REJECTED + CANCELLED:
            cancelled = at + timedelta(hours=1)
            emit(
                "orders",
                ord_ev.OrderCancelled(**order, cancelled_by=customer),
                order_id,
                cancelled,
            )
            for line, i in zip(order_lines, picked, strict=True):
                self.stock[i] += line.quantity
                emit(
                    "catalog",
                    cat_ev.StockReleased(
                        product_id=line.product_id, order_id=order_id, quantity=line.quantity,
                        stock=self.stock[i],
                    ),
                    line.product_id, cancelled + timedelta(milliseconds=50),
                )  # fmt: skip
            self._email(emit, order_id, email, "orders.order.cancelled", cancelled)
            return
        shipped = at + timedelta(hours=6)
        emit("orders", ord_ev.OrderShipped(**order, shipped_by="warehouse"), order_id, shipped)
        self._email(emit, order_id, email, "orders.order.shipped", shipped)
        emit(
            "orders",
            ord_ev.OrderDelivered(**order, delivered_by="carrier"),
            order_id,
            at + timedelta(hours=8),
        )

    def _email(self, emit: Any, order_id: uuid.UUID, email: str, source: str, at: Any) -> None:
        delivery = uuid.uuid4()
        sent = note_ev.EmailSent(
            delivery_id=delivery, source_event_id=uuid.uuid4(), source_event_type=source,
            order_id=order_id, recipient=email, message_id=f"<{delivery}@shop.example>",
            attempts=1,
        )  # fmt: skip
        emit("notifier", sent, delivery, at + timedelta(milliseconds=200))


def _retention() -> Any:
    """`apply_retention` with a 7-day policy when the event store has it, else the
    consumed-and-older trim that exists (`trim_consumed`); either is an async
    (redis, stream, now) -> entries removed."""
    try:
        from marcus_eventstore.retention import RetentionPolicy, apply_retention
    except ImportError:
        from marcus_eventstore.trimming import age_id, trim_consumed

        async def trim(redis: aioredis.Redis, stream: str, now: float) -> int:
            removed, _ = await trim_consumed(redis, stream, older_than=age_id(7, now))
            return removed

        trim.__doc__ = "trim_consumed(older_than=7 days)"
        return trim

    policy = RetentionPolicy(max_age_s=7 * 86_400)

    async def retain(redis: aioredis.Redis, stream: str, now: float) -> int:
        outcome = await apply_retention(redis, stream, policy, now=now)
        return outcome.removed

    retain.__doc__ = "apply_retention(RetentionPolicy(max_age_s=7 days))"
    return retain


async def _write(redis: aioredis.Redis, stream: str, entries: list[tuple[int, str, str]]) -> None:
    """XADD with explicit ids `<ms>-<seq>` (the ms of the simulated time)."""
    last_ms, seq = -1, 0
    for start in range(0, len(entries), 2000):
        async with redis.pipeline(transaction=False) as pipe:
            for ms, _, text in entries[start : start + 2000]:
                seq = seq + 1 if ms == last_ms else 0
                last_ms = ms
                pipe.xadd(stream, {STREAM_FIELD: text}, id=f"{ms}-{seq}")
            await pipe.execute()


async def _consume(redis: aioredis.Redis, stream: str) -> int:
    """The group reads everything new and acknowledges it."""
    read = 0
    while True:
        reply: Any = await redis.xreadgroup(GROUP, "reader", {stream: ">"}, count=5000)
        if not reply or not reply[0][1]:
            return read
        ids = [entry_id for entry_id, _ in reply[0][1]]
        await redis.xack(stream, GROUP, *ids)
        read += len(ids)


async def run(redis_url: str, orders_per_day: int, days: int, products: int) -> dict[str, Any]:
    retain = _retention()
    prefix = f"growth-mem-{time.time_ns() % 10**8:08d}:"
    names = {s: StreamNames(prefix).events(s) for s in STREAMS}
    redis = aioredis.from_url(redis_url)
    shop = Shop(products)
    rows: list[dict[str, Any]] = []
    types: Counter[str] = Counter()
    json_bytes: Counter[str] = Counter()
    started = time.perf_counter()
    try:
        for key in names.values():
            await redis.xgroup_create(key, GROUP, id="0", mkstream=True)
        for day in range(1, days + 1):
            day_start = START + (day - 1) * DAY
            entries = shop.day(day_start, orders_per_day)
            written: dict[str, int] = {}
            for service, key in names.items():
                batch = entries.get(service, [])
                await _write(redis, key, batch)
                written[service] = await _consume(redis, key)
                if day == 1:
                    for _, kind, text in batch:
                        types[kind] += 1
                        json_bytes[kind] += len(text)
            now = (day_start + DAY).timestamp()
            removed = {s: await retain(redis, key, now) for s, key in names.items()}
            row: dict[str, Any] = {"day": day, "written": written, "removed": removed}
            for service, key in names.items():
                row[service] = {
                    "entries": int(await redis.xlen(key)),
                    "memory_bytes": int(await redis.memory_usage(key, samples=0) or 0),
                }
            row["entries"] = sum(row[s]["entries"] for s in STREAMS)
            row["memory_bytes"] = sum(row[s]["memory_bytes"] for s in STREAMS)
            row["bytes_per_entry"] = round(row["memory_bytes"] / max(1, row["entries"]), 1)
            rows.append(row)
            print(
                f"growth memory day {day}: {row['entries']:,} entries,"
                f" {row['memory_bytes'] / 2**20:.1f} MiB",
                flush=True,
            )
        config: dict[Any, Any] = await redis.config_get("stream-node-max-*")
    finally:
        keys = [k async for k in redis.scan_iter(match=f"{prefix}*")]
        if keys:
            await redis.delete(*keys)
        await redis.aclose()
    by_day = {row["day"]: row for row in rows}
    result: dict[str, Any] = {
        "orders_per_day": orders_per_day,
        "days": days,
        "retention": retain.__doc__,
        "seconds": round(time.perf_counter() - started, 1),
        "stream_node_config": {k: int(v) for k, v in config.items()},
        "events_per_order": round(sum(types.values()) / orders_per_day, 2),
        "day_one_types": dict(types.most_common()),
        "day_one_json_bytes": dict(json_bytes.most_common()),
        "by_day": rows,
    }
    if 8 in by_day and days in by_day:
        result["day_last_over_day_8"] = round(
            by_day[days]["memory_bytes"] / by_day[8]["memory_bytes"], 3
        )
    result["stock"] = stock_per_day(result)
    return result


def stock_per_day(result: dict[str, Any]) -> dict[str, Any]:
    """What stock events are of `events.catalog`, per simulated day (day one's mix)."""
    types, sizes = result["day_one_types"], result["day_one_json_bytes"]
    catalog = {t: n for t, n in types.items() if t.startswith("catalog.")}
    stock = {t: n for t, n in catalog.items() if t in STOCK_TYPES}
    last = result["by_day"][-1]["catalog"]
    per_entry = last["memory_bytes"] / max(1, last["entries"])
    stock_json = sum(sizes[t] for t in stock)
    catalog_json = sum(sizes[t] for t in catalog)
    return {
        "catalog_entries_per_day": sum(catalog.values()),
        "stock_entries_per_day": sum(stock.values()),
        "stock_share_of_catalog": round(sum(stock.values()) / max(1, sum(catalog.values())), 4),
        "stock_json_share_of_catalog": round(stock_json / max(1, catalog_json), 4),
        "stock_memory_bytes_per_day": round(
            per_entry * sum(catalog.values()) * stock_json / max(1, catalog_json)
        ),
        "stock_events_per_order": round(sum(stock.values()) / result["orders_per_day"], 3),
    }
