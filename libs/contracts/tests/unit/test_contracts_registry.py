"""The registry resolves `(type, version)`, refuses what it does not know, and upcasts."""

from __future__ import annotations

from decimal import Decimal

import pytest

from marcus_contracts import Envelope, UnknownEventError, registry
from marcus_contracts.events.catalog import (
    ProductCreated,
    ProductUpdated,
    StockAdjusted,
)
from marcus_contracts.events.history.catalog import ProductCreatedV1, ProductCreatedV2


def test_resolves_type_and_version() -> None:
    assert registry.model("catalog.product.created", 1) is ProductCreatedV1
    assert registry.model("catalog.product.created", 2) is ProductCreatedV2
    assert registry.model("catalog.stock.adjusted", 1) is StockAdjusted
    assert registry.model("catalog.product.created", 3) is ProductCreated
    assert registry.latest_version("catalog.product.created") == 3
    assert "catalog.product.updated" in registry.types()


@pytest.mark.parametrize(
    ("event_type", "version"),
    [("catalog.product.exploded", 1), ("orders.order.placed", 9), ("catalog.product.created", 0)],
)
def test_rejects_unknown_types_and_versions(event_type: str, version: int) -> None:
    with pytest.raises(UnknownEventError):
        registry.model(event_type, version)


def test_decode_rejects_unknown_type(legacy_v1_json: str) -> None:
    envelope = Envelope.from_json(legacy_v1_json).model_copy(update={"type": "catalog.x.made"})

    with pytest.raises(UnknownEventError, match="unknown event type"):
        registry.decode(envelope)


def test_refuses_a_version_newer_than_known(legacy_v1_json: str) -> None:
    envelope = Envelope.from_json(legacy_v1_json).model_copy(update={"dataversion": 9})

    with pytest.raises(UnknownEventError, match="newer than this consumer knows"):
        registry.decode(envelope)


def test_refuses_to_wrap_an_unregistered_event() -> None:
    class Unregistered(ProductCreatedV2):
        version = 9

    event = Unregistered.model_validate(
        {
            "product_id": "0190c2a4-7b1e-7c3d-9a4f-2b6e8d1c0a11",
            "sku": "S",
            "name": "N",
            "price": "1.00",
            "currency": "EUR",
            "category": {"id": "0190c2a4-7b1e-7c3d-9a4f-2b6e8d1c0a22", "slug": "s", "name": "n"},
            "stock": 0,
        }
    )
    with pytest.raises(UnknownEventError):
        registry.envelope(event, subject="p", sequence=1)


def test_legacy_v1_product_decodes_as_the_latest_version(legacy_v1_json: str) -> None:
    envelope = Envelope.from_json(legacy_v1_json)
    assert envelope.dataversion == 1

    event = registry.decode(envelope)

    assert isinstance(event, ProductCreated)
    assert event.kind == "simple" and event.parts == [] and event.base_product_id is None
    assert event.currency == "EUR"
    assert event.attributes == {}
    assert event.price == Decimal("12.50")
    assert event.sku == "MUG-001"
    assert event.category.slug == "kitchen"


def test_legacy_v1_update_decodes_as_the_latest_version(legacy_v1_json: str) -> None:
    envelope = Envelope.from_json(legacy_v1_json).model_copy(
        update={"type": "catalog.product.updated", "sequence": 2}
    )

    assert isinstance(registry.decode(envelope), ProductUpdated)


def test_current_version_is_not_upcast(product_created: ProductCreated) -> None:
    envelope = registry.envelope(product_created, subject="p", sequence=1)

    assert envelope.dataversion == 3
    assert registry.decode(envelope) == product_created


def test_every_old_version_has_an_upcaster_chain() -> None:
    """A version without a path to the latest one would make its stored events unreadable."""
    for model in registry.models():
        latest = registry.latest_version(model.event_type)
        for version in range(model.version, latest):
            assert registry.has_upcaster(model.event_type, version), (
                f"{model.event_type} v{version} has no upcaster to v{version + 1}"
            )
