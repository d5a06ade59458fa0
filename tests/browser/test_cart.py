"""The cart tells the customer when a price moved since the line was added, and the
checkout asks for the total as it is now."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.async_api import expect

from tests.browser.conftest import Shop, screenshot, sign_in
from tests.support.servers import wait_for

pytestmark = pytest.mark.timeout(900)
"""The first test of a run also starts the stack (the package fixture): minutes on a
loaded machine."""

SKU = "TEA-003"
NAME = "Gyokuro Shade-Grown Green Tea, 50 g"


async def test_a_moved_price_is_noticed_in_the_cart_and_at_checkout(page: Any, shop: Shop) -> None:
    await sign_in(page, "carol")
    tea = await shop.product_by_sku(SKU)
    await page.goto(f"/products/{tea['id']}")
    await page.get_by_role("button", name="Add to cart").click()
    await expect(page.get_by_text("to your cart")).to_be_visible()

    # The shop raises the price (an admin, through the public API).
    raised = await shop.api.patch(
        f"/api/v1/products/{tea['id']}",
        json={"price": "31.50"},
        headers=shop.headers("ops", "admin") | {"If-Match": f'"{tea["version"]}"'},
    )
    assert raised.status_code == 200, raised.text
    carol = shop.headers("carol", email="carol@example.com")

    async def moved() -> bool:
        cart = (await shop.api.get("/api/v1/cart", headers=carol)).json()
        return any("price" in line["changed"] for line in cart["lines"] if line["sku"] == SKU)

    await wait_for(moved, within=120, interval=0.5, what="the orders service sees the price")

    await page.get_by_role("link", name="Cart", exact=True).click()
    notice = page.get_by_role("status").filter(has_text="Prices changed")
    await expect(notice).to_contain_text(f"{NAME}: was €29.00, now €31.50")
    await screenshot(page, "cart-price-moved")
    await page.get_by_role("link", name="Check out").click()
    await expect(page.get_by_role("complementary")).to_contain_text("€31.50")
