"""What must hold once the faults stop and the system settles, counted as lost and
duplicated items (zero and zero is the only passing result):

- index == catalog: every product in the catalog is in the active index as it is now
  (name, price, category, in stock or not), and in the indexer's fold at its latest
  version and stock count, which the index does not hold (ADR 0033) (missing or stale:
  lost; in the index but not the catalog: duplicated);
- one e-mail per final order: the catcher's transactions per order address, duplicates
  by Message-ID included (none: lost; more than one: duplicated);
- no order pending (pending: lost);
- stock + units sold == initial stock + stock set deltas, per product (units missing:
  lost; units in excess: duplicated);
- every consumer group idle: nothing pending, nothing unread (unread entries: lost);
- each dead-letter stream holds exactly the poison injected into the streams its group
  reads (a real event there or a poison missing: lost; a poison twice: duplicated).
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psycopg
import redis.asyncio as aioredis

from marcus_contracts import STREAM_FIELD, StreamNames
from tests.reliability.workload import Book
from tests.support.search import catalog_snapshot, differences, index_snapshot


@dataclass
class Outcome:
    """One invariant's violations, item by item (an order, a product, a group)."""

    name: str
    items: dict[str, tuple[int, int]] = field(default_factory=dict)
    """What is off -> (lost, duplicated)."""

    def add(self, item: str, *, lost: int = 0, duplicated: int = 0) -> None:
        self.items[item] = (lost, duplicated)

    @property
    def lost(self) -> int:
        return sum(lost for lost, _ in self.items.values())

    @property
    def duplicated(self) -> int:
        return sum(duplicated for _, duplicated in self.items.values())

    @property
    def holds(self) -> bool:
        return not self.items


@dataclass
class Verdict:
    outcomes: list[Outcome]

    @property
    def holds(self) -> bool:
        return all(o.holds for o in self.outcomes)

    @property
    def lost(self) -> int:
        return sum(o.lost for o in self.outcomes)

    @property
    def duplicated(self) -> int:
        return sum(o.duplicated for o in self.outcomes)

    def items(self) -> set[str]:
        return {f"{o.name}: {item}" for o in self.outcomes for item in o.items}

    def without(self, known: set[str]) -> Verdict:
        """Only what is new: a violation a previous round already reported (it stays in
        the data, e.g. an e-mail sent twice) is not counted against this round again."""
        return Verdict(
            [
                Outcome(o.name, {i: v for i, v in o.items.items() if f"{o.name}: {i}" not in known})
                for o in self.outcomes
            ]
        )

    def describe(self) -> str:
        return "; ".join(
            f"{o.name}: lost {o.lost}, duplicated {o.duplicated} {list(o.items)[:5]}"
            for o in self.outcomes
            if not o.holds
        )


@dataclass
class Checker:
    catalog_url: str
    chroma_url: str
    redis_url: str
    prefix: str
    libpq_url: str
    mail_folder: Path

    async def verdict(self, book: Book) -> Verdict:
        return Verdict(
            [
                await self.index_matches_catalog(),
                await self.orders_final(book),
                self.one_email_per_order(book),
                await self.stock_balances(book),
                await self.groups_idle(),
                await self.dead_letters_are_the_poison(book),
            ]
        )

    async def index_matches_catalog(self) -> Outcome:
        outcome = Outcome("index == catalog")
        async with httpx.AsyncClient(base_url=self.catalog_url, timeout=30) as client:
            catalog = await catalog_snapshot(client)
        index = await index_snapshot(self.chroma_url, self.redis_url, self.prefix)
        for problem in differences(catalog, index):
            if problem.startswith("extra"):
                outcome.add(problem[:200], duplicated=1)
            else:
                outcome.add(problem[:200], lost=1)
        async with await psycopg.AsyncConnection.connect(self.libpq_url) as conn:
            rows = await conn.execute(
                "SELECT product_id::text, sequence, stock FROM indexer.documents WHERE NOT deleted"
            )
            fold = {pid: (sequence, stock) for pid, sequence, stock in await rows.fetchall()}
        for pid, product in catalog.items():
            if fold.get(pid) != (product["version"], product["stock"]):
                outcome.add(f"{pid}: fold {fold.get(pid)} != catalog", lost=1)
        return outcome

    async def statuses(self, book: Book) -> dict[str, str]:
        async with await psycopg.AsyncConnection.connect(self.libpq_url) as conn:
            rows = await conn.execute(
                "SELECT id::text, status FROM orders.orders WHERE id::text = ANY(%s)",
                ([o.order_id for o in book.orders],),
            )
            return dict(await rows.fetchall())

    async def orders_final(self, book: Book) -> Outcome:
        outcome = Outcome("no order pending")
        statuses = await self.statuses(book)
        for order in book.orders:
            status = statuses.get(order.order_id)
            if status not in ("confirmed", "rejected"):
                outcome.add(f"{order.order_id} {status}", lost=1)
        return outcome

    def one_email_per_order(self, book: Book) -> Outcome:
        """Counts SMTP transactions, not distinct Message-IDs: a resend is a duplicate."""
        outcome = Outcome("one e-mail per order")
        index = self.mail_folder / "index.jsonl"
        received: Counter[str] = Counter()
        if index.exists():
            for line in index.read_text().splitlines():
                if line.strip():
                    for recipient in json.loads(line)["recipients"]:
                        received[recipient.lower()] += 1
        for order in book.orders:
            count = received[order.email.lower()]
            if count == 0:
                outcome.add(f"no e-mail for {order.order_id}", lost=1)
            elif count > 1:
                outcome.add(f"{count} e-mails for {order.order_id}", duplicated=count - 1)
        return outcome

    async def stock_balances(self, book: Book) -> Outcome:
        outcome = Outcome("stock + sold == initial + sets")
        statuses = await self.statuses(book)
        expected = Counter(book.initial_stock)
        for stock_set in book.stock_sets:
            if stock_set.certain:
                expected[stock_set.product_id] += stock_set.delta
        sold: Counter[str] = Counter()
        for order in book.orders:
            if statuses.get(order.order_id) == "confirmed":
                for product_id, quantity in order.lines:
                    sold[product_id] += quantity
        async with httpx.AsyncClient(base_url=self.catalog_url, timeout=30) as client:
            for product_id in book.initial_stock:
                reply = await client.get(f"/api/v1/products/{product_id}")
                reply.raise_for_status()
                balance = reply.json()["stock"] + sold[product_id] - expected[product_id]
                if balance:
                    outcome.add(
                        f"{product_id} off by {balance}",
                        lost=max(-balance, 0),
                        duplicated=max(balance, 0),
                    )
        return outcome

    async def _streams(self, redis: aioredis.Redis) -> dict[str, list[str]]:
        """Every event stream of the stack and the groups reading it."""
        streams: dict[str, list[str]] = {}
        async for key in redis.scan_iter(match=f"{self.prefix}events.*"):
            name = key.decode()
            groups = await redis.xinfo_groups(name)
            streams[name] = [g["name"].decode() for g in groups]
        return streams

    async def groups_idle(self) -> Outcome:
        outcome = Outcome("consumer groups idle")
        redis = aioredis.from_url(self.redis_url)
        try:
            for stream in await self._streams(redis):
                for info in await redis.xinfo_groups(stream):
                    behind = int(info.get("pending") or 0) + int(info.get("lag") or 0)
                    if behind:
                        outcome.add(f"{stream}/{info['name'].decode()}: {behind}", lost=behind)
        finally:
            await redis.aclose()
        return outcome

    async def dead_letters_are_the_poison(self, book: Book) -> Outcome:
        outcome = Outcome("DLQ == poison")
        names = StreamNames(self.prefix)
        redis = aioredis.from_url(self.redis_url)
        try:
            streams = await self._streams(redis)
            groups = {g for gs in streams.values() for g in gs}
            for group in sorted(groups):
                expected: Counter[tuple[str, bytes]] = Counter()
                for stream, readers in streams.items():
                    if group in readers:
                        for poison in book.poison.get(stream, []):
                            expected[(stream, poison)] += 1
                found: Counter[tuple[str, bytes]] = Counter()
                letters: list[tuple[bytes, dict[bytes, bytes]]] = await redis.xrange(
                    names.dlq(group)
                )  # type: ignore[assignment]
                for _, fields in letters:
                    origin = fields.get(b"origin_stream", b"").decode()
                    found[(origin, fields.get(STREAM_FIELD.encode(), b""))] += 1
                for key in expected.keys() | found.keys():
                    diff = found[key] - expected[key]
                    if diff < 0 or (diff > 0 and expected[key] == 0):
                        outcome.add(f"{group}: {key[0]} {key[1][:80]!r} x{diff}", lost=abs(diff))
                    elif diff > 0:
                        outcome.add(f"{group}: poison twice {key[1][:60]!r}", duplicated=diff)
        finally:
            await redis.aclose()
        return outcome
