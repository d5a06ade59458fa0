"""The operations console (`/ops`) in Chromium, through the gateway, against the whole
stack as processes; screenshots go to .data/screenshots/.

1. A stopped consumer: the notifier process is stopped, orders are placed, and the page
   shows its group's lag on `events.orders` rising (reported by the stream's owner, the
   orders service, since the notifier cannot answer); restarted, the lag falls to 0.
2. A poisoned event: with the SMTP server down, an order's e-mail fails every delivery and
   is dead-lettered; the page lists it with its error; the server back (the fix), Replay
   processes it once: the e-mail arrives and the letter is gone.
3. Without JavaScript the Replay button is a plain form: the page comes back with the
   outcome (an entry that does not decode fails again and stays listed).
4. Admin only (a customer gets a 403 page, anonymous the sign-in), and the console at a
   phone's width.

A process is stopped with SIGTERM and started again with the environment it had (read
from /proc: the fixture's settings, prefix and ports), as supervisord would restart it.
"""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis
from playwright.async_api import expect

from tests.browser.conftest import STARTUP_S, Shop, screenshot, sign_in
from tests.support import gateway as gw
from tests.support.servers import wait_for

pytestmark = pytest.mark.timeout(900)

ADMIN = "dev-admin"
CUSTOMER = "carol"
CUSTOMER_EMAIL = "carol@example.com"
SKU = "BIK-003"


def environment_of(proc: subprocess.Popen[bytes]) -> dict[str, str]:
    """The environment a running process was started with (Linux)."""
    raw = Path(f"/proc/{proc.pid}/environ").read_bytes()
    pairs = (item.split(b"=", 1) for item in raw.split(b"\0") if b"=" in item)
    return {key.decode(): value.decode() for key, value in pairs}


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    proc.wait(60)


async def restart_notifier(shop: Shop, env: dict[str, str]) -> None:
    port = int(shop.services["notifier"].rsplit(":", 1)[1])
    shop.procs["notifier"] = gw.start_service("notifier", port, shop.logs, env)

    async def ready() -> bool:
        assert shop.procs["notifier"].poll() is None, shop.log_tail("notifier")
        return await gw.answers(f"{shop.services['notifier']}/readyz")

    await wait_for(ready, within=STARTUP_S, interval=0.5, what="the notifier ready again")


def start_mail_catcher(shop: Shop, port: str, env: dict[str, str]) -> None:
    command = [sys.executable, "-m", "scripts.mailcatcher", "serve", "--port", port]
    shop.procs["mail"] = gw.start_process(
        [*command, "--dir", str(shop.mailbox.folder)], shop.logs / "mail.log", env
    )


async def place_order(shop: Shop) -> str:
    product = await shop.product_by_sku(SKU)
    answer = await shop.api.post(
        "/api/v1/orders",
        json={"email": CUSTOMER_EMAIL, "lines": [{"product_id": product["id"], "quantity": 1}]},
        headers=shop.headers(CUSTOMER, email=CUSTOMER_EMAIL),
    )
    assert answer.status_code == 201, answer.text
    return str(answer.json()["id"])


def group_row(page: Any, group: str, stream: str) -> Any:
    return page.locator(f'#consumer-groups tr[data-group="{group}"][data-stream="{stream}"]')


async def test_a_stopped_consumers_lag_rises_then_falls_after_its_restart(
    page: Any, shop: Shop
) -> None:
    await sign_in(page, ADMIN)
    await page.goto("/ops")
    await expect(page.get_by_role("heading", name="Consumer groups")).to_be_visible()
    notifier = group_row(page, "notifier", "events.orders")
    await expect(notifier.locator("td.lag")).to_have_text("0")
    await expect(page.locator('#services tr[data-service="notifier"]')).to_contain_text("ready")

    env = environment_of(shop.procs["notifier"])
    stop(shop.procs["notifier"])
    for _ in range(3):
        await place_order(shop)

    # The page polls every 2 s: the lag rises while nobody reads for the group.
    await expect(notifier.locator("td.lag")).to_have_text(re.compile(r"^[1-9]\d*$"))
    await expect(notifier).to_contain_text("orders (the stream's owner: notifier is not")
    await expect(page.locator('#services tr[data-service="notifier"]')).to_contain_text(
        "not answering"
    )
    stopped_lag = int(await notifier.locator("td.lag").inner_text())
    await screenshot(page, "ops-consumer-stopped")

    await restart_notifier(shop, env)
    await expect(notifier.locator("td.lag")).to_have_text("0")
    await expect(notifier.locator("td").last).to_have_text("notifier")
    await screenshot(page, "ops-consumer-restarted")
    assert stopped_lag >= 1


async def test_a_poisoned_event_is_listed_with_its_error_and_replays(page: Any, shop: Shop) -> None:
    notifier_env = environment_of(shop.procs["notifier"])
    smtp_port = notifier_env["SMTP_PORT"]
    mail_env = environment_of(shop.procs["mail"])
    stop(shop.procs["mail"])  # every send now fails: the poison
    order_id = await place_order(shop)

    await sign_in(page, ADMIN)
    await page.goto("/ops")
    letter = page.locator(f'tr[data-service="notifier"][data-subject="{order_id}"]')
    # Dead-lettered once its deliveries are spent (backoff 0.2 s .. 1 s, 10 deliveries).
    await expect(letter).to_be_visible()
    await expect(letter).to_contain_text("orders.order.confirmed")
    await expect(letter.locator(".error-text")).to_contain_text("SendFailed")
    await screenshot(page, "ops-dead-letter")

    start_mail_catcher(shop, smtp_port, mail_env)  # the fix
    await wait_for(lambda: _smtp(smtp_port), within=60, what="the mail catcher listening")
    await letter.get_by_role("button", name=re.compile("^Replay")).click()
    result = page.locator("#replay-result")
    await expect(result).to_contain_text("processed")
    await expect(result).to_contain_text("orders.order.confirmed")
    await expect(letter).to_have_count(0)
    await screenshot(page, "ops-replayed")

    # The notifier's record of that e-mail names its Message-ID: exactly one message with
    # it reached the mailbox (a second send would be listed as a duplicate).
    admin = shop.headers("ops", "admin")

    async def sent() -> Any:
        answer = await shop.api.get("/api/v1/admin/notifier/emails", headers=admin)
        rows = [e for e in answer.json()["emails"] if e["order_id"] == order_id]
        return rows[0] if rows and rows[0]["status"] == "sent" else None

    delivery = await wait_for(sent, within=60, what="the replayed e-mail recorded as sent")
    received = [r for r in shop.mailbox.read() if r.message_id == delivery["message_id"]]
    assert [r.recipients for r in received] == [[CUSTOMER_EMAIL]], received
    await page.reload()
    email = page.locator(f'#emails tr[data-order="{order_id}"]')
    await expect(email).to_contain_text("sent")
    await expect(email).to_contain_text(CUSTOMER_EMAIL)


async def _smtp(port: str) -> bool:
    """The SMTP catcher accepts connections again."""
    try:
        _, writer = await asyncio.open_connection("127.0.0.1", int(port))
    except OSError:
        return False
    writer.close()
    await writer.wait_closed()
    return True


async def test_replay_without_javascript_answers_with_the_page(browser: Any, shop: Shop) -> None:
    env = environment_of(shop.procs["notifier"])
    redis = aioredis.from_url(env["REDIS_URL"])
    try:
        parked: Any = await redis.xadd(
            f"{env['STREAM_PREFIX']}dlq.notifier",
            {
                "event": b"{not json",
                "error": "undecodable envelope: not JSON",
                "origin_stream": f"{env['STREAM_PREFIX']}events.orders",
                "origin_id": "1-1",
                "deliveries": "1",
                "group": "notifier",
                "consumer": "a-test",
            },
        )
    finally:
        await redis.aclose()
    letter_id = parked.decode()
    context = await browser.new_context(base_url=shop.url, java_script_enabled=False)
    try:
        page = await context.new_page()
        await sign_in(page, ADMIN)
        await page.goto("/ops")
        letter = page.locator(f'tr[data-entry="{letter_id}"]')
        await expect(letter).to_contain_text("undecodable")
        await letter.get_by_role("button", name=re.compile("^Replay")).click()
        await expect(page.locator("#replay-result")).to_contain_text(
            f"Replay of notifier dead letter {letter_id}: failed again: undecodable envelope"
        )
        await expect(page.locator(f'tr[data-entry="{letter_id}"]')).to_have_count(1)
        await screenshot(page, "ops-replay-without-javascript")
    finally:
        await context.close()


async def test_the_console_is_the_admins_only(page: Any, shop: Shop) -> None:
    await page.goto("/ops")
    await expect(page).to_have_url(re.compile(r"/signin\?next=/ops"))
    await sign_in(page, CUSTOMER)
    answer = await page.goto("/ops")
    assert answer is not None and answer.status == 403
    await expect(page.get_by_role("heading", name="Admins only")).to_be_visible()
    await expect(page.get_by_role("link", name="Operations")).to_have_count(0)


async def test_the_console_at_a_phones_width(phone: Any, shop: Shop) -> None:
    await sign_in(phone, ADMIN)
    await phone.goto("/ops")
    await expect(phone.locator("#consumer-groups")).to_be_visible()
    await expect(phone.get_by_role("heading", name="Dead letters")).to_be_visible()
    await expect(phone.get_by_role("heading", name="Scheduled jobs")).to_be_visible()
    overflow = await phone.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    wide = await phone.evaluate(
        """[...document.querySelectorAll('body *')]
            .filter(e => e.getBoundingClientRect().right > document.documentElement.clientWidth
                         && !(e.parentElement && e.parentElement.closest('.table-wrap')))
            .slice(0, 5).map(e => e.tagName + '.' + e.className + ' ' + e.textContent.slice(0, 60))"""
    )
    assert overflow <= 0, f"the page is {overflow}px wider than the phone: {wide}"
    await screenshot(phone, "ops-phone")


async def test_the_console_lists_the_index_rebuilds(page: Any, shop: Shop) -> None:
    """A rebuild asked for through the API shows in the console's rebuild runs, done."""
    admin = shop.headers(ADMIN, "admin")
    asked = await shop.api.post("/api/v1/admin/index/rebuild", headers=admin)
    assert asked.status_code == 202, asked.text
    run_id = asked.json()["run_id"]

    async def finished() -> bool:
        run = await shop.api.get(f"/api/v1/admin/index/rebuilds/{run_id}", headers=admin)
        return run.status_code == 200 and run.json()["outcome"] == "done"

    await wait_for(finished, within=STARTUP_S, interval=0.5, what="the rebuild done")
    await sign_in(page, ADMIN)
    await page.goto("/ops")
    row = page.locator('section[aria-labelledby="index-heading"] tr', has_text=run_id[-8:])
    await expect(row).to_have_count(1)
    await expect(row.locator("td.status")).to_have_text("done")
    await screenshot(page, "ops-rebuilds")
