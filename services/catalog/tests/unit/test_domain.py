"""Unit tests of the catalog aggregates: pure logic, no I/O."""

from decimal import Decimal

import pytest

from catalog.domain import Product
from marcus_contracts.events import catalog as ev
from marcus_eventstore import DomainError, NotFound, VersionMismatch
from services.catalog.tests.builders import a_category, a_product


def test_create_records_a_full_snapshot() -> None:
    product = Product.create(
        sku="B-1",
        name="Road bike",
        description="light",
        price=Decimal("10.00"),
        currency="EUR",
        category=a_category(),
        attributes={"colour": "red"},
        stock=2,
    )
    [event] = product.pending
    assert isinstance(event, ev.ProductCreated)
    assert event.category.slug == "bikes"
    assert event.price == Decimal("10.00")
    assert event.attributes == {"colour": "red"}


def test_update_without_changes_records_nothing() -> None:
    product = a_product()
    product.update(name="Road bike", price=Decimal("10.00"))
    assert product.pending == []


def test_update_records_the_new_snapshot() -> None:
    product = a_product()
    product.update(price=Decimal("12.50"))
    [event] = product.pending
    assert isinstance(event, ev.ProductUpdated)
    assert event.price == Decimal("12.50")
    assert event.name == "Road bike"


def test_stock_change_records_delta_and_level() -> None:
    product = a_product()
    product.set_stock(7, "delivery")
    [event] = product.pending
    assert isinstance(event, ev.StockAdjusted)
    assert (event.delta, event.stock, event.reason) == (5, 7, "delivery")
    with pytest.raises(DomainError):
        product.set_stock(-1)


def test_deleted_product_accepts_no_changes() -> None:
    product = a_product()
    product.delete()
    with pytest.raises(NotFound):
        product.update(name="x")


def test_expected_version_is_checked() -> None:
    product = a_product()
    product.expect_version(1)
    product.expect_version(None)
    with pytest.raises(VersionMismatch):
        product.expect_version(2)


def test_only_known_fields_change() -> None:
    with pytest.raises(DomainError):
        a_product().update(stock=3)
