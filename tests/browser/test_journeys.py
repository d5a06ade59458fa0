"""The two journeys of the storefront, in Chromium, through the gateway, against the
seeded catalog; screenshots of the main pages go to .data/screenshots/.

1. Browse -> search 'gift for a cyclist under 100 euros' (the parsed cap shown) ->
   configure a bicycle (an incompatible choice shows the rule) -> add to cart -> checkout
   -> the order confirmed on screen -> its e-mail in the development mailbox.
2. The chat asks for a product, a card appears, the assistant proposes the checkout, the
   confirm button places one order.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

import pytest
from playwright.async_api import expect

from services.assistant.tests.fake_openai import Recorded, Reply
from tests.browser.conftest import Shop, screenshot, sign_in
from tests.support.servers import wait_for

pytestmark = pytest.mark.timeout(900)

BIKE = "Marcus Build-Your-Own Bicycle"
RULE = "Mountain wheels need a full-suspension frame."
VALID_TOTAL = "€1,161.00"
"""399 base + Full-suspension 420 + Matte 50 (its price with that frame) + Mountain wheels
210 + Black rims 20 + 8-speed chain 62: the seeded configurable bicycle."""
ADDRESS = {
    "name": "Bob Keller",
    "street": ["4 Kirchgasse"],
    "city": "Basel",
    "postal_code": "4051",
    "country": "CH",
}


def _euros(text: str) -> Decimal:
    return Decimal(re.sub(r"[^0-9.]", "", text))


async def test_browse_search_configure_checkout_confirmed_and_mailed(page: Any, shop: Shop) -> None:
    await sign_in(page, "alice")

    # Browse: a category, then its list narrowed by a price filter (htmx swaps the grid).
    await page.goto("/")
    await screenshot(page, "home")
    await page.get_by_role("link", name="Bicycles & Parts", exact=True).click()
    await expect(page.get_by_role("heading", name="Bicycles & Parts")).to_be_visible()
    await page.get_by_label("Max price (€)").fill("50")
    await page.get_by_role("button", name="Apply").click()
    await expect(page).to_have_url(re.compile(r"max_price=50"))
    await expect(page.locator(".grid-summary")).to_contain_text("up to €50.00")
    prices = await page.locator("#product-grid .price").all_inner_texts()
    assert prices and all(_euros(p) <= 50 for p in prices), prices
    await screenshot(page, "category")

    # Search by meaning: the cap written in the words is read and shown.
    search = page.get_by_role("searchbox", name="Search")
    await search.fill("gift for a cyclist under 100 euros")
    await search.press("Enter")
    understood = page.get_by_role("region", name="What we understood")
    await expect(understood).to_contain_text("Max price")
    await expect(understood).to_contain_text("€100.00")
    prices = await page.locator(".cards .price").all_inner_texts()
    assert prices and all(_euros(p) <= 100 for p in prices), prices
    await screenshot(page, "search")

    # A product page, with its similar items.
    await page.locator(".cards a").first.click()
    await expect(page.get_by_role("heading", name="Similar items")).to_be_visible()
    await expect(page.get_by_role("heading", name="Bought together")).to_be_visible()
    await screenshot(page, "product")

    # The configurator: an incompatible pair names the rule as it is picked.
    await page.get_by_role("link", name="Build a bicycle").click()
    await page.get_by_role("link", name=BIKE).click()
    await expect(page.get_by_role("heading", name=BIKE)).to_be_visible()
    quote = page.locator("#quote")
    await page.get_by_label("Diamond").check()
    await page.get_by_label("Mountain wheels").check()
    await expect(quote).to_contain_text(RULE)
    await screenshot(page, "configurator-rule")
    await page.get_by_label("Full-suspension").check()
    await expect(quote).not_to_contain_text(RULE)
    await page.get_by_label("Matte").check()
    await page.get_by_label("Black").check()
    await page.get_by_label("8-speed chain").check()
    await expect(quote).to_contain_text(f"Total: {VALID_TOTAL}")
    await screenshot(page, "configurator-quote")
    await page.get_by_role("button", name="Add to cart").click()
    await expect(page.locator("#config-added")).to_contain_text(
        f"Added 1 \N{MULTIPLICATION SIGN} {BIKE}"
    )

    # The cart, then the checkout at the total shown.
    await page.get_by_role("link", name="Cart", exact=True).click()
    await expect(page.locator(".cart-total")).to_contain_text(VALID_TOTAL)
    await screenshot(page, "cart")
    await page.get_by_role("link", name="Check out").click()
    await expect(page.get_by_role("complementary")).to_contain_text(VALID_TOTAL)
    await page.get_by_label("Full name").fill("Alice Martin")
    await page.get_by_label("Street and number").fill("12 Rue des Vignes")
    await page.get_by_label("City").fill("Lyon")
    await page.get_by_label("Postal code").fill("69001")
    await page.get_by_label("Country code (2 letters, e.g. FR)").fill("FR")
    await screenshot(page, "checkout")
    await page.get_by_role("button", name="Place order").click()

    # The order page: pending, then confirmed when the saga has reserved the stock.
    await expect(page.get_by_text("Thank you: your order is placed.")).to_be_visible()
    await expect(page.locator("[data-status]")).to_have_text("confirmed")
    await screenshot(page, "order-confirmed")
    order_id = page.url.rsplit("/", 1)[1].split("?")[0]

    # Its e-mail, in the development mailbox (the SMTP catcher `make up` runs); the
    # subject names the order by the last digits of its id, as the pages do.
    subject = f"Your order is confirmed ({order_id[-8:]})"

    def mailed() -> list[Any]:
        return [
            m
            for m in shop.mailbox.read()
            if "alice@example.com" in m.recipients and m.subject == subject
        ]

    try:
        [mail] = await wait_for(mailed, within=120, interval=0.5, what="the confirmation e-mail")
    except AssertionError as exc:
        kept = [(m.recipients, m.subject) for m in shop.mailbox.read()]
        raise AssertionError(
            f"{exc}\nmailbox: {kept}\nnotifier log:\n{shop.log_tail('notifier')}"
            f"\nmail log:\n{shop.log_tail('mail')}"
        ) from None
    assert not mail.duplicate

    await page.get_by_role("link", name="Orders", exact=True).click()
    await expect(page.get_by_role("link", name=order_id[-8:])).to_be_visible()
    await screenshot(page, "orders")


async def test_chat_card_then_proposed_checkout_confirmed_once(page: Any, shop: Shop) -> None:
    seen: dict[str, Any] = {}

    def name_the_find(request: Recorded) -> Reply:
        found = request.tool_results()[-1]["products"]
        product = next(p for p in found if p.get("in_stock", True))
        seen["product"] = product
        return Reply(f"The {product['name']} [product:{product['product_id']}] is a good pick.")

    def add_it(request: Recorded) -> Reply:
        return Reply(
            tool_calls=[
                ("add_to_cart", {"product_id": seen["product"]["product_id"], "quantity": 1})
            ]
        )

    def propose(request: Recorded) -> Reply:
        seen["added"] = request.tool_results()[-1]
        return Reply(tool_calls=[("propose_checkout", ADDRESS)])

    def proposed(request: Recorded) -> Reply:
        seen["proposed"] = request.tool_results()[-1]
        return Reply("Your cart is ready. Confirm below to place the order.")

    await sign_in(page, "bob")
    await page.get_by_role("link", name="Assistant").click()

    # 1. A product question: the reply streams in, and the product appears as a card.
    shop.llm.then(Reply(tool_calls=[("search_products", {"query": "a light for my bike"})]))
    shop.llm.then(name_the_find)
    await page.get_by_label("Your message").fill("I need a light for my bike")
    await page.get_by_role("button", name="Send").click()
    card = page.locator("#chat-log .cited .card")
    await expect(card.first).to_be_visible()
    await expect(card.first).to_contain_text(seen["product"]["name"])
    await screenshot(page, "chat-card")

    # 2. "Buy it": the assistant adds it and proposes the checkout; a button confirms it.
    shop.llm.then(add_it, propose, proposed)
    await page.get_by_label("Your message").fill("Add it and check out to my address in Basel")
    await page.get_by_role("button", name="Send").click()
    confirm = page.get_by_role("button", name="Confirm and place the order")
    await expect(confirm).to_be_visible()
    await expect(page.locator("#chat-log .action")).to_contain_text("Basel")
    assert seen["added"]["done"] is True
    await screenshot(page, "chat-proposed")
    await confirm.click()
    placed = page.locator("#chat-log .action [role=status]")
    await expect(placed).to_contain_text("Order placed.")
    await screenshot(page, "chat-confirmed")

    # One order, for bob; it is confirmed by the saga like any other.
    orders = (await shop.api.get("/api/v1/orders", headers=shop.headers("bob"))).json()["items"]
    assert len(orders) == 1, orders
    await placed.get_by_role("link").click()
    await expect(page.locator("[data-status]")).to_have_text("confirmed")
