"""The order saga end to end: catalog, orders and notifier as processes, real SMTP."""

from __future__ import annotations

from decimal import Decimal

from services.orders.tests.stack import MailCatcher, Shop, Stack, token, wait_read_model
from tests.support.servers import wait_for


async def test_place_confirm_email_cancel_release(
    stack: Stack, shop: Shop, mail: MailCatcher
) -> None:
    kettle = await shop.product(sku="KET-1", price="12.50", stock=5, name="Kettle <steel>")
    mug = await shop.product(sku="MUG-1", price="3.20", stock=10, name="Mug")
    await wait_read_model(stack.database_url, kettle["id"], mug["id"])

    placed = await shop.place("alice", [(kettle["id"], 2), (mug["id"], 3)])
    assert placed.status_code == 201, placed.text
    order = placed.json()
    assert order["status"] == "pending"
    assert Decimal(order["total"]) == Decimal("34.60")
    assert [line["unit_price"] for line in order["lines"]] == ["12.50", "3.20"]

    confirmed = await shop.wait_status("alice", order["id"], "confirmed")
    assert confirmed["total"] == "34.60"
    assert await shop.stock(kettle["id"]) == 3
    assert await shop.stock(mug["id"]) == 7

    await wait_for(lambda: len(mail.mailbox.unique()) >= 1, within=30, what="confirmation mail")
    [received] = mail.mailbox.read()
    assert received.recipients == ["alice@example.com"]
    assert received.subject.startswith("Your order is confirmed")
    message = mail.mailbox.message(received)
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    assert "2 x Kettle <steel> (KET-1) at EUR 12.50 = EUR 25.00" in text
    assert "3 x Mug (MUG-1) at EUR 3.20 = EUR 9.60" in text
    assert "Order total: EUR 34.60" in text
    assert "Kettle &lt;steel&gt;" in html and "EUR 34.60" in html
    assert message["X-Marcus-Order-Id"] == order["id"]

    other = await shop.orders.post(f"/api/v1/orders/{order['id']}/cancel", headers=token("bob"))
    assert other.status_code == 404  # another customer does not know of it (an admin may)

    cancelled = await shop.orders.post(
        f"/api/v1/orders/{order['id']}/cancel", headers=token("alice")
    )
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["status"] == "cancelled"
    again = await shop.orders.post(f"/api/v1/orders/{order['id']}/cancel", headers=token("alice"))
    assert again.status_code == 200 and again.json()["version"] == cancelled.json()["version"]
    await wait_for(
        lambda: _stock_is(shop, kettle["id"], 5), within=30, what="kettle stock released"
    )
    assert await shop.stock(mug["id"]) == 10
    ship = await shop.orders.post(f"/api/v1/orders/{order['id']}/ship", headers=shop.admin)
    assert ship.status_code == 409

    await wait_for(lambda: len(mail.mailbox.unique()) >= 2, within=30, what="cancellation mail")
    subjects = sorted(r.subject.split(" (")[0] for r in mail.mailbox.read())
    assert subjects == ["Your order is cancelled", "Your order is confirmed"]
    assert not any(r.duplicate for r in mail.mailbox.read())


async def _stock_is(shop: Shop, product_id: str, expected: int) -> bool:
    return await shop.stock(product_id) == expected
