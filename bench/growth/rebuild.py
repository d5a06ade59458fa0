"""Rebuild time at a fixed catalog as its history grows, by replay and from a snapshot.

One catalog database and one `events.catalog` hold the history of `bench.growth.history`;
after each extension (1, 10, 100 changes per product) the projections are rewritten and
the index is rebuilt once per source with `indexer.cli.reindex` in this process (the
command `python -m indexer reindex` runs), hash embedder:

- replay: `events.catalog` folded from its first entry;
- snapshot: a running catalog process (`python -m catalog serve`, its group on
  `events.indexer`) answers the indexer's request from its projections; the indexer
  catches up on `events.catalog` after the snapshot's position.

Also the indexer's cost per entry of `events.catalog` it reads (`replay.Fold.add`:
decode, and fold or skip), per kind of entry, on a sample of the generated stream.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import redis as sync_redis

from bench.growth.check import check_projections
from bench.growth.history import STOCK_TYPES, History
from bench.machine import ROOT
from bench.services import ServiceProcess, fresh_database, processes, service_env
from marcus_contracts import STREAM_FIELD, StreamNames
from marcus_eventstore.migrations import libpq_dsn

SOURCES = ("replay", "snapshot")
SNAPSHOT_LOG = re.compile(r"snapshot \S+: (\d+) products .* in ([0-9.]+)s")


class SnapshotTimes(logging.Handler):
    """The indexer's own report of how long the catalog took to answer (request ->
    complete snapshot read), from its `marcus.indexer.snapshot` log line."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.seconds: list[float] = []

    def emit(self, record: logging.LogRecord) -> None:
        match = SNAPSHOT_LOG.search(record.getMessage())
        if match:
            self.seconds.append(float(match.group(2)))

    def __enter__(self) -> SnapshotTimes:
        logger = logging.getLogger("marcus.indexer.snapshot")
        logger.setLevel(logging.INFO)
        logger.addHandler(self)
        return self

    def __exit__(self, *exc: object) -> None:
        logging.getLogger("marcus.indexer.snapshot").removeHandler(self)


def sources_available() -> tuple[str, ...]:
    """`snapshot` only once the indexer has the setting (`REBUILD_SOURCE`)."""
    from indexer.settings import IndexerSettings

    return SOURCES if "rebuild_source" in IndexerSettings.model_fields else ("replay",)


async def rebuild(
    source: str, index_url: str, redis_url: str, prefix: str, chroma_url: str, products: int
) -> dict[str, Any]:
    from indexer.cli import reindex
    from indexer.settings import IndexerSettings

    has_source = "rebuild_source" in IndexerSettings.model_fields
    options: dict[str, Any] = {"rebuild_source": source} if has_source else {}
    settings = IndexerSettings(
        database_url=index_url,
        redis_url=redis_url,
        stream_prefix=prefix,
        chroma_url=chroma_url,
        index_namespace=prefix,
        embedder="hash",
        consumer_enabled=False,
        **options,
    )
    started = time.perf_counter()
    with SnapshotTimes() as answered:
        run = await reindex(settings)
    wall = time.perf_counter() - started
    if run.status != "done" or run.documents != products:
        raise RuntimeError(f"{source} rebuild ended {run.status} with {run.documents}: {run}")
    out = {
        "source": source,
        "seconds": round(float(run.seconds or 0), 2),
        "wall_seconds": round(wall, 2),
        "events_read": run.events_replayed,
        "documents": run.documents,
    }
    if answered.seconds:
        out["snapshot_answered_seconds"] = round(answered.seconds[-1], 2)
    return out


def fold_cost(redis_url: str, stream: str, sample: int, repeat: int = 3) -> dict[str, Any]:
    """µs per entry of `Fold.add` over the newest `sample` entries, per kind and mixed."""
    from indexer.replay import Fold

    client = sync_redis.Redis.from_url(redis_url)
    try:
        entries: list[Any] = []
        last = "+"
        while len(entries) < sample:
            page: Any = client.xrevrange(
                stream, max=last, min="-", count=min(1000, sample - len(entries))
            )
            if not page:
                break
            entries += page
            last = "(" + page[-1][0].decode()
    finally:
        client.close()
    entries.reverse()
    by_kind: dict[str, list[Any]] = defaultdict(list)
    for entry in entries:
        kind = json.loads(entry[1][STREAM_FIELD.encode()])["type"]
        by_kind[_kind(kind)].append(entry)

    def per_entry(chunk: list[Any]) -> float:
        best = float("inf")
        for _ in range(repeat):
            fold = Fold()
            started = time.perf_counter()
            for start in range(0, len(chunk), 1000):
                fold.add(chunk[start : start + 1000])
            best = min(best, time.perf_counter() - started)
        return round(1e6 * best / len(chunk), 2)

    return {
        "entries": len(entries),
        "mixed_us_per_entry": per_entry(entries),
        "by_kind": {
            kind: {"entries": len(chunk), "us_per_entry": per_entry(chunk)}
            for kind, chunk in sorted(by_kind.items())
        },
    }


def _kind(event_type: str) -> str:
    if event_type in STOCK_TYPES:
        return "stock (decoded, folded)"
    if event_type.startswith("catalog.product."):
        return "product snapshot (decoded, folded)"
    return "other (read, skipped)"


@contextmanager
def chroma_server() -> Iterator[str]:
    """A Chroma server of its own (`chroma run`, temporary folder), removed afterwards."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from tests.support.chroma import ChromaProcess

    chroma = ChromaProcess()
    chroma.start()
    try:
        yield chroma.url
    finally:
        chroma.remove()


async def run(
    products: int,
    lengths: list[int],
    server_url: str,
    redis_url: str,
    log_dir: Path,
    fold_sample: int,
    rounds: int = 1,
) -> dict[str, Any]:
    """Every source `rounds` times at each length, the sources taking turns; the fastest
    round is the figure (the least disturbed by the machine's other work), every round is
    in the result. Each length gets a fresh Chroma server and indexer database, so the
    lengths differ in their history only (not in what earlier rebuilds left behind)."""
    sources = sources_available()
    prefix = f"growth-{time.time_ns() % 10**8:08d}:"
    stream = StreamNames(prefix).events("catalog")
    rows: list[dict[str, Any]] = []
    with (
        fresh_database(server_url, ("catalog",), "growth_catalog") as catalog_url,
        processes() as procs,
    ):
        history = History(products, libpq_dsn(catalog_url), redis_url, stream)
        try:
            started = time.perf_counter()
            history.create()
            for length in sorted(lengths):
                history.extend(length - history.rounds)
                history.write_projections()
                generated_s = time.perf_counter() - started
                if "snapshot" in sources and not procs:
                    env = service_env(catalog_url, redis_url, prefix, READ_CACHE="false")
                    procs.append(ServiceProcess("catalog", env, log_dir, "growth-catalog"))
                    await procs[0].wait_ready(180)
                row: dict[str, Any] = {
                    "changes_per_product": length,
                    "entries": history.entries(),
                    "stock_share": round(history.stock_share(), 4),
                    "types": dict(history.types.most_common()),
                    "generated_seconds": round(generated_s, 1),
                }
                runs: dict[str, list[dict[str, Any]]] = {source: [] for source in sources}
                with (
                    fresh_database(server_url, ("indexer",), "growth_index") as index_url,
                    chroma_server() as chroma_url,
                ):
                    for _ in range(rounds):
                        for source in sources:
                            runs[source].append(
                                await rebuild(
                                    source, index_url, redis_url, prefix, chroma_url, products
                                )
                            )
                for source, measured in runs.items():
                    row[source] = min(measured, key=lambda r: r["seconds"])
                    row[source]["every_round_seconds"] = [r["seconds"] for r in measured]
                print(
                    f"growth rebuild at {length} change(s)/product ({row['entries']:,} entries):"
                    + "".join(f" {s} {row[s]['seconds']}s" for s in sources),
                    flush=True,
                )
                rows.append(row)
                started = time.perf_counter()
            sample = [p.id for p in history.products[:: max(1, products // 20)]]
            check = await check_projections(
                server_url, catalog_url, sample, [c.id for c in history.categories]
            )
            if check["differences"]:
                raise RuntimeError(f"bulk projections differ from the projector's: {check}")
            fold = fold_cost(redis_url, stream, fold_sample)
        finally:
            history.close()
            await _delete(redis_url, prefix)
    return {
        "products": products,
        "sources": list(sources),
        "rounds": rounds,
        "lengths": rows,
        "projection_check": check,
        "fold": fold,
        **_goal(rows, sources),
    }


def _goal(rows: list[dict[str, Any]], sources: tuple[str, ...]) -> dict[str, Any]:
    """Longest history over shortest, per source (snapshot's goal: within 1.2x)."""
    out: dict[str, Any] = {}
    if len(rows) < 2:
        return out
    first, last = rows[0], rows[-1]
    out["history_ratio"] = round(last["entries"] / first["entries"], 1)
    for source in sources:
        out[f"{source}_growth"] = round(last[source]["seconds"] / first[source]["seconds"], 3)
    return out


async def _delete(redis_url: str, prefix: str) -> None:
    from bench.services import delete_keys

    await delete_keys(redis_url, prefix)
