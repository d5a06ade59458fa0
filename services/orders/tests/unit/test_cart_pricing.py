"""A cart line as it stands now (pure): what moved since it was added, and the total."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from uuid import UUID

from marcus_contracts.events.cart import CartLine
from marcus_pricing import ProductFacts
from orders.cart_pricing import cart_now, line_now

TEA = ProductFacts(UUID(int=1), "TEA", "Tea", Decimal("4.10"), "EUR", stock=5)
CUP = ProductFacts(UUID(int=2), "CUP", "Cup", Decimal("2.00"), "EUR", stock=5)


def _line(product: ProductFacts, quantity: int, unit_price: str) -> CartLine:
    return CartLine(
        line_id=UUID(int=100 + product.id.int),
        product_id=product.id,
        sku=product.sku,
        name=product.name,
        quantity=quantity,
        unit_price=Decimal(unit_price),
        currency="EUR",
    )


def test_a_line_as_added_has_nothing_moved() -> None:
    now = line_now(_line(TEA, 2, "4.10"), {TEA.id: TEA})
    assert (now.unit_price, now.line_total, now.available, now.changed) == (
        Decimal("4.10"),
        Decimal("8.20"),
        True,
        [],
    )


def test_a_new_price_and_too_little_stock_both_show() -> None:
    moved = replace(TEA, price=Decimal("4.50"), stock=1)
    now = line_now(_line(TEA, 2, "4.10"), {TEA.id: moved})
    assert now.changed == ["price", "availability"]
    assert now.problems == ["only 1 of Tea left (2 asked for)"]
    assert now.unit_price == Decimal("4.50")  # still priced: only stock is short


def test_a_deleted_product_has_no_price_and_stays_out_of_the_total() -> None:
    gone = replace(TEA, deleted=True)
    cart = cart_now([_line(TEA, 2, "4.10"), _line(CUP, 1, "2.00")], {TEA.id: gone, CUP.id: CUP})
    tea, cup = cart.lines
    assert (tea.unit_price, tea.available, tea.problems) == (None, False, ["Tea is no longer sold"])
    assert cup.available and cart.total == Decimal("2.00")
    assert [line.line.sku for line in cart.unsellable] == ["TEA"]
