"""The assistant shops for the customer, end to end with services as processes
(catalog, orders, notifier, indexer, assistant; a Chroma server, a mail catcher and the
local OpenAI-compatible fake scripting the model's tool calls):

search with a price cap -> quote an incompatible bicycle (refused, the rule named) ->
quote a valid one -> add it to the cart -> propose the checkout (an `actions` item, in
the SSE stream too) -> customer B's confirmation is 404 -> an expired proposal is 410 ->
confirm -> one order, confirmed -> one e-mail; confirming again returns the same order.
A chat without a customer token may quote but not change a cart. And a confirmation
sent while the orders service is down is recorded, buys nothing (503), and is performed
by the next confirmation once orders is back: one order.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from assistant.chat.facts import Known
from assistant.chat.shop_tools import SIGN_IN, ShopContext, build_shop_tools
from assistant.chat.tools import run_tool
from assistant.shop_api import ShopApi
from marcus_eventstore.migrations import upgrade
from services.assistant.tests.fake_openai import FakeOpenAI, Recorded, Reply
from services.assistant.tests.shop import add_category, add_product, read_events
from services.catalog.tests.bikes import MOUNTAIN_NEEDS_SUSPENSION, Bike, build_bike
from services.orders.tests.stack import SECRET, MailCatcher, Stack, wait_read_model
from services.orders.tests.stack import truncate as truncate_saga
from tests.support.auth import admin_headers, customer_headers
from tests.support.servers import free_port, wait_for

pytestmark = pytest.mark.fault

ALICE_EMAIL = "alice@example.com"
ADDRESS = {
    "name": "Alice Martin",
    "street": ["12 Rue des Vignes"],
    "city": "Lyon",
    "postal_code": "69001",
    "country": "FR",
}
VALID = ("Full suspension", "Matte", "Mountain", "8-speed")
VALID_TOTAL = "723.00"  # 400 + 130 + 50 (Matte with Full suspension) + 95 + 48


ADMIN = admin_headers(SECRET)


def customer(subject: str, email: str | None = None) -> dict[str, str]:
    return customer_headers(subject, SECRET, email)


@dataclass
class Running:
    stack: Stack
    mail: MailCatcher
    catalog: httpx.AsyncClient
    orders: httpx.AsyncClient
    assistant: httpx.AsyncClient


async def _sql(database_url: str, query: str, **params: Any) -> Any:
    engine = create_async_engine(database_url)
    try:
        async with engine.begin() as conn:
            result = await conn.execute(text(query), params)
            return result.all() if result.returns_rows else None
    finally:
        await engine.dispose()


async def _steps(r: Running, action_id: str) -> list[str]:
    """The action's events, in order: `assistant.action.<step>`."""
    rows = await _sql(
        r.stack.database_url,
        "SELECT type FROM assistant.events WHERE subject = :id ORDER BY sequence",
        id=action_id,
    )
    return [row.type.removeprefix("assistant.action.") for row in rows]


@pytest.fixture
async def running(
    clean_database: str,
    redis_url: str,
    stream_prefix: str,
    chroma_url: str,
    llm: FakeOpenAI,
    tmp_path: Path,
) -> AsyncIterator[Running]:
    upgrade("notifier", clean_database)
    await truncate_saga(clean_database)
    stack = Stack(clean_database, redis_url, stream_prefix, tmp_path)
    mail = MailCatcher(tmp_path / "mail", stack.smtp_port)
    await mail.start()
    shared = {
        "CHROMA_URL": chroma_url,
        "INDEX_NAMESPACE": stream_prefix,
        "EMBEDDER": "hash",
    }
    try:
        for service in ("catalog", "orders", "notifier", "indexer"):
            stack.start(service, **shared)
        stack.start(
            "assistant",
            **shared,
            CHAT_BASE_URL=llm.base_url,
            CHAT_API_KEY="test-key",
            CHAT_MODEL="fake-model",
            CHAT_TIMEOUT_S="120",
            CATALOG_URL=stack.first("catalog").url,
            ORDERS_URL=stack.first("orders").url,
        )
        for process in stack.processes:
            await process.ready(within=180)
        async with (
            httpx.AsyncClient(base_url=stack.first("catalog").url, timeout=60) as catalog,
            httpx.AsyncClient(base_url=stack.first("orders").url, timeout=60) as orders,
            httpx.AsyncClient(base_url=stack.first("assistant").url, timeout=120) as assistant,
        ):
            yield Running(stack, mail, catalog, orders, assistant)
    finally:
        stack.stop_all()
        await mail.stop()


async def _catalog(r: Running) -> tuple[Bike, dict[str, Any]]:
    bicycles = await add_category(r.catalog, "bicycles", "Bicycles", ADMIN)
    bike = await build_bike(r.catalog, ADMIN, bicycles)
    pricey = await add_product(
        r.catalog,
        sku="CARBON-1",
        name="Carbon Race Bicycle",
        price="3490.00",
        stock=3,
        category_id=bicycles,
        admin=ADMIN,
    )

    async def searchable() -> bool:
        response = await r.assistant.get("/api/v1/search", params={"q": "bicycle", "k": 10})
        found = {h["product_id"] for h in response.json().get("results", [])}
        return response.status_code == 200 and {bike.id, pricey["id"]} <= found

    await wait_for(searchable, within=180, what="the bicycles searchable")
    await wait_read_model(r.stack.database_url, bike.id, within=120)
    return bike, pricey


def _last_tool(request: Recorded) -> dict[str, Any]:
    return request.tool_results()[-1]


@pytest.mark.timeout(900)
async def test_search_quote_cart_propose_confirm_one_order_one_email(
    running: Running, llm: FakeOpenAI
) -> None:
    r = running
    bike, pricey = await _catalog(r)
    alice = customer("alice", ALICE_EMAIL)
    session = (await r.assistant.post("/api/v1/chat/sessions", headers=alice)).json()["id"]
    say = f"/api/v1/chat/sessions/{session}/messages"
    seen: dict[str, Any] = {}

    # 1. Search with a price cap: nothing above it reaches the model.
    def after_search(request: Recorded) -> Reply:
        seen["search"] = _last_tool(request)
        return Reply("The Custom bicycle fits your budget.")

    llm.then(Reply(tool_calls=[("search_products", {"query": "a bicycle under 1000 euros"})]))
    llm.then(after_search)
    answer = await r.assistant.post(
        say, json={"content": "a bicycle under 1000 euros?"}, headers=alice
    )
    assert answer.status_code == 200, answer.text
    found = seen["search"]["products"]
    assert bike.id in {p["product_id"] for p in found}
    assert pricey["id"] not in {p["product_id"] for p in found}
    assert all(Decimal(p["price"]) <= 1000 for p in found)

    # 2. An incompatible build is refused with the rule named; the model fixes the choice.
    def fix_the_build(request: Recorded) -> Reply:
        seen["refused"] = _last_tool(request)
        return Reply(
            tool_calls=[
                ("quote_configuration", {"product_id": bike.id, "options": bike.ids(*VALID)})
            ]
        )

    def quoted(request: Recorded) -> Reply:
        seen["quote"] = _last_tool(request)
        total = seen["quote"]["quote"]["total"]
        return Reply(
            f"Mountain wheels need a full suspension frame; with one it costs {total} EUR."
        )

    wrong = bike.ids("Diamond", "Matte", "Mountain", "8-speed")
    llm.then(Reply(tool_calls=[("quote_configuration", {"product_id": bike.id, "options": wrong})]))
    llm.then(fix_the_build, quoted)
    answer = await r.assistant.post(
        say, json={"content": "mountain wheels, diamond frame"}, headers=alice
    )
    assert answer.status_code == 200, answer.text
    refused = seen["refused"]
    assert refused["refused"] is True and refused["status"] == 422
    assert MOUNTAIN_NEEDS_SUSPENSION in refused["why"]
    assert any(
        rule["msg"] == MOUNTAIN_NEEDS_SUSPENSION and rule.get("rule_id")
        for rule in refused["rules"]
    )
    assert seen["quote"]["quote"]["total"] == VALID_TOTAL
    reply = answer.json()["reply"]
    assert f"{VALID_TOTAL} EUR" in reply["content"] and reply["grounding"] is None

    # 3. Add to the cart and propose the checkout, streamed: the proposal is an `action`.
    def propose(request: Recorded) -> Reply:
        seen["added"] = _last_tool(request)
        return Reply(tool_calls=[("propose_checkout", ADDRESS)])

    def proposed(request: Recorded) -> Reply:
        seen["proposed"] = _last_tool(request)
        total = seen["proposed"]["proposed"]["total"]
        return Reply(f"Your cart comes to {total} EUR. Confirm below to place the order.")

    add = {"product_id": bike.id, "quantity": 1, "options": bike.ids(*VALID)}
    llm.then(Reply(tool_calls=[("add_to_cart", add)]), propose, proposed)
    async with r.assistant.stream(
        "POST",
        say,
        json={"content": "add it and check out"},
        headers=alice | {"Accept": "text/event-stream"},
    ) as response:
        events = [event async for event in read_events(response)]
    assert seen["added"]["done"] is True and seen["added"]["cart"]["total"] == VALID_TOTAL
    [(_, action)] = [e for e in events if e[0] == "action"]
    name, done = events[-1]
    assert name == "done" and [a["id"] for a in done["actions"]] == [action["id"]]
    assert (action["kind"], action["status"], action["total"]) == (
        "checkout",
        "proposed",
        VALID_TOTAL,
    )
    assert action["address"]["city"] == "Lyon" and action["lines"][0]["quantity"] == 1
    assert f"{VALID_TOTAL} EUR" in done["content"]
    confirm = f"/api/v1/chat/sessions/{session}/actions/{action['id']}/confirm"

    # 4. A second proposal (JSON reply) that expires before it is confirmed: 410.
    llm.then(Reply(tool_calls=[("propose_checkout", ADDRESS)]), Reply("Here it is again."))
    again = await r.assistant.post(say, json={"content": "propose it again"}, headers=alice)
    [stale] = again.json()["reply"]["actions"]
    await _sql(
        r.stack.database_url,
        "UPDATE assistant.actions SET expires_at = now() - interval '1 minute' WHERE id = :id",
        id=UUID(stale["id"]),
    )
    gone = await r.assistant.post(
        f"/api/v1/chat/sessions/{session}/actions/{stale['id']}/confirm", headers=alice
    )
    assert gone.status_code == 410, gone.text
    assert "expired" in gone.json()["detail"]

    # 5. Customer B cannot confirm A's action (it does not exist for them), nor guess it.
    bob = customer("bob", "bob@example.com")
    assert (await r.assistant.post(confirm, headers=bob)).status_code == 404
    other = f"/api/v1/chat/sessions/{session}/actions/{uuid4()}/confirm"
    assert (await r.assistant.post(other, headers=alice)).status_code == 404
    assert (await r.assistant.post(confirm)).status_code == 401

    # 6. A's yes, sent twice at once: one order, confirmed by the saga, one e-mail.
    yes, same = await asyncio.gather(
        r.assistant.post(confirm, headers=alice), r.assistant.post(confirm, headers=alice)
    )
    assert yes.status_code == same.status_code == 200, (yes.text, same.text)
    order_id = yes.json()["order"]["id"]
    assert same.json()["order"]["id"] == order_id
    assert yes.json()["action"]["status"] == "executed"
    assert yes.json()["action"]["order_id"] == order_id

    async def confirmed() -> bool:
        order = (await r.orders.get(f"/api/v1/orders/{order_id}", headers=alice)).json()
        return order.get("status") == "confirmed"

    await wait_for(confirmed, within=120, what="the order confirmed")
    order = (await r.orders.get(f"/api/v1/orders/{order_id}", headers=alice)).json()
    assert order["total"] == VALID_TOTAL and order["address"]["city"] == "Lyon"

    def to_alice() -> list[Any]:
        return [m for m in r.mail.mailbox.unique() if ALICE_EMAIL in m.recipients]

    await wait_for(to_alice, within=120, what="the order's e-mail")

    # 7. Confirming again is the same order, not a second one.
    twice = await r.assistant.post(confirm, headers=alice)
    assert twice.status_code == 200, twice.text
    assert twice.json()["order"]["id"] == order_id
    orders = (await r.orders.get("/api/v1/orders", headers=alice)).json()["items"]
    assert [o["id"] for o in orders] == [order_id]
    assert len(to_alice()) == 1

    # The session lists its actions as they are now; the events tell the story.
    view = (await r.assistant.get(f"/api/v1/chat/sessions/{session}", headers=alice)).json()
    assert {(a["id"], a["status"]) for a in view["actions"]} == {
        (action["id"], "executed"),
        (stale["id"], "proposed"),
    }
    assert await _steps(r, action["id"]) == ["proposed", "confirmed", "executed"]

    # 8. The other cart tools, and the order's status, with A's token.
    def two_of_them(request: Recorded) -> Reply:
        [line] = _last_tool(request)["cart"]["lines"]
        seen["line"] = line["line_id"]
        return Reply(tool_calls=[("update_cart_line", {"line_id": line["line_id"], "quantity": 2})])

    def changed(request: Recorded) -> Reply:
        seen["updated"] = _last_tool(request)
        return Reply(f"Two of them come to {seen['updated']['cart']['total']} EUR.")

    llm.then(
        Reply(tool_calls=[("add_to_cart", {"product_id": pricey["id"], "quantity": 1})]),
        two_of_them,
        changed,
    )
    answer = await r.assistant.post(say, json={"content": "two carbon ones"}, headers=alice)
    assert seen["updated"]["cart"]["total"] == "6980.00"
    assert "6980.00 EUR" in answer.json()["reply"]["content"]

    def then_look(request: Recorded) -> Reply:
        seen["removed"] = _last_tool(request)
        return Reply(tool_calls=[("view_cart", {}), ("order_status", {"order_id": order_id})])

    def status(request: Recorded) -> Reply:
        cart, orders_seen = request.tool_results()[-2:]
        seen["looked"] = (cart, orders_seen)
        [mine] = orders_seen["orders"]
        return Reply(
            f"Your cart is empty; order {mine['order_id']} is {mine['status']}, {mine['total']} EUR."
        )

    llm.then(Reply(tool_calls=[("remove_cart_line", {"line_id": seen["line"]})]), then_look, status)
    answer = await r.assistant.post(say, json={"content": "no, and my order?"}, headers=alice)
    assert seen["removed"]["done"] is True and seen["removed"]["cart"]["lines"] == []
    cart, orders_seen = seen["looked"]
    assert cart["cart"]["lines"] == [] and orders_seen["orders"][0]["status"] == "confirmed"
    reply = answer.json()["reply"]
    assert f"order {order_id} is confirmed, {VALID_TOTAL} EUR" in reply["content"]
    assert reply["grounding"] is None

    # 9. The price moved after the proposal: the confirmation fails, clearly; nothing bought.
    def propose_again(request: Recorded) -> Reply:
        return Reply(tool_calls=[("propose_checkout", ADDRESS)])

    llm.then(
        Reply(tool_calls=[("add_to_cart", {"product_id": pricey["id"], "quantity": 1})]),
        propose_again,
        Reply("Confirm below."),
    )
    carbon = await r.assistant.post(say, json={"content": "the carbon one too"}, headers=alice)
    [moved] = carbon.json()["reply"]["actions"]
    assert moved["total"] == "3490.00"
    patched = await r.catalog.patch(
        f"/api/v1/products/{pricey['id']}", json={"price": "3590.00"}, headers=ADMIN
    )
    assert patched.status_code == 200, patched.text

    async def repriced() -> bool:
        cart = (await r.orders.get("/api/v1/cart", headers=alice)).json()
        return cart.get("total") == "3590.00"

    await wait_for(repriced, within=120, what="the cart at the new price")
    moved_url = f"/api/v1/chat/sessions/{session}/actions/{moved['id']}/confirm"
    for _ in range(2):  # single use: the second confirmation reads the same failure
        refused = await r.assistant.post(moved_url, headers=alice)
        assert refused.status_code == 409, refused.text
        problem = refused.json()
        assert problem["detail"].startswith("Nothing was bought: the cart's total changed")
        assert "it was 3490.00 EUR, it is now 3590.00 EUR" in problem["detail"]
        assert problem["action"]["status"] == "failed"
        assert problem["action"]["failure_status"] == 409
    orders = (await r.orders.get("/api/v1/orders", headers=alice)).json()["items"]
    assert [o["id"] for o in orders] == [order_id]
    assert await _steps(r, moved["id"]) == ["proposed", "confirmed", "failed"]

    metrics = (await r.assistant.get("/metrics")).text
    for step, count in [
        ("proposed", 3),
        ("confirmed", 2),
        ("executed", 1),
        ("failed", 1),
        ("expired", 1),
    ]:
        assert f'assistant_actions_total{{step="{step}"}} {count}.0' in metrics, step

    # 10. Without a customer token the tools may quote, never change a cart.
    known = Known()
    api = ShopApi(r.stack.first("catalog").url, r.stack.first("orders").url, 30)
    try:
        tools = {
            tool.name: tool
            for tool in build_shop_tools(
                ShopContext(api, None, "", None, UUID(session), timedelta(minutes=15)),  # type: ignore[arg-type]
                known,
                [],
            )
        }
        quote = await tools["quote_configuration"].ainvoke(
            {"product_id": bike.id, "options": bike.ids(*VALID)}
        )
        assert f'"total": "{VALID_TOTAL}"' in quote
        assert Decimal(VALID_TOTAL) in known.order_amounts
        # Strict arguments, as the model is shown them: a quantity is a number.
        output, outcome = await run_tool(tools, "add_to_cart", add | {"quantity": "1"})
        assert outcome == "error" and "quantity" in output
        output, outcome = await run_tool(tools, "view_cart", {"customer": "bob"})
        assert outcome == "error" and "customer" in output
        schema = llm.requests[0].tool("add_to_cart")["parameters"]
        assert schema["additionalProperties"] is False
        assert schema["properties"]["quantity"]["type"] == "integer"
        # An orders service that cannot be reached is a tool error, never a failed reply.
        away = ShopApi(r.stack.first("catalog").url, f"http://127.0.0.1:{free_port()}", 5)
        try:
            context = ShopContext(away, None, "alice", "a-token", UUID(session), timedelta(1))  # type: ignore[arg-type]
            unreachable = {t.name: t for t in build_shop_tools(context, Known(), [])}
            output, outcome = await run_tool(unreachable, "view_cart", {})
            assert outcome == "error" and "view_cart is unavailable right now" in output
        finally:
            await away.aclose()
        for name, args in [
            ("add_to_cart", add),
            ("view_cart", {}),
            ("propose_checkout", ADDRESS),
        ]:
            assert SIGN_IN in await tools[name].ainvoke(args)
    finally:
        await api.aclose()

    # 11. A deleted session takes its actions with it: its proposals are not confirmable.
    deleted = await r.assistant.delete(f"/api/v1/chat/sessions/{session}", headers=alice)
    assert deleted.status_code == 204, deleted.text
    stale_url = f"/api/v1/chat/sessions/{session}/actions/{stale['id']}/confirm"
    assert (await r.assistant.post(stale_url, headers=alice)).status_code == 404
    left = await _sql(
        r.stack.database_url,
        "SELECT count(*) AS n FROM assistant.actions WHERE session_id = :s",
        s=UUID(session),
    )
    assert left[0].n == 0


@pytest.mark.timeout(900)
async def test_a_confirmation_while_orders_is_down_is_performed_by_the_next_one(
    running: Running, llm: FakeOpenAI
) -> None:
    """The orders service away when the customer says yes: 503, the yes is recorded and
    nothing is bought; confirming again once it is back places the order, once."""
    r = running
    bell = await add_product(
        r.catalog, sku="BELL-1", name="Brass Bicycle Bell", price="14.90", stock=20, admin=ADMIN
    )
    await wait_read_model(r.stack.database_url, bell["id"], within=120)
    alice = customer("alice", ALICE_EMAIL)
    session = (await r.assistant.post("/api/v1/chat/sessions", headers=alice)).json()["id"]
    llm.then(
        Reply(tool_calls=[("add_to_cart", {"product_id": bell["id"], "quantity": 2})]),
        Reply(tool_calls=[("propose_checkout", ADDRESS)]),
        Reply("Two bells, 29.80 EUR: confirm below."),
    )
    answer = await r.assistant.post(
        f"/api/v1/chat/sessions/{session}/messages",
        json={"content": "two bells, to my address"},
        headers=alice,
    )
    [action] = answer.json()["reply"]["actions"]
    assert action["total"] == "29.80"
    confirm = f"/api/v1/chat/sessions/{session}/actions/{action['id']}/confirm"

    orders = r.stack.first("orders")
    orders.kill()
    away = await r.assistant.post(confirm, headers=alice)
    assert away.status_code == 503, away.text
    assert away.json()["action"]["status"] == "confirmed"
    assert "confirm again" in away.json()["detail"]

    orders.start()
    await orders.ready(within=180)
    back = await r.assistant.post(confirm, headers=alice)
    assert back.status_code == 200, back.text
    order_id = back.json()["order"]["id"]
    again = await r.assistant.post(confirm, headers=alice)
    assert again.json()["order"]["id"] == order_id
    placed = (await r.orders.get("/api/v1/orders", headers=alice)).json()["items"]
    assert [o["id"] for o in placed] == [order_id]
    assert await _steps(r, action["id"]) == ["proposed", "confirmed", "executed"]
