"""Upcasters: functions that lift the `data` of version N of an event to version N + 1.

Kept as plain dict -> dict functions so that an old event is upgraded before validation,
one step at a time, however old it is.
"""

from __future__ import annotations

from typing import Any

Data = dict[str, Any]

MONOLITH_CURRENCY = "EUR"


def product_snapshot_v1_to_v2(data: Data) -> Data:
    """v1 products (from the monolith) were priced in EUR and had no attributes."""
    return {**data, "currency": MONOLITH_CURRENCY, "attributes": {}}


def unchanged(data: Data) -> Data:
    """The next version only ADDS fields, all with defaults that describe the old data
    (v2 products are simple products; v1 orders have simple, priced lines): the old data
    is valid as it is."""
    return dict(data)


REJECTION_MESSAGES = {
    "insufficient_stock": "not enough in stock",
    "unknown_product": "no longer sold",
}


def stock_rejected_v1_to_v2(data: Data) -> Data:
    """v1 refusals named a product and a reason code; v2 adds a message for people."""
    lines = [
        {**line, "message": REJECTION_MESSAGES.get(line.get("reason", ""), "")}
        for line in data.get("lines", [])
    ]
    return {**data, "lines": lines}


UPCASTERS: dict[tuple[str, int], Any] = {
    ("catalog.product.created", 1): product_snapshot_v1_to_v2,
    ("catalog.product.updated", 1): product_snapshot_v1_to_v2,
    ("catalog.product.created", 2): unchanged,
    ("catalog.product.updated", 2): unchanged,
    ("catalog.stock.rejected", 1): stock_rejected_v1_to_v2,
    ("orders.order.placed", 1): unchanged,
    ("orders.order.confirmed", 1): unchanged,
    ("orders.order.rejected", 1): unchanged,
    ("orders.order.cancelled", 1): unchanged,
    ("orders.order.shipped", 1): unchanged,
}
