"""An order's life after confirmation, services as processes: an admin cancels any
order (the catalog releases the stock, the customer gets the e-mail), shipped ->
delivered is the admin's, and a customer lists their orders by status."""

from __future__ import annotations

from services.orders.tests.stack import MailCatcher, Shop, Stack, token, wait_read_model
from tests.support.servers import wait_for


async def test_admin_cancel_delivery_and_status_filter(
    stack: Stack, shop: Shop, mail: MailCatcher
) -> None:
    lamp = await shop.product(sku="LAMP-1", price="20.00", stock=10, name="Desk lamp")
    await wait_read_model(stack.database_url, lamp["id"])
    first = (await shop.place("carol", [(lamp["id"], 3)])).json()["id"]
    second = (await shop.place("carol", [(lamp["id"], 1)])).json()["id"]
    await shop.wait_status("carol", first, "confirmed")
    await shop.wait_status("carol", second, "confirmed")
    assert await shop.stock(lamp["id"]) == 6

    # the admin cancels carol's order: stock comes back, carol is told
    cancelled = await shop.orders.post(f"/api/v1/orders/{first}/cancel", headers=shop.admin)
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["status"] == "cancelled"
    await wait_for(lambda: _stock_is(shop, lamp["id"], 9), within=60, what="stock released")

    def cancel_mail() -> bool:
        return any(
            m.subject.lower().startswith("your order is cancelled") for m in mail.mailbox.unique()
        )

    await wait_for(cancel_mail, within=60, what="the cancellation e-mail")

    # delivered only after shipped, and only by an admin
    early = await shop.orders.post(f"/api/v1/orders/{second}/deliver", headers=shop.admin)
    assert early.status_code == 409, early.text
    customer = await shop.orders.post(f"/api/v1/orders/{second}/deliver", headers=token("carol"))
    assert customer.status_code == 403
    shipped = await shop.orders.post(f"/api/v1/orders/{second}/ship", headers=shop.admin)
    assert shipped.status_code == 200, shipped.text
    delivered = await shop.orders.post(f"/api/v1/orders/{second}/deliver", headers=shop.admin)
    assert delivered.status_code == 200 and delivered.json()["status"] == "delivered"

    async def listed(*statuses: str) -> list[str]:
        params = [("status", s) for s in statuses]
        answer = await shop.orders.get("/api/v1/orders", params=params, headers=token("carol"))
        assert answer.status_code == 200, answer.text
        return [order["id"] for order in answer.json()["items"]]

    assert await listed("cancelled") == [first]
    assert await listed("delivered") == [second]
    assert await listed("cancelled", "delivered") == [second, first]  # newest first
    assert await listed("pending") == []
    bad = await shop.orders.get("/api/v1/orders", params={"status": "lost"}, headers=token("carol"))
    assert bad.status_code == 422


async def _stock_is(shop: Shop, product_id: str, expected: int) -> bool:
    return await shop.stock(product_id) == expected
