"""Freshness: a product PATCH through the catalog API until it is visible in search.

Stack per embedder (and, for MiniLM, per `--torch-threads` value), all as processes:
catalog, indexer (EMBEDDER=<kind>), assistant, on a fresh database and stream prefix,
against the bench's Chroma server. `--catalog` products are created through the API and
indexed first; then, per offered rate and round (rates interleaved, `--rounds` times),
`--updates` renames are sent open-loop at that steady rate (a PATCH starts on schedule
whether or not earlier ones have returned), each to a different product, each adding a
unique token to the name, with If-Match on the version the bench knows (so the expected
sequence is known before the PATCH returns, and a 412 would expose a lost update).

Moments per update, on this process's monotonic clock, from the start of its PATCH:

- indexed (every update): the active collection's document has the new sequence. One
  watcher asks Chroma for every outstanding product in ONE `get(ids=...)` every
  `--poll-ms`, so watching costs about the same at 50/s as at 10/s.
- searchable (every `--confirm-every`th update): the assistant's
  `GET /api/v1/search?q=<token>&mode=hybrid` answers with the product under its new
  name; asked once the watcher saw the document, then every 10 ms until it shows. A
  sample, because a search per update (a MiniLM query embedding each) would load the
  machine being measured; it shows how far search trails the poll.
- in stream: the event's stream entry id (Redis's clock, same host, vs `time.time()` at
  the PATCH), which splits the delay into catalog + relay and the indexer's part.

Per phase the CPU seconds of each process (and of this one) and the indexer's own
metrics (embedding calls, texts per call, sync batch time) are recorded; before the
phases, each process's CPU while idle and the latency and Chroma CPU of a one-document
upsert and of the watcher's `get`, to say where the time goes.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import statistics
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import httpx
import redis.asyncio as aioredis

from bench.index.common import (
    SECRET,
    ServiceProcess,
    delete_keys,
    fresh_database,
    processes,
    service_env,
    summary_ms,
    wait_until,
)
from bench.index.metrics import cpu_seconds, scrape
from marcus_contracts import STREAM_FIELD, StreamNames
from marcus_search import AliasStore
from marcus_search.chroma import AsyncCollection, connect, open_collection
from marcus_web.auth import mint_token

CONFIRMERS = 4
"""Concurrent assistant searches confirming updates (each update is asked about once,
then every 10 ms until it shows)."""
INDEXER_METRICS = (
    "indexer_embed_seconds_sum",
    "indexer_embed_seconds_count",
    "indexer_embed_batch_size_sum",
    "indexer_sync_batch_seconds_sum",
    "indexer_sync_batch_seconds_count",
    "messaging_events_consumed_total",
)
KINDS = ("trail jacket", "coffee grinder", "road bike", "desk lamp", "wool socks",
         "chef knife", "yoga mat", "tent", "espresso cups", "rain boots", "backpack",
         "headphones")  # fmt: skip
ADJECTIVES = ("light", "sturdy", "waterproof", "compact", "classic", "merino", "carbon",
              "ceramic", "insulated", "foldable")  # fmt: skip


@dataclass
class Update:
    product_id: str
    version: int
    """The version the PATCH creates (the document's `sequence` once indexed)."""
    name: str
    token: str
    confirm: bool
    """Also wait until the assistant's search shows it (a sample: see `--confirm-every`)."""
    sent: float = 0.0
    sent_wall: float = 0.0
    """time.time() at `sent`: compared with the stream entry's id (Redis's clock, same host)."""
    published_wall: float | None = None
    acked: float | None = None
    indexed: float | None = None
    searchable: float | None = None
    searches: int = 0
    error: str | None = None
    settled: bool = False


@dataclass
class Watcher:
    """Finds outstanding updates in the active collection, then confirms them through
    the assistant's search."""

    chroma_url: str
    alias: AliasStore
    assistant: httpx.AsyncClient
    poll_s: float
    timeout_s: float
    pending: dict[str, Update] = field(default_factory=dict)
    confirming: asyncio.Queue[Update] = field(default_factory=asyncio.Queue)
    unconfirmed: int = 0
    gets: int = 0
    _collection: AsyncCollection | None = None
    _collection_name: str = ""

    def expect(self, update: Update) -> None:
        assert update.product_id not in self.pending, "one outstanding update per product"
        self.pending[update.product_id] = update
        self.unconfirmed += 1

    def settle(self, update: Update, error: str | None = None) -> None:
        """Done with `update` (found by search, or failed with `error`); once only."""
        if update.settled:
            return
        update.settled = True
        update.error = error
        self.pending.pop(update.product_id, None)
        self.unconfirmed -= 1

    async def collection(self) -> AsyncCollection:
        active = await self.alias.read()
        assert active is not None, "no active collection"
        if self._collection is None or active.collection != self._collection_name:
            self._collection = await open_collection(
                await connect(self.chroma_url), active.collection
            )
            self._collection_name = active.collection
        return self._collection

    async def watch(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            if self.pending:
                await self._look()
            await asyncio.sleep(self.poll_s)

    async def _look(self) -> None:
        ids = list(self.pending)
        found = await (await self.collection()).get(ids=ids, include=["metadatas"])
        self.gets += 1
        now = time.monotonic()
        for pid, meta in zip(found["ids"], found["metadatas"] or [], strict=True):
            update = self.pending.get(pid)
            sequence = (meta or {}).get("sequence", 0)
            if update is not None and isinstance(sequence, int) and sequence >= update.version:
                update.indexed = now
                if update.confirm:
                    del self.pending[pid]
                    self.confirming.put_nowait(update)
                else:
                    self.settle(update)
        for pid in ids:
            update = self.pending.get(pid)
            if update is not None and now - update.sent > self.timeout_s:
                self.settle(update, f"not indexed within {self.timeout_s}s")

    async def confirm(self) -> None:
        while True:
            update = await self.confirming.get()
            while True:
                update.searches += 1
                try:
                    response = await self.assistant.get(
                        "/api/v1/search", params={"q": update.token, "k": 10, "mode": "hybrid"}
                    )
                except httpx.HTTPError:  # counted as not yet visible; the timeout decides
                    response = httpx.Response(599)
                if response.status_code == 200 and any(
                    hit["product_id"] == update.product_id and hit["name"] == update.name
                    for hit in response.json()["results"]
                ):
                    update.searchable = time.monotonic()
                    self.settle(update)
                    break
                if time.monotonic() - update.sent > self.timeout_s:
                    self.settle(update, f"indexed, not found by search in {self.timeout_s}s")
                    break
                await asyncio.sleep(0.01)


@dataclass
class Catalog:
    client: httpx.AsyncClient
    headers: dict[str, str]
    products: list[str] = field(default_factory=list)
    versions: dict[str, int] = field(default_factory=dict)
    names: dict[str, str] = field(default_factory=dict)

    async def seed(self, count: int) -> None:
        category = await self.client.post(
            "/api/v1/categories", json={"slug": "bench", "name": "Bench"}, headers=self.headers
        )
        category.raise_for_status()
        category_id = category.json()["id"]
        rng = random.Random(7)
        semaphore = asyncio.Semaphore(8)

        async def create(i: int) -> None:
            kind, adjective = KINDS[i % len(KINDS)], rng.choice(ADJECTIVES)
            body = {
                "sku": f"FRESH-{i:05d}",
                "name": f"{adjective.title()} {kind} {i}",
                "description": f"A {adjective} {kind} for every day. Model {i}.",
                "price": f"{rng.randint(500, 50000) / 100:.2f}",
                "category_id": category_id,
                "stock": rng.randint(0, 50),
            }
            async with semaphore:
                response = await self.client.post(
                    "/api/v1/products", json=body, headers=self.headers
                )
            response.raise_for_status()
            product = response.json()
            self.products.append(product["id"])
            self.versions[product["id"]] = product["version"]
            self.names[product["id"]] = body["name"]

        await asyncio.gather(*(create(i) for i in range(count)))

    async def rename(self, update: Update) -> None:
        headers = {**self.headers, "If-Match": f'"{update.version - 1}"'}
        update.sent, update.sent_wall = time.monotonic(), time.time()
        response = await self.client.patch(
            f"/api/v1/products/{update.product_id}", json={"name": update.name}, headers=headers
        )
        update.acked = time.monotonic()
        if response.status_code != 200:
            raise RuntimeError(f"PATCH {update.product_id}: {response.status_code} {response.text}")
        version = response.json()["version"]
        if version != update.version:
            raise RuntimeError(f"PATCH {update.product_id} made v{version}, not v{update.version}")
        self.versions[update.product_id] = version


async def offer(
    catalog: Catalog,
    watcher: Watcher,
    rate: float,
    count: int,
    label: str,
    offset: int,
    confirm_every: int,
) -> list[Update]:
    """`count` renames at a steady `rate`/s, open loop; returns once all are settled."""
    updates: list[Update] = []
    tasks = []

    async def send(update: Update) -> None:
        try:
            await catalog.rename(update)
        except Exception as exc:  # recorded and reported as failed
            watcher.settle(update, repr(exc))

    started = time.monotonic()
    for i in range(count):
        pid = catalog.products[(offset + i) % len(catalog.products)]
        token = f"{label}u{i}"
        base = catalog.names[pid]
        update = Update(
            pid, catalog.versions[pid] + 1, f"{base} {token}", token, i % confirm_every == 0
        )
        updates.append(update)
        delay = started + i / rate - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        watcher.expect(update)
        tasks.append(asyncio.create_task(send(update)))
    await asyncio.gather(*tasks)
    await wait_until(
        lambda: _settled(watcher), watcher.timeout_s + 30, f"{label}: updates settled", 0.05
    )
    return updates


async def _settled(watcher: Watcher) -> bool:
    return watcher.unconfirmed == 0


async def stamp_published(redis: aioredis.Redis, stream: str, updates: list[Update]) -> None:
    """When each update's event entered the stream: the ms part of its entry id."""
    wanted = {(u.product_id, u.version): u for u in updates}
    start = f"{int(min(u.sent_wall for u in updates) * 1000)}-0"
    while wanted:
        page = cast(list[Any], await redis.xrange(stream, min=start, max="+", count=1000))
        if not page:
            return
        for raw_id, fields in page:
            entry_id = raw_id.decode()
            envelope = json.loads(fields[STREAM_FIELD.encode()])
            update = wanted.pop((envelope["subject"], envelope["sequence"]), None)
            if update is not None:
                update.published_wall = int(entry_id.split("-")[0]) / 1000
        start = "(" + entry_id


def phase_result(rate: float, updates: list[Update]) -> dict[str, Any]:
    """Percentiles from the start of each PATCH: indexed (every update), in stream and
    the rest (where the stream entry was found), searchable (the confirmed sample)."""
    failed = [u for u in updates if u.error is not None]
    indexed = [u for u in updates if u.error is None and u.indexed is not None]
    confirmed = [u for u in indexed if u.searchable is not None]
    sent = [u.sent for u in updates]
    result: dict[str, Any] = {
        "offered_per_s": rate,
        "updates": len(updates),
        "achieved_per_s": round((len(sent) - 1) / (max(sent) - min(sent)), 2),
        "failed": len(failed),
        "errors": sorted({u.error for u in failed if u.error})[:5],
        "confirmed_by_search": len(confirmed),
    }
    if indexed:
        result["indexed"] = summary_ms([u.indexed - u.sent for u in indexed if u.indexed])
        result["patch"] = summary_ms([u.acked - u.sent for u in indexed if u.acked])
        in_stream, after_stream = [], []
        for u in indexed:
            if u.published_wall is not None and u.indexed is not None:
                in_stream.append(u.published_wall - u.sent_wall)
                after_stream.append(u.indexed - u.sent - in_stream[-1])
        if in_stream:
            result["in_stream"] = summary_ms(in_stream)
            result["stream_to_indexed"] = summary_ms(after_stream)
    if confirmed:
        result["searchable"] = summary_ms(
            [u.searchable - u.sent for u in confirmed if u.searchable]
        )
        result["search_after_indexed"] = summary_ms(
            [u.searchable - u.indexed for u in confirmed if u.searchable and u.indexed]
        )
        result["searches_per_confirmation"] = round(
            sum(u.searches for u in confirmed) / len(confirmed), 2
        )
    return result


async def run_embedder(
    embedder: str,
    torch_threads: int | None,
    args: Any,
    chroma_url: str,
    chroma_pid: int,
    log_dir: Path,
) -> dict[str, Any]:
    prefix = f"bench-fresh-{uuid.uuid4().hex[:8]}:"
    services = ("catalog", "indexer", "assistant")
    with (
        fresh_database(args.database_url, services, f"fresh_{embedder}") as database_url,
        processes() as procs,
    ):
        env = service_env(
            database_url,
            args.redis_url,
            prefix,
            CHROMA_URL=chroma_url,
            EMBEDDER=embedder,
            EMBEDDER_THREADS=str(torch_threads or 0),  # torch's intra-op threads; 0: per core
        )
        for service in services:
            label = f"fresh-{embedder}-{torch_threads or 'd'}-{service}"
            procs.append(ServiceProcess(service, env, log_dir, label))
        for proc in procs:
            await proc.wait_ready()
        catalog_proc, indexer_proc, assistant_proc = procs
        admin = {"Authorization": f"Bearer {mint_token('bench', ['admin'], secret=SECRET)}"}
        redis = aioredis.from_url(args.redis_url)
        limits = httpx.Limits(max_connections=200, max_keepalive_connections=50)
        async with (
            httpx.AsyncClient(base_url=catalog_proc.url, timeout=60, limits=limits) as catalog_http,
            httpx.AsyncClient(base_url=assistant_proc.url, timeout=60) as assistant_http,
            httpx.AsyncClient(base_url=indexer_proc.url, timeout=60) as indexer_http,
        ):
            catalog = Catalog(catalog_http, admin)
            seeded = time.monotonic()
            await catalog.seed(args.catalog)

            async def indexed_all() -> bool:
                status = (await indexer_http.get("/api/v1/admin/index", headers=admin)).json()
                return status["documents"] == args.catalog and status["lag"]["total"] == 0

            await wait_until(indexed_all, 300, f"{args.catalog} products indexed", 0.25)
            seed_s = time.monotonic() - seeded
            watcher = Watcher(
                chroma_url,
                AliasStore(redis, prefix),
                assistant_http,
                args.poll_ms / 1000,
                args.timeout,
            )
            stop = asyncio.Event()
            background = [
                asyncio.create_task(watcher.watch(stop)),
                *(asyncio.create_task(watcher.confirm()) for _ in range(CONFIRMERS)),
            ]
            pids = {
                "catalog": catalog_proc.pid,
                "indexer": indexer_proc.pid,
                "assistant": assistant_proc.pid,
                "chroma": chroma_pid,
            }
            phases = []
            offset = 0
            stream = StreamNames(prefix).events("catalog")
            try:
                # warm-up (not recorded): models loaded, pools and caches filled
                await offer(catalog, watcher, 5, args.warmup, "w", offset, 1)
                offset += args.warmup
                idle = await idle_cpu(pids, args.idle_s)
                probe = await chroma_probe(
                    await watcher.collection(), catalog.products[:5], chroma_url, chroma_pid
                )
                for round_ in range(1, args.rounds + 1):
                    for number, rate in enumerate(args.rates):
                        phase = Phase(rate, f"r{round_}x{number}x", offset)
                        result = await phase.measure(catalog, watcher, indexer_http, pids, args)
                        await stamp_published(redis, stream, phase.updates)
                        result.update(phase_result(rate, phase.updates), round=round_)
                        offset += args.updates
                        phases.append(result)
                        print(f"freshness {embedder} {rate}/s: {brief(result)}", flush=True)
            finally:
                stop.set()
                for task in background:
                    task.cancel()
                for task in background:
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
                await redis.aclose()
            status = (await indexer_http.get("/api/v1/admin/index", headers=admin)).json()
    await delete_keys(args.redis_url, prefix)  # the services are stopped: nothing re-adds any
    by_rate = [summarise([p for p in phases if p["offered_per_s"] == r]) for r in args.rates]
    return {
        "embedder": embedder,
        "collection_embedder": status["embedder"],
        "catalog_products": args.catalog,
        "torch_threads": torch_threads or "default",
        "confirm_every": args.confirm_every,
        "seed_and_index_s": round(seed_s, 1),
        "idle_cpu_cores": idle,
        "chroma_calls": probe,
        "by_rate": by_rate,
        "curve": curve(by_rate),
        "phases": phases,
    }


def curve(by_rate: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Freshness (PATCH -> indexed, and -> searchable for the sample) against the offered
    write rate: one point per rate, for the plot and the target (p99 <= 250 ms at 50/s)."""
    points = []
    for row in by_rate:
        point: dict[str, Any] = {
            "offered_per_s": row["offered_per_s"],
            "achieved_per_s": row["achieved_per_s"],
            "failed": row["failed"],
        }
        for key in ("indexed", "searchable"):
            if key in row:
                point[key] = {q: row[key][q] for q in ("p50_ms", "p95_ms", "p99_ms")}
        points.append(point)
    return points


SUMMARISED = (
    "indexed",
    "in_stream",
    "stream_to_indexed",
    "searchable",
    "search_after_indexed",
    "patch",
)


def _median(values: Iterable[float], digits: int = 1) -> float:
    return round(statistics.median(values), digits)


def summarise(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """One rate over its rounds: the median of each round's percentile (a round that
    other work on the machine disturbed moves it less than a pooled sample would)."""
    first = rounds[0]
    out: dict[str, Any] = {
        "offered_per_s": first["offered_per_s"],
        "rounds": len(rounds),
        "updates": sum(r["updates"] for r in rounds),
        "failed": sum(r["failed"] for r in rounds),
        "achieved_per_s": _median(r["achieved_per_s"] for r in rounds),
    }
    for key in SUMMARISED:
        present = [r[key] for r in rounds if key in r]
        if present:
            out[key] = {q: _median(s[q] for s in present) for q in present[0]}
    out["cpu_s_per_update"] = {
        name: _median((r["cpu_s_per_update"][name] for r in rounds), 4)
        for name in first["cpu_s_per_update"]
    }
    out["indexer"] = {
        name: _median((r["indexer"][name] or 0 for r in rounds), 2) for name in first["indexer"]
    }
    return out


async def idle_cpu(pids: dict[str, int], seconds: float) -> dict[str, float]:
    """CPU cores each process uses with nothing to do (its polling loops): at a low
    offered rate this, not the update, is most of the CPU per update."""
    before = {name: cpu_seconds(pid) for name, pid in pids.items()}
    await asyncio.sleep(seconds)
    return {
        name: round((cpu_seconds(pid) - before[name]) / seconds, 4) for name, pid in pids.items()
    }


async def chroma_probe(
    active: AsyncCollection, ids: list[str], chroma_url: str, chroma_pid: int, samples: int = 50
) -> dict[str, dict[str, float]]:
    """Latency and Chroma CPU of the two calls the freshness path makes most: a
    one-document upsert (a live sync batch at a low rate; into a scratch collection of
    the active one's dimension) and the watcher's `get` of a few ids (so its share of
    Chroma's CPU during the phases can be told apart)."""
    client = await connect(chroma_url)
    found = await active.get(limit=1, include=["embeddings"])
    vector: list[float] = [float(x) for x in cast(list[Any], found["embeddings"])[0]]
    scratch = await client.create_collection(f"bench-upsert-{uuid.uuid4().hex[:8]}")

    async def upsert(i: int) -> None:
        await scratch.upsert(
            ids=[f"p{i % 5}"],
            embeddings=[vector],  # type: ignore[arg-type]
            documents=["a scratch document"],
            metadatas=[{"sequence": i}],
        )

    async def get(i: int) -> None:
        await active.get(ids=ids, include=["metadatas"])

    out = {}
    try:
        for name, call in (("upsert_1_doc", upsert), (f"get_{len(ids)}_ids", get)):
            times = []
            cpu = cpu_seconds(chroma_pid)
            for i in range(samples):
                started = time.monotonic()
                await call(i)
                times.append(time.monotonic() - started)
            cpu_ms = (cpu_seconds(chroma_pid) - cpu) / samples * 1000
            out[name] = summary_ms(times) | {"chroma_cpu_ms": round(cpu_ms, 2)}
    finally:
        await client.delete_collection(scratch.name)
    return out


@dataclass
class Phase:
    """One offered rate: the updates, and what every process spent on them."""

    rate: float
    label: str
    offset: int
    updates: list[Update] = field(default_factory=list)

    async def measure(
        self,
        catalog: Catalog,
        watcher: Watcher,
        indexer: httpx.AsyncClient,
        pids: dict[str, int],
        args: Any,
    ) -> dict[str, Any]:
        cpu_before = {name: cpu_seconds(pid) for name, pid in pids.items()}
        bench_before = time.process_time()
        metrics_before = await scrape(indexer, INDEXER_METRICS)
        gets_before = watcher.gets
        self.updates = await offer(
            catalog, watcher, self.rate, args.updates, self.label, self.offset, args.confirm_every
        )
        cpu = {name: cpu_seconds(pid) - cpu_before[name] for name, pid in pids.items()}
        cpu["bench"] = time.process_time() - bench_before
        return {
            "cpu_s_per_update": {name: round(s / args.updates, 4) for name, s in cpu.items()},
            "indexer": indexer_profile(metrics_before, await scrape(indexer, INDEXER_METRICS)),
            "watcher_gets": watcher.gets - gets_before,
        }


def indexer_profile(before: dict[str, float], after: dict[str, float]) -> dict[str, float | None]:
    delta = {name: after.get(name, 0.0) - before.get(name, 0.0) for name in INDEXER_METRICS}
    calls = delta["indexer_embed_seconds_count"]
    batches = delta["indexer_sync_batch_seconds_count"]
    return {
        "events_consumed": delta["messaging_events_consumed_total"],
        "embed_calls": calls,
        "texts_per_embed_call": round(delta["indexer_embed_batch_size_sum"] / calls, 2)
        if calls
        else None,
        "embed_ms_per_call": round(delta["indexer_embed_seconds_sum"] / calls * 1000, 2)
        if calls
        else None,
        "sync_batches": batches,
        "sync_batch_ms": round(delta["indexer_sync_batch_seconds_sum"] / batches * 1000, 2)
        if batches
        else None,
    }


def brief(result: dict[str, Any]) -> str:
    if "indexed" not in result:
        return f"{result['failed']} failed, none indexed"
    i = result["indexed"]
    line = f"indexed p50 {i['p50_ms']} / p95 {i['p95_ms']} / p99 {i['p99_ms']} ms"
    if "searchable" in result:
        s = result["searchable"]
        line += f"; searchable (sample) p50 {s['p50_ms']} / p99 {s['p99_ms']} ms"
    return f"{line}; achieved {result['achieved_per_s']}/s; {result['failed']} failed"
