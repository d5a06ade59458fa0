"""The steady workload: concurrent clients over real HTTP, and the book of what they did.

Product writes (creates and patches) and stock sets go to the catalog, orders to the
orders service, searches and chat to the assistant. Every client keeps a record of what
it asked for so the invariants can be checked against it afterwards:

- an order is retried with the same Idempotency-Key until the service answers, so every
  order a client attempted ends up known (placed once);
- a stock set carries a unique `reason` and If-Match; when its outcome is unknown (no
  answer, 5xx) the catalog's event table says whether it happened (`resolve`).
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field

import httpx
import psycopg

from tests.support.auth import bearer as _bearer

ORDER_POOL = 12
"""Products the orders are placed on (and whose stock the setter tops up)."""
SEARCHES = ("bike", "tea", "lamp", "chair", "green", "steel", "warm", "light")


def bearer(secret: str, subject: str, *roles: str) -> dict[str, str]:
    return _bearer(subject, *roles, secret=secret)


@dataclass
class PlacedOrder:
    order_id: str
    email: str
    lines: list[tuple[str, int]]
    round: int


@dataclass
class StockSet:
    product_id: str
    delta: int
    reason: str
    certain: bool


@dataclass
class Book:
    """What the clients did, over all rounds."""

    initial_stock: dict[str, int] = field(default_factory=dict)
    orders: list[PlacedOrder] = field(default_factory=list)
    stock_sets: list[StockSet] = field(default_factory=list)
    product_writes: int = 0
    searches: Counter[int] = field(default_factory=Counter)
    chats: Counter[int] = field(default_factory=Counter)
    poison: dict[str, list[bytes]] = field(default_factory=dict)
    """stream -> the poison entries injected into it."""

    def events(self) -> int:
        """Client operations that produce events (and so must reach every consumer)."""
        return (
            self.product_writes
            + len(self.orders)
            + sum(s.certain for s in self.stock_sets)
            + sum(len(p) for p in self.poison.values())
        )


class Workload:
    """The clients of one stack; `run(seconds)` drives them all at once."""

    def __init__(self, urls: dict[str, str], secret: str, libpq_url: str, book: Book) -> None:
        self.http = {
            name: httpx.AsyncClient(base_url=url, timeout=20) for name, url in urls.items()
        }
        self.secret = secret
        self.libpq_url = libpq_url
        self.book = book
        self.admin = bearer(secret, "ops", "admin")
        self.category = ""
        self.pool: list[str] = []
        self.churn: list[str] = []
        self.round = 0
        self._stop = asyncio.Event()

    async def aclose(self) -> None:
        for client in self.http.values():
            await client.aclose()

    async def setup(self) -> None:
        """A category and the order pool, created before any fault."""
        reply = await self.http["catalog"].post(
            "/api/v1/categories",
            json={"slug": "reliability", "name": "Reliability"},
            headers=self.admin,
        )
        assert reply.status_code == 201, reply.text
        self.category = reply.json()["id"]
        for n in range(ORDER_POOL):
            product = await self._create(f"POOL-{n}", stock=20)
            assert product is not None
            self.pool.append(product["id"])
            self.book.initial_stock[product["id"]] = 20

    async def run(self, seconds: float, round_number: int) -> None:
        self.round = round_number
        self._stop.clear()
        clients = [
            self._products(),
            self._stock(),
            self._orders("a"),
            self._orders("b"),
            self._searches(),
            self._chat(),
        ]
        tasks = [asyncio.create_task(client) for client in clients]
        await asyncio.sleep(seconds)
        self._stop.set()
        await asyncio.gather(*tasks)

    # ------------------------------------------------------------------ clients

    async def _pace(self, seconds: float) -> bool:
        """Sleep; False once the round is over."""
        try:
            await asyncio.wait_for(self._stop.wait(), timeout=seconds)
        except TimeoutError:
            return True
        return False

    async def _create(self, sku: str, stock: int) -> dict | None:
        """A new product; retried (the SKU is unique: a 409 means an earlier try made it)."""
        body = {
            "sku": sku,
            "name": f"{random.choice(SEARCHES).title()} item {sku}",
            "price": f"{random.randint(1, 300)}.{random.randint(0, 99):02d}",
            "currency": "EUR",
            "category_id": self.category,
            "stock": stock,
        }
        for _ in range(60):
            try:
                reply = await self.http["catalog"].post(
                    "/api/v1/products", json=body, headers=self.admin
                )
            except httpx.HTTPError:
                await asyncio.sleep(1)
                continue
            if reply.status_code == 201:
                self.book.product_writes += 1
                return reply.json()
            if reply.status_code == 409:
                return None
            await asyncio.sleep(1)
        return None

    async def _products(self) -> None:
        while await self._pace(0.3):
            if self.churn and random.random() < 0.5:
                product_id = random.choice(self.churn)
                patch = {"name": f"{random.choice(SEARCHES).title()} {uuid.uuid4().hex[:6]}"}
                try:
                    reply = await self.http["catalog"].patch(
                        f"/api/v1/products/{product_id}", json=patch, headers=self.admin
                    )
                except httpx.HTTPError:
                    continue
                if reply.status_code == 200:
                    self.book.product_writes += 1
            else:
                product = await self._create(f"R{self.round}-{uuid.uuid4().hex[:8]}", stock=5)
                if product is not None:
                    self.churn.append(product["id"])

    async def _stock(self) -> None:
        while await self._pace(0.5):
            product_id = random.choice(self.pool)
            try:
                current = await self.http["catalog"].get(f"/api/v1/products/{product_id}")
            except httpx.HTTPError:
                continue
            if current.status_code != 200:
                continue
            product = current.json()
            delta = random.randint(1, 6)
            reason = f"reliability-{uuid.uuid4().hex}"
            headers = self.admin | {"If-Match": f'"{product["version"]}"'}
            body = {"stock": product["stock"] + delta, "reason": reason}
            try:
                reply = await self.http["catalog"].put(
                    f"/api/v1/products/{product_id}/stock", json=body, headers=headers
                )
            except httpx.HTTPError:
                self.book.stock_sets.append(StockSet(product_id, delta, reason, certain=False))
                continue
            if reply.status_code == 200:
                self.book.stock_sets.append(StockSet(product_id, delta, reason, certain=True))
            elif reply.status_code >= 500:
                self.book.stock_sets.append(StockSet(product_id, delta, reason, certain=False))

    async def _orders(self, client: str) -> None:
        number = 0
        while await self._pace(0.25):
            number += 1
            products = random.sample(self.pool, random.randint(1, 2))
            lines = [(p, random.randint(1, 3)) for p in products]
            email = f"r{self.round}-{client}{number}-{uuid.uuid4().hex[:6]}@example.com"
            body = {
                "email": email,
                "lines": [{"product_id": p, "quantity": q} for p, q in lines],
            }
            headers = bearer(self.secret, f"shopper-{client}") | {
                "Idempotency-Key": uuid.uuid4().hex
            }
            order_id = await self._place(body, headers)
            assert order_id is not None, f"order {email} was never answered"
            self.book.orders.append(PlacedOrder(order_id, email, lines, self.round))

    async def _place(self, body: dict, headers: dict[str, str]) -> str | None:
        """Until the service answers: the key makes every retry the same order."""
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            try:
                reply = await self.http["orders"].post("/api/v1/orders", json=body, headers=headers)
            except httpx.HTTPError:
                await asyncio.sleep(0.5)
                continue
            if reply.status_code in (200, 201):
                return str(reply.json()["id"])
            assert reply.status_code >= 500, reply.text
            await asyncio.sleep(0.5)
        return None

    async def _searches(self) -> None:
        while await self._pace(0.4):
            try:
                reply = await self.http["assistant"].get(
                    "/api/v1/search", params={"q": random.choice(SEARCHES), "k": 5}
                )
            except httpx.HTTPError:
                self.book.searches[0] += 1
                continue
            self.book.searches[reply.status_code] += 1

    async def _chat(self) -> None:
        shopper = bearer(self.secret, f"chatter-{self.round}")
        session = ""
        while await self._pace(1.5):
            try:
                if not session:
                    created = await self.http["assistant"].post(
                        "/api/v1/chat/sessions", headers=shopper
                    )
                    if created.status_code != 201:
                        self.book.chats[created.status_code] += 1
                        continue
                    session = created.json()["id"]
                reply = await self.http["assistant"].post(
                    f"/api/v1/chat/sessions/{session}/messages",
                    json={"content": f"something {random.choice(SEARCHES)}?"},
                    headers=shopper,
                )
            except httpx.HTTPError:
                self.book.chats[0] += 1
                continue
            self.book.chats[reply.status_code] += 1


async def resolve(book: Book, libpq_url: str) -> None:
    """Settle every stock set whose answer was lost: it happened iff the catalog recorded
    an adjustment with its reason."""
    unsure = [s for s in book.stock_sets if not s.certain]
    if not unsure:
        return
    async with await psycopg.AsyncConnection.connect(libpq_url) as conn:
        rows = await conn.execute(
            "SELECT envelope->'data'->>'reason' FROM catalog.events"
            " WHERE type = 'catalog.stock.adjusted' AND envelope->'data'->>'reason' = ANY(%s)",
            ([s.reason for s in unsure],),
        )
        happened = {row[0] for row in await rows.fetchall()}
    kept = [s for s in book.stock_sets if s.certain or s.reason in happened]
    for item in kept:
        item.certain = True
    book.stock_sets = kept
