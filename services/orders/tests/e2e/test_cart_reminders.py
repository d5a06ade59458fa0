"""Abandoned carts end to end, services as processes: the scheduler's cart-reminders job
-> orders finds the idle cart -> `orders.cart.abandoned` -> the notifier e-mails the
customer. The job runs three times while the cart stays idle: one reminder, one e-mail.
"""

from __future__ import annotations

import httpx

from marcus_eventstore.migrations import upgrade
from services.orders.tests.stack import SECRET, MailCatcher, Shop, Stack, token, wait_read_model
from tests.support.auth import customer_headers
from tests.support.databases import query_rows
from tests.support.servers import wait_for

IDLE_AFTER_S = 1
RUNS = 3


async def _count(database_url: str, query: str, **params: object) -> int:
    [(count,)] = await query_rows(database_url, query, **params)
    return int(count)


async def test_an_idle_cart_gets_one_reminder_e_mail_whatever_the_job_runs(
    stack: Stack, shop: Shop, mail: MailCatcher
) -> None:
    upgrade("scheduler", stack.database_url)
    scheduler = stack.start(
        "scheduler",
        CART_IDLE_AFTER_SECONDS=str(IDLE_AFTER_S),
        CART_EXPIRE_AFTER_SECONDS="86400",
    )
    await scheduler.ready()
    product = await shop.product(sku="PUMP-1", price="29.95", stock=50, name="Mini Pump")
    await wait_read_model(stack.database_url, product["id"])

    email = "forgetful@example.com"
    customer = customer_headers("forgetful", secret=SECRET, email=email)
    added = await shop.orders.post(
        "/api/v1/cart/lines", json={"product_id": product["id"], "quantity": 2}, headers=customer
    )
    assert added.status_code == 201, added.text

    async with httpx.AsyncClient(base_url=scheduler.url, timeout=30) as client:
        run_ids = []

        async def idle_long_enough() -> bool:
            # each admin run fires at "now": once the cart is older than the threshold,
            # the run finds it; runs before that find nothing (and are harmless)
            answer = await client.post(
                "/api/v1/admin/jobs/cart-reminders/run", headers=token("ops", "admin")
            )
            assert answer.status_code == 202, answer.text
            run_ids.append(answer.json()["id"])
            return len(run_ids) >= RUNS and await _abandoned(stack) >= 1

        await wait_for(idle_long_enough, within=60, interval=IDLE_AFTER_S, what="a reminder")

    # orders handled every run (its ledger holds each run's event id) ...
    async def all_runs_handled() -> bool:
        handled = await _count(
            stack.database_url,
            "SELECT count(*) FROM orders.processed_events WHERE event_id::text = ANY(:ids)",
            ids=run_ids,
        )
        return handled == len(run_ids)

    await wait_for(all_runs_handled, within=60, what="orders handled every job run")
    # ... and recorded one reminder for the one idle period, which is one e-mail
    assert await _abandoned(stack) == 1

    async def e_mailed() -> list:
        return [m for m in mail.mailbox.read() if email in m.recipients]

    [reminder] = await wait_for(e_mailed, within=60, what="the reminder e-mail")
    body = mail.mailbox.message(reminder).get_body(("plain",)).get_content()
    assert "Mini Pump" in body, body
    assert "/api/v1/cart/reminders" in body, "it says how to turn reminders off"


async def _abandoned(stack: Stack) -> int:
    return await _count(
        stack.database_url,
        "SELECT count(*) FROM orders.events WHERE type = 'orders.cart.abandoned'",
    )
