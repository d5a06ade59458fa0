"""Pages as a keyboard, screen-reader or phone user meets them: a skip link to the main
content, a label on every input, and a layout that fits 390 px."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.async_api import expect

from tests.browser.conftest import Shop, screenshot, sign_in

pytestmark = pytest.mark.timeout(900)
"""The first test of a run also starts the stack (the package fixture): minutes on a
loaded machine."""

UNLABELLED = """() => [...document.querySelectorAll("input, select, textarea")]
  .filter((el) => el.type !== "hidden" && el.type !== "submit")
  .filter((el) => el.labels.length === 0 && !el.getAttribute("aria-label"))
  .map((el) => el.outerHTML)"""


async def test_home_lists_the_seeded_categories(page: Any, shop: Shop) -> None:
    await page.goto("/")
    await expect(page.get_by_role("heading", name="Shop by category")).to_be_visible()
    await expect(page.get_by_role("link", name="Coffee & Brewing", exact=True)).to_be_visible()


async def test_the_first_tab_is_a_skip_link_to_the_main_content(page: Any, shop: Shop) -> None:
    await page.goto("/")
    await page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Skip to content")
    await expect(skip).to_be_focused()
    await expect(skip).to_be_visible()  # shown when focused
    await page.keyboard.press("Enter")
    await expect(page.locator("main#main")).to_be_focused()
    await expect(page.get_by_role("banner")).to_be_visible()
    await expect(page.get_by_role("navigation", name="Main")).to_be_visible()


async def test_every_input_of_every_page_has_a_label(page: Any, shop: Shop) -> None:
    await sign_in(page, "carol")
    bike = await shop.product_by_sku("BIKE-BUILD")
    lamp = await shop.product_by_sku("BIK-009")
    paths = [
        "/",
        "/products?category=coffee",
        "/search?q=green+tea+under+20+euros",
        f"/products/{lamp['id']}",
        f"/configure/{bike['id']}",
        "/cart",
        "/checkout",
        "/orders",
        "/chat",
        "/signin",
    ]
    await page.goto(f"/products/{lamp['id']}")
    await page.get_by_role("button", name="Add to cart").click()  # a cart, a checkout form
    await expect(page.get_by_text("Added 1")).to_be_visible()
    for path in paths:
        await page.goto(path)
        assert await page.evaluate(UNLABELLED) == [], path


async def test_a_category_fits_a_phone(phone: Any, shop: Shop) -> None:
    await phone.goto("/products?category=coffee")
    await expect(phone.get_by_role("heading", name="Coffee & Brewing")).to_be_visible()
    await expect(phone.get_by_role("searchbox", name="Search")).to_be_visible()
    await expect(phone.locator(".card").first).to_be_visible()
    width = await phone.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"the page is {width} px wide on a 390 px screen"
    await screenshot(phone, "phone-category")


async def test_the_cart_fits_a_phone(phone: Any, shop: Shop) -> None:
    """The cart's table is wider than a phone: it scrolls in its own box, hidden labels
    included, and the page does not scroll sideways."""
    await sign_in(phone, "carol")
    lamp = await shop.product_by_sku("BIK-009")
    await phone.goto(f"/products/{lamp['id']}")
    await phone.get_by_role("button", name="Add to cart").click()
    await expect(phone.get_by_role("link", name="View cart")).to_be_visible()
    await phone.goto("/cart")
    await expect(phone.get_by_label("Quantity of", exact=False).first).to_be_visible()
    width = await phone.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"the cart is {width} px wide on a 390 px screen"
