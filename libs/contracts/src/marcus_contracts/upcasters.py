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


UPCASTERS: dict[tuple[str, int], Any] = {
    ("catalog.product.created", 1): product_snapshot_v1_to_v2,
    ("catalog.product.updated", 1): product_snapshot_v1_to_v2,
}
