"""The Cart aggregate: pure logic, no I/O."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from uuid import UUID

import pytest

from marcus_contracts.events import cart as ev
from marcus_contracts.events.orders import LineOption, ShippingAddress
from marcus_eventstore import Conflict, DomainError, NotFound
from orders.cart import MAX_QUANTITY, Cart, Item, abandoned_event_id, cart_id_of

TEA = Item(UUID(int=1), "TEA", "Tea", "simple", Decimal("4.10"), "EUR")
BIKE = Item(
    UUID(int=2),
    "BIKE",
    "Bike",
    "configurable",
    Decimal("600.00"),
    "EUR",
    options=(LineOption(option_id=UUID(int=20)), LineOption(option_id=UUID(int=21))),
)
IMPORT = Item(UUID(int=3), "IMP", "Import", "simple", Decimal("1.00"), "USD")
ADDRESS = ShippingAddress(
    name="Ada Lovelace", lines=["12 Rue de Rivoli"], city="Paris", postal_code="75001", country="FR"
)


def test_one_cart_per_customer_for_life() -> None:
    assert cart_id_of("alice") == cart_id_of("alice") == Cart.open("alice").id
    assert cart_id_of("alice") != cart_id_of("bob")


def test_adding_records_the_whole_cart_and_the_line() -> None:
    cart = Cart.open("alice", "alice@example.com")
    line_id, merged = cart.add(TEA, 2)
    assert not merged
    [event] = cart.pending
    assert isinstance(event, ev.CartItemAdded)
    assert event.line_id == line_id and event.email == "alice@example.com"
    assert [(line.sku, line.quantity, line.unit_price) for line in event.lines] == [
        ("TEA", 2, Decimal("4.10"))
    ]


def test_the_same_product_and_options_merge_into_one_line() -> None:
    cart = Cart.open("alice")
    first, _ = cart.add(BIKE, 1)
    reordered = Item(**{**BIKE.__dict__, "options": tuple(reversed(BIKE.options))})
    again, merged = cart.add(reordered, 2)
    assert (again, merged) == (first, True)
    assert [line.quantity for line in cart.lines] == [3]
    assert isinstance(cart.pending[-1], ev.CartItemQuantitySet)
    other, merged = cart.add(Item(**{**BIKE.__dict__, "options": BIKE.options[:1]}), 1)
    assert other != first and not merged and len(cart.lines) == 2


def test_a_quantity_is_set_at_the_current_price_and_limits_hold() -> None:
    cart = Cart.open("alice")
    line_id, _ = cart.add(TEA, 1)
    cart.set_quantity(line_id, 5, Decimal("4.50"))
    assert (cart.lines[0].quantity, cart.lines[0].unit_price) == (5, Decimal("4.50"))
    cart.pending.clear()
    cart.set_quantity(line_id, 5, Decimal("4.50"))
    assert cart.pending == []  # nothing changed, nothing recorded
    with pytest.raises(DomainError):
        cart.set_quantity(line_id, MAX_QUANTITY + 1, Decimal("4.50"))
    with pytest.raises(NotFound):
        cart.set_quantity(UUID(int=99), 1, Decimal("1"))


def test_one_currency_per_cart() -> None:
    cart = Cart.open("alice")
    cart.add(TEA, 1)
    with pytest.raises(DomainError, match="USD"):
        cart.add(IMPORT, 1)


def test_remove_and_clear() -> None:
    cart = Cart.open("alice")
    tea, _ = cart.add(TEA, 1)
    cart.add(BIKE, 1)
    cart.remove(tea)
    assert [line.sku for line in cart.lines] == ["BIKE"]
    with pytest.raises(NotFound):
        cart.remove(tea)
    assert cart.clear() is True
    assert isinstance(cart.pending[-1], ev.CartCleared) and cart.pending[-1].reason == "customer"
    assert cart.clear() is False


def test_checkout_empties_the_cart_and_records_what_was_bought() -> None:
    cart = Cart.open("alice")
    with pytest.raises(Conflict):
        cart.check_out(UUID(int=7), address=ADDRESS, total=Decimal("0"), currency="EUR")
    cart.add(TEA, 2)
    bought = cart.check_out(UUID(int=7), address=ADDRESS, total=Decimal("8.20"), currency="EUR")
    event = cart.pending[-1]
    assert isinstance(event, ev.CartCheckedOut)
    assert event.lines == [] and event.checked_out == bought and event.order_id == UUID(int=7)
    assert (event.total, event.address.country) == (Decimal("8.20"), "FR")
    assert cart.lines == []


def test_a_rejected_checkout_gives_its_lines_back_with_notes() -> None:
    cart = Cart.open("alice")
    cart.add(TEA, 1)
    back = [
        ev.CartLine(
            line_id=UUID(int=50),
            product_id=TEA.product_id,
            sku="TEA",
            name="Tea",
            quantity=2,
            unit_price=Decimal("4.10"),
            currency="EUR",
            note="Not ordered: Tea is out of stock",
        ),
        ev.CartLine(
            line_id=UUID(int=51),
            product_id=BIKE.product_id,
            sku="BIKE",
            name="Bike",
            kind="configurable",
            options=list(BIKE.options),
            quantity=1,
            unit_price=Decimal("600.00"),
            currency="EUR",
            note="Not ordered, because of another line",
        ),
    ]
    restored = cart.restore(UUID(int=7), back)
    tea, bike = cart.lines
    assert (tea.quantity, tea.note) == (3, "Not ordered: Tea is out of stock")  # merged
    assert bike.line_id == UUID(int=51) and bike.note.startswith("Not ordered")
    assert restored == [tea.line_id, bike.line_id]
    event = cart.pending[-1]
    assert isinstance(event, ev.CartItemsRestored) and event.line_ids == restored


def test_reminders_are_recorded_once_per_change() -> None:
    cart = Cart.open("alice")
    cart.set_reminders(True)
    assert cart.pending == []
    cart.set_reminders(False)
    assert isinstance(cart.pending[-1], ev.CartRemindersSet) and not cart.reminders


def test_an_abandoned_cart_event_id_is_its_idle_period() -> None:
    cart = Cart.open("alice", "alice@example.com")
    idle_since = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
    with pytest.raises(DomainError):
        cart.abandon(idle_since, Decimal("0"))
    cart.add(TEA, 2)
    cart.abandon(idle_since, Decimal("8.20"))
    event = cart.pending[-1]
    assert isinstance(event, ev.CartAbandoned)
    assert cart.event_id(event) == abandoned_event_id(cart.id, idle_since)
    assert cart.event_id(cart.pending[0]) is None  # other events get fresh ids
    cart.set_reminders(False)
    with pytest.raises(DomainError):
        cart.abandon(idle_since, Decimal("8.20"))


def test_expire_clears_as_the_job() -> None:
    cart = Cart.open("alice")
    cart.add(TEA, 1)
    assert cart.expire() is True
    event = cart.pending[-1]
    assert isinstance(event, ev.CartCleared) and event.reason == "expired"
