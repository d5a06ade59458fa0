"""Pages a visitor sees without a journey: the home page, a category with filters, a
phone-width layout, and the sign-in rules."""

from __future__ import annotations

from typing import Any

from playwright.async_api import expect

from tests.browser.conftest import Shop, screenshot


async def test_home_lists_the_seeded_categories(page: Any, shop: Shop) -> None:
    await page.goto("/")
    await expect(page.get_by_role("heading", name="Shop by category")).to_be_visible()
    await expect(page.get_by_role("link", name="Coffee & Brewing", exact=True)).to_be_visible()
    await screenshot(page, "home")
