"""What the index should hold for one product, folded from catalog events (pure logic).

The live consumer and the rebuild by replay use this same fold, so both produce the same
documents from the same events.

Product events are not all full snapshots: `catalog.product.created|updated` carry the
whole product, `catalog.stock.adjusted|reserved|released` only its new stock, and
`catalog.option_stock.reserved|released` the new stock of a configurable product and of
every one of its options (so the "stock" part stays one complete value). A single
"skip anything older than the last applied sequence" guard would therefore LOSE a rename
delivered after a later stock change. The fold keeps one high-water mark per part
instead (snapshot, stock) and applies an event to each part it carries that is newer,
so any delivery order and any number of duplicates end in the state of the highest
sequence. A deletion is final: a product id is never reused.

Configurable products are indexed with their parts and options (names, descriptions,
prices, sold-out marks) in the text, so a search for what an option offers finds the
product; their `price` metadata is the cheapest complete configuration (base price plus
the cheapest in-stock option of each required part, rules aside), for `max_price`.
Preconfigured products are indexed like products, their options in the text.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any
from uuid import UUID

from marcus_contracts import Envelope, Event
from marcus_contracts.events.catalog import (
    OptionStockReleased,
    OptionStockReserved,
    ProductCreated,
    ProductDeleted,
    ProductSnapshotted,
    ProductUpdated,
    StockAdjusted,
    StockReleased,
    StockReserved,
)

SNAPSHOT_EVENTS = (
    ProductCreated,
    ProductUpdated,
    ProductSnapshotted,
)
"""Decoded events are always the latest version (the registry upcasts older data).
`catalog.product.snapshotted` (a rebuild's snapshot, `indexer.snapshot`) folds like an
update at the product's version."""
Snapshot = ProductCreated | ProductUpdated | ProductSnapshotted
OPTION_STOCK_EVENTS = (OptionStockReserved, OptionStockReleased)
STOCK_EVENTS = (StockAdjusted, StockReserved, StockReleased, *OPTION_STOCK_EVENTS)
PRODUCT_EVENTS = (ProductCreated, ProductUpdated, ProductDeleted, *STOCK_EVENTS)
"""The catalog's events that change a product's document (the live consumer's)."""
ProductEvent = (
    ProductCreated
    | ProductUpdated
    | ProductDeleted
    | StockAdjusted
    | StockReserved
    | StockReleased
    | OptionStockReserved
    | OptionStockReleased
)
PRODUCT_EVENT_TYPES = tuple(event.event_type for event in PRODUCT_EVENTS)


@dataclass(frozen=True)
class ProductState:
    """The indexer's view of one product: enough to build its search document."""

    product_id: UUID
    sequence: int = 0
    """Highest product version applied (the guard `indexed.sequence` of the collections)."""
    snapshot_sequence: int = 0
    stock_sequence: int = 0
    deleted: bool = False
    snapshot: dict[str, Any] | None = None
    """name, sku, description, price (string), currency, category {id, slug, name},
    attributes, kind, parts (configurable), selection (preconfigured): the fields of the
    last product snapshot that the index uses."""
    stock: int | None = None
    option_stock: dict[str, int] | None = None
    """Configurable products: option id -> stock (with `stock`, the "stock" part)."""

    @property
    def indexable(self) -> bool:
        return self.snapshot is not None and not self.deleted


def product_id_of(event: Event) -> UUID | None:
    if isinstance(event, (*SNAPSHOT_EVENTS, ProductDeleted, *STOCK_EVENTS)):
        return event.product_id
    return None


def snapshot_of(event: Snapshot) -> dict[str, Any]:
    return {
        "sku": event.sku,
        "name": event.name,
        "description": event.description,
        "price": str(event.price),
        "currency": event.currency,
        "category": {
            "id": str(event.category.id),
            "slug": event.category.slug,
            "name": event.category.name,
        },
        "attributes": dict(event.attributes),
        "kind": getattr(event, "kind", "simple"),
        "parts": [
            {
                "name": part.name,
                "description": part.description,
                "required": part.required,
                "options": [
                    {
                        "id": str(o.option_id),
                        "name": o.name,
                        "description": o.description,
                        "price": str(o.price),
                    }
                    for o in part.options
                ],
            }
            for part in getattr(event, "parts", [])
        ],
        "base_product_id": str(base) if (base := getattr(event, "base_product_id", None)) else None,
        "selection": [
            {"part": chosen.part, "name": chosen.name} for chosen in getattr(event, "selection", [])
        ],
    }


def option_stock_of(event: Event) -> dict[str, int] | None:
    """Every option's stock as a snapshot or an option stock event carries it."""
    if isinstance(event, OPTION_STOCK_EVENTS):
        return {str(s.option_id): s.stock for s in event.stocks}
    if getattr(event, "kind", "simple") == "configurable":
        return {str(o.option_id): o.stock for part in event.parts for o in part.options}  # type: ignore[attr-defined]
    return None


def apply(state: ProductState, envelope: Envelope, event: Event) -> ProductState | None:
    """The state after `event` (sequence `envelope.sequence`); None when nothing changes
    (stale, duplicate, after deletion, or not a product event)."""
    sequence = envelope.sequence
    if state.deleted:
        return None
    if isinstance(event, ProductDeleted):
        return replace(state, deleted=True, sequence=max(state.sequence, sequence))
    if isinstance(event, SNAPSHOT_EVENTS):
        changed = state
        if sequence > state.snapshot_sequence:
            changed = replace(changed, snapshot=snapshot_of(event), snapshot_sequence=sequence)
        if sequence > state.stock_sequence:
            changed = replace(
                changed,
                stock=event.stock,
                option_stock=option_stock_of(event),
                stock_sequence=sequence,
            )
        return _bumped(state, changed, sequence)
    if isinstance(event, STOCK_EVENTS):
        if sequence <= state.stock_sequence:
            return None
        option_stock = option_stock_of(event) if isinstance(event, OPTION_STOCK_EVENTS) else None
        changed = replace(
            state,
            stock=event.stock,
            option_stock=option_stock if option_stock is not None else state.option_stock,
            stock_sequence=sequence,
        )
        return _bumped(state, changed, sequence)
    return None


def _bumped(before: ProductState, after: ProductState, sequence: int) -> ProductState | None:
    if after is before:
        return None
    return replace(after, sequence=max(before.sequence, sequence))


@dataclass(frozen=True)
class Document:
    """One Chroma record: id, the text to embed, the stored (lower-cased) text for
    keyword search, and the metadata search filters and answers with."""

    id: str
    text: str
    metadata: dict[str, str | int | float | bool]

    @property
    def searchable_text(self) -> str:
        return self.text.lower()


IndexedForm = Document | bool | None
"""What a collection holds of a product: its document, False (deleted: no record), or
None (nothing yet: no snapshot folded)."""


def indexed_form(state: ProductState) -> IndexedForm:
    """What the index holds of a product in this state. An event whose new state has the
    same form as the state before needs no sync: every collection that holds the
    earlier form holds the later one too (ADR 0033)."""
    if state.deleted:
        return False
    return document_of(state) if state.indexable else None


def _attribute_text(attributes: dict[str, Any]) -> str:
    parts = []
    for key, value in sorted(attributes.items()):
        label = key.replace("_", " ")
        if isinstance(value, bool):
            parts.append(label if value else f"not {label}")
        else:
            parts.append(f"{label}: {value}")
    return "; ".join(parts)


def document_of(state: ProductState) -> Document:
    """The text embedded for a product (name, category, description, key attributes)
    and its metadata. Prices are kept twice: a float for Chroma's `$lte` filter and the
    exact decimal string that answers carry (money is never a float in an answer).

    Stock is only `in_stock` (what search filters and answers with), not the count, and
    the document holds no sequence: a stock change that does not cross zero leaves the
    document as it was, so it costs no Chroma write (`indexed_form`, ADR 0033). The count
    stays in the fold (`indexer.documents`); the writer adds the fold's sequence to the
    record it writes (`writer.written`)."""
    snapshot = state.snapshot
    if snapshot is None:
        raise ValueError(f"product {state.product_id} has no snapshot yet")
    category = snapshot["category"]
    lines = [
        snapshot["name"],
        f"Category: {category['name']}",
        snapshot.get("description") or "",
    ]
    attributes = _attribute_text(snapshot.get("attributes") or {})
    if attributes:
        lines.append(f"Attributes: {attributes}")
    kind = snapshot.get("kind", "simple")
    price = Decimal(snapshot["price"])
    if kind == "configurable":
        lines += _configuration_text(snapshot, state.option_stock or {})
        price = _from_price(snapshot, state.option_stock or {})
    elif kind == "preconfigured":
        chosen = "; ".join(f"{s['part']}: {s['name']}" for s in snapshot.get("selection", []))
        lines.append(f"Preconfigured with {chosen}")
    text = "\n".join(line for line in lines if line)
    metadata: dict[str, str | int | float | bool] = {
        "name": snapshot["name"],
        "sku": snapshot["sku"],
        "category": category["slug"],
        "category_id": category["id"],
        "category_name": category["name"],
        "price": float(price),
        "price_exact": str(price),
        "currency": snapshot["currency"],
        "in_stock": (state.stock or 0) > 0,
        "kind": kind,
    }
    if snapshot.get("base_product_id"):
        metadata["base_product_id"] = snapshot["base_product_id"]
    return Document(id=str(state.product_id), text=text, metadata=metadata)


def _configuration_text(snapshot: dict[str, Any], option_stock: dict[str, int]) -> list[str]:
    """One line per part: its options with what they are, cost and whether any are left."""
    parts = snapshot.get("parts", [])
    lines = ["Configurable: choose " + ", ".join(part["name"] for part in parts)] if parts else []
    for part in parts:
        choices = []
        for option in part["options"]:
            about = f" ({option['description']})" if option["description"] else ""
            sold_out = ", sold out" if option_stock.get(option["id"], 0) <= 0 else ""
            price = f"{snapshot['currency']} {option['price']}"
            choices.append(f"{option['name']}{about} [{price}{sold_out}]")
        required = "" if part["required"] else " (optional)"
        lines.append(f"{part['name']}{required}: " + "; ".join(choices))
    return lines


def _from_price(snapshot: dict[str, Any], option_stock: dict[str, int]) -> Decimal:
    """Base price plus the cheapest option of each required part (in-stock options when
    the part has any): what the cheapest configuration costs, rules aside."""
    price = Decimal(snapshot["price"])
    for part in snapshot.get("parts", []):
        if not part["required"] or not part["options"]:
            continue
        available = [o for o in part["options"] if option_stock.get(o["id"], 0) > 0]
        price += min(Decimal(o["price"]) for o in available or part["options"])
    return price
