"""The callers and the resources the access matrix is sent against.

Tokens: customer A, customer B and an admin, minted with the services' secret; the
forged ones claim the admin role for customer A and must all be refused. The world:
real resources made through the API (A's and B's confirmed orders and chat sessions,
a simple product, a configurable product with parts, options and rules, and one
victim per DELETE so each delete has something of its own to remove).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import httpx
import jwt
import redis.asyncio as aioredis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from assistant import handlers
from assistant.storage.uow import AssistantUnitOfWork
from marcus_contracts import STREAM_FIELD, StreamNames
from marcus_contracts.events.orders import ShippingAddress
from marcus_web.auth import mint_token
from scripts.mailcatcher import Mailbox
from services.orders.tests.stack import SECRET, MailCatcher
from tests.access.matrix import (
    ADMIN,
    ALG_NONE,
    ANONYMOUS,
    BEARER_ONLY,
    CUSTOMER_A,
    CUSTOMER_B,
    EXPIRED,
    GARBAGE,
    OPERATED,
    OTHER_KEY,
)
from tests.support.servers import wait_for

SERVICES = ("catalog", "orders", "assistant", "indexer", "scheduler", "notifier")
ANOTHER_SECRET = "not-the-services-secret-0123456789abcdef"


@dataclass
class Running:
    services: dict[str, str]
    """Service name -> its own URL."""
    gateway: str
    engine: AsyncEngine
    """The test run's database, to count stored events."""
    mail: MailCatcher
    redis_url: str
    """The test run's Redis (not a service's user): the world parks dead letters."""
    prefix: str

    @property
    def mailbox(self) -> Mailbox:
        return self.mail.mailbox


@dataclass
class Tokens:
    a: str
    b: str
    headers: dict[str, dict[str, str]]
    """Principal -> the headers it sends (anonymous: none)."""

    @classmethod
    def mint(cls, run: str) -> Tokens:
        a, b = f"customer-a-{run}", f"customer-b-{run}"
        now = int(time.time())
        forged = {"sub": a, "roles": ["admin"], "iat": now, "exp": now + 3600}

        def bearer(token: str) -> dict[str, str]:
            return {"Authorization": f"Bearer {token}"}

        return cls(
            a=a,
            b=b,
            headers={
                ANONYMOUS: {},
                CUSTOMER_A: bearer(mint_token(a, [], secret=SECRET)),
                CUSTOMER_B: bearer(mint_token(b, [], secret=SECRET)),
                ADMIN: bearer(mint_token(f"ops-{run}", ["admin"], secret=SECRET)),
                EXPIRED: bearer(mint_token(a, ["admin"], secret=SECRET, ttl_seconds=-120)),
                OTHER_KEY: bearer(mint_token(a, ["admin"], secret=ANOTHER_SECRET)),
                ALG_NONE: bearer(jwt.encode(forged, "", algorithm="none")),
                BEARER_ONLY: {"Authorization": "Bearer"},
                GARBAGE: bearer("not-a-jwt"),
            },
        )

    def email(self, subject: str) -> str:
        return f"{subject}@example.com"


@dataclass
class World:
    category_id: str = ""
    product_id: str = ""
    victim_product_id: str = ""
    kit_id: str = ""
    part_id: str = ""
    victim_part_id: str = ""
    options: dict[str, str] = field(default_factory=dict)
    rule_id: str = ""
    victim_rule_id: str = ""
    price_rule_id: str = ""
    victim_price_rule_id: str = ""
    order_a: str = ""
    order_a_cancel: str = ""
    order_a_ship: str = ""
    order_b: str = ""
    session_a: str = ""
    session_b: str = ""
    action_a: str = ""
    """A checkout the assistant proposed in A's session, expired: its confirm row is
    refused for everyone (A: 410) and changes nothing."""
    run_id: str = ""
    job: str = "views-refresh"
    cart_product_id: str = ""
    """What the cart's add row adds (in no cart before)."""
    line_a: str = ""
    line_a_victim: str = ""
    checkout_total: str = "37.50"
    """Customer A's cart when its checkout row is sent: line_a (12.50) at quantity 2 after
    the PATCH row, the victim line removed, the add row's product (12.50) once."""
    dead_letters: dict[str, tuple[str, str]] = field(default_factory=dict)
    """Per service, two letters in its group's DLQ: (to replay, to discard)."""

    @property
    def orders_of_a(self) -> set[str]:
        return {self.order_a, self.order_a_cancel, self.order_a_ship}


async def _created(response: httpx.Response, status: int = 201) -> Any:
    assert response.status_code == status, response.text
    return response.json()


async def build_world(running: Running, tokens: Tokens) -> World:
    """Make every resource through the API, then wait until the stack is quiet."""
    admin = tokens.headers[ADMIN]
    world = World()
    async with (
        httpx.AsyncClient(base_url=running.services["catalog"], timeout=30) as catalog,
        httpx.AsyncClient(base_url=running.services["orders"], timeout=30) as orders,
        httpx.AsyncClient(base_url=running.services["assistant"], timeout=30) as assistant,
        httpx.AsyncClient(base_url=running.services["indexer"], timeout=30) as indexer,
    ):

        async def post(path: str, body: dict[str, Any], status: int = 201) -> Any:
            return await _created(await catalog.post(path, json=body, headers=admin), status)

        category = await post("/api/v1/categories", {"slug": "access-kit", "name": "Access kit"})
        world.category_id = category["id"]

        def simple(sku: str, name: str) -> dict[str, Any]:
            return {
                "sku": sku,
                "name": name,
                "price": "12.50",
                "currency": "EUR",
                "category_id": world.category_id,
                "stock": 1000,
            }

        world.product_id = (await post("/api/v1/products", simple("ACC-1", "Access lamp")))["id"]
        world.cart_product_id = (await post("/api/v1/products", simple("ACC-ADD", "Lamp shade")))[
            "id"
        ]
        cart_victim = (await post("/api/v1/products", simple("ACC-CART", "Lamp bulb")))["id"]
        victim = await post("/api/v1/products", simple("ACC-DEL", "Doomed lamp"))
        world.victim_product_id = victim["id"]
        kit = await post(
            "/api/v1/products",
            {
                "sku": "ACC-KIT",
                "name": "Access kit",
                "price": "100.00",
                "category_id": world.category_id,
                "kind": "configurable",
            },
        )
        world.kit_id = kit["id"]
        base = f"/api/v1/products/{world.kit_id}"
        frame = await post(f"{base}/parts", {"name": "Frame"})
        colour = await post(f"{base}/parts", {"name": "Colour"})
        extra = await post(f"{base}/parts", {"name": "Extra", "required": False})
        world.part_id, world.victim_part_id = frame["id"], extra["id"]
        for part, names in ((frame, ("Alpha", "Beta")), (colour, ("Red", "Blue", "Doomed"))):
            for name in names:
                option = await post(
                    f"{base}/parts/{part['id']}/options",
                    {"name": name, "price": "10.00", "stock": 50},
                )
                world.options[name] = option["id"]
        ids = world.options

        async def rule(first: str, second: str) -> str:
            body = {"option_ids": [ids[first], ids[second]], "message": f"{first} vs {second}"}
            created = await post(f"{base}/incompatibilities", body)
            return str(created["id"])

        async def price_rule(option: str, when: str) -> str:
            body = {"option_id": ids[option], "when_option_id": ids[when], "price": "5.00"}
            created = await post(f"{base}/price-rules", body)
            return str(created["id"])

        world.rule_id = await rule("Alpha", "Red")
        world.victim_rule_id = await rule("Beta", "Blue")
        world.price_rule_id = await price_rule("Red", "Alpha")
        world.victim_price_rule_id = await price_rule("Blue", "Beta")

        async def order(subject: str, headers: dict[str, str]) -> str:
            body = {
                "email": tokens.email(subject),
                "lines": [{"product_id": world.product_id, "quantity": 1}],
            }
            return str(
                (await _created(await orders.post("/api/v1/orders", json=body, headers=headers)))[
                    "id"
                ]
            )

        a, b = tokens.headers[CUSTOMER_A], tokens.headers[CUSTOMER_B]
        world.order_a = await order(tokens.a, a)
        world.order_a_cancel = await order(tokens.a, a)
        world.order_a_ship = await order(tokens.a, a)
        world.order_b = await order(tokens.b, b)
        for order_id in (*world.orders_of_a, world.order_b):

            async def confirmed(order_id: str = order_id) -> bool:
                answer = await orders.get(f"/api/v1/orders/{order_id}", headers=admin)
                return bool(answer.json().get("status") == "confirmed")

            await wait_for(confirmed, within=60, what=f"order {order_id} confirmed")

        async def line(product_id: str) -> str:
            """A line in customer A's cart (once the orders service knows the product)."""

            async def added() -> Any:
                answer = await orders.post(
                    "/api/v1/cart/lines",
                    json={"product_id": product_id, "quantity": 1},
                    headers=a,
                )
                return answer.json() if answer.status_code == 201 else None

            cart = await wait_for(added, within=60, what="a line in customer A's cart")
            return str(next(x["line_id"] for x in cart["lines"] if x["product_id"] == product_id))

        world.line_a = await line(world.product_id)
        world.line_a_victim = await line(cart_victim)

        async def session(headers: dict[str, str]) -> str:
            created = await assistant.post(
                "/api/v1/chat/sessions", json={"title": "lamps"}, headers=headers
            )
            return str((await _created(created))["id"])

        world.session_a = await session(a)
        world.session_b = await session(b)
        world.action_a = await expired_action(running.engine, tokens.a, world)

        async def indexed() -> bool:
            found = await assistant.get("/api/v1/search", params={"q": "Access lamp"})
            return found.status_code == 200 and any(
                hit["product_id"] == world.product_id for hit in found.json()["results"]
            )

        await wait_for(indexed, within=60, what="the product in the search index")
        run = await _created(await indexer.post("/api/v1/admin/index/rebuild", headers=admin), 202)
        world.run_id = run["run_id"]

        async def rebuilt() -> bool:
            answer = await indexer.get(
                f"/api/v1/admin/index/rebuilds/{world.run_id}", headers=admin
            )
            return bool(answer.json().get("status") in ("done", "failed"))

        await wait_for(rebuilt, within=90, what="the index rebuild done")
        await wait_for(
            lambda: len(running.mailbox.unique()) >= 4, within=60, what="four order e-mails"
        )
    await wait_quiet(running.engine)
    world.dead_letters = await park_dead_letters(running)
    return world


async def park_dead_letters(running: Running) -> dict[str, tuple[str, str]]:
    """Two letters per group, as the runtime parks an entry that does not decode: the
    replay row's fails again (nothing changes: the letter stays), the DELETE row's goes."""
    names = StreamNames(running.prefix)
    client = aioredis.from_url(running.redis_url)
    letters: dict[str, tuple[str, str]] = {}
    try:
        for service in OPERATED:
            ids: list[str] = []
            for _ in range(2):
                added: Any = await client.xadd(
                    names.dlq(service),
                    {
                        STREAM_FIELD: b'{"not": "an envelope"}',
                        "error": "undecodable envelope: not an envelope",
                        "origin_stream": names.events("orders"),
                        "origin_id": "1-0",
                        "deliveries": "1",
                        "group": service,
                        "consumer": "access-world",
                    },
                )
                ids.append(added.decode())
            letters[service] = (ids[0], ids[1])
    finally:
        await client.aclose()
    return letters


async def expired_action(engine: AsyncEngine, customer: str, world: World) -> str:
    """A's proposal, recorded as the chat's `propose_checkout` records one (the events
    and the projection), proposed an hour ago. Confirming and checking out for real:
    services/assistant/tests/e2e/test_chat_actions_e2e.py."""
    line = {
        "line_id": str(uuid4()),
        "product_id": world.product_id,
        "name": "Access lamp",
        "quantity": 1,
        "unit_price": "12.50",
        "line_total": "12.50",
    }
    command = handlers.ProposeCheckout(
        session_id=UUID(world.session_a),
        customer=customer,
        cart={"lines": [line], "total": "12.50", "currency": "EUR"},
        address=ShippingAddress(
            name="A. Customer",
            lines=["1 Access Road"],
            city="Porto",
            postal_code="4000",
            country="PT",
        ),
        now=datetime.now(UTC) - timedelta(hours=1),
        ttl=timedelta(minutes=15),
    )
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    action = await handlers.propose_checkout(command, AssistantUnitOfWork(sessions))
    return str(action.id)


async def event_counts(engine: AsyncEngine) -> dict[str, int]:
    """Events stored per service: any accepted write appends at least one."""
    query = " UNION ALL ".join(f"SELECT '{s}', (SELECT count(*) FROM {s}.events)" for s in SERVICES)
    async with engine.connect() as conn:
        rows = (await conn.execute(text(query))).all()
    return {str(name): int(count) for name, count in rows}


async def outbox_sizes(engine: AsyncEngine) -> int:
    query = " + ".join(f"(SELECT count(*) FROM {s}.outbox)" for s in SERVICES)
    async with engine.connect() as conn:
        return int((await conn.execute(text(f"SELECT {query}"))).scalar_one())


async def wait_quiet(engine: AsyncEngine) -> None:
    """Every outbox drained and the event counts the same on two reads in a row: the
    world's consequences (saga, e-mails, index) have all been written."""
    previous: dict[str, int] = {}

    async def quiet() -> bool:
        nonlocal previous
        counts = await event_counts(engine)
        settled = counts == previous and await outbox_sizes(engine) == 0
        previous = counts
        return settled

    await wait_for(quiet, within=60, interval=1.0, what="the stack quiet")
