"""Scale-out: the same backlog of product events drained by 1, 2 and 3 indexer processes.

For each replica count: a fresh database (indexer schema) and stream prefix; that many
`python -m indexer serve` processes (hash embedder, service defaults otherwise) sharing
the `indexer` group, all ready before the backlog arrives; then `--backlog`
`catalog.product.created` events (one per product, full snapshot, as the catalog
publishes them) are XADDed in pipelined chunks of 1000 and the clock starts. Two moments:

- consumed: the group has delivered the last entry and nothing is pending, i.e. every
  event's fold is committed and acknowledged (XINFO GROUPS, every 50 ms);
- indexed: the sync queue is empty and the active collection holds every product.

events/s = backlog / time to that moment. The split between replicas (their own
`messaging_events_consumed_total`) and the CPU seconds of the indexers, their
PostgreSQL backends and Chroma are recorded, to say what bounds the rate. `--rounds N`
repeats 1, 2, 3 interleaved and reports medians; ratios are per round (same moment of
the machine), then the median.
"""

from __future__ import annotations

import contextlib
import statistics
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import psycopg
import redis.asyncio as aioredis

from bench.index.common import (
    ServiceProcess,
    delete_keys,
    fresh_database,
    processes,
    service_env,
    wait_until,
)
from bench.index.metrics import cpu_seconds, scrape
from bench.index.rebuild import events
from bench.machine import backend_pids
from marcus_contracts import STREAM_FIELD, StreamNames
from marcus_eventstore.migrations import libpq_dsn
from marcus_search import AliasStore
from marcus_search.chroma import connect, open_collection

GROUP = "indexer"


def total_cpu(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        # a backend gone meanwhile takes its time with it (pools rarely close one)
        with contextlib.suppress(FileNotFoundError, ProcessLookupError):
            total += cpu_seconds(pid)
    return total


async def run_replicas(
    replicas: int,
    payloads: list[str],
    args: Any,
    chroma_url: str,
    chroma_pid: int,
    log_dir: Path,
) -> dict[str, Any]:
    prefix = f"bench-scale-{uuid.uuid4().hex[:8]}:"
    backlog = len(payloads)
    with (
        fresh_database(args.database_url, ("indexer",), f"scale{replicas}") as database_url,
        processes() as procs,
    ):
        env = service_env(
            database_url,
            args.redis_url,
            prefix,
            CHROMA_URL=chroma_url,
            EMBEDDER="hash",
            DB_POOL_SIZE="4",  # a replica holds ~2 at a time; the server is shared
        )
        for i in range(replicas):
            procs.append(ServiceProcess("indexer", env, log_dir, f"scale-{replicas}-{i}"))
        for proc in procs:
            await proc.wait_ready()
        redis = aioredis.from_url(args.redis_url)
        stream = StreamNames(prefix).events("catalog")
        try:
            backends = backend_pids(database_url)
            cpu_before = {
                "indexers": total_cpu([p.pid for p in procs]),
                "postgres": total_cpu(backends),
                "chroma": cpu_seconds(chroma_pid),
            }
            started = time.monotonic()
            last_id = b""
            for start in range(0, backlog, 1000):
                async with redis.pipeline(transaction=False) as pipe:
                    for payload in payloads[start : start + 1000]:
                        pipe.xadd(stream, {STREAM_FIELD: payload})
                    last_id = (await pipe.execute())[-1]
            produced = time.monotonic() - started

            async def consumed() -> bool:
                for info in await redis.xinfo_groups(stream):
                    if info["name"] in (GROUP, GROUP.encode()):
                        return info["last-delivered-id"] == last_id and info["pending"] == 0
                return False

            await wait_until(consumed, args.timeout, "backlog consumed", 0.05)
            consumed_s = time.monotonic() - started
            await wait_until(
                lambda: _indexed(database_url, redis, prefix, chroma_url, backlog),
                args.timeout,
                "backlog indexed",
                0.05,
            )
            indexed_s = time.monotonic() - started
            backends = sorted(set(backends) | set(backend_pids(database_url)))
            cpu = {
                "indexers": total_cpu([p.pid for p in procs]) - cpu_before["indexers"],
                "postgres": total_cpu(backends) - cpu_before["postgres"],
                "chroma": cpu_seconds(chroma_pid) - cpu_before["chroma"],
            }
            split = []
            for proc in procs:
                async with httpx.AsyncClient(base_url=proc.url, timeout=10) as client:
                    numbers = await scrape(client, REPLICA_METRICS)
                split.append(replica_numbers(numbers))
        finally:
            await redis.aclose()
    await delete_keys(args.redis_url, prefix)  # the indexers are stopped: nothing re-adds any
    return {
        "replicas": replicas,
        "backlog": backlog,
        "xadd_s": round(produced, 3),
        "consumed_s": round(consumed_s, 2),
        "indexed_s": round(indexed_s, 2),
        "consumed_per_s": round(backlog / consumed_s, 1),
        "indexed_per_s": round(backlog / indexed_s, 1),
        "cpu_ms_per_event": {name: round(s / backlog * 1000, 3) for name, s in cpu.items()},
        "cores_busy": round(sum(cpu.values()) / indexed_s, 2),
        "per_replica": split,
    }


REPLICA_METRICS = (
    "messaging_events_consumed_total",
    "messaging_batch_size_count",
    "indexer_documents_synced_total",
    "indexer_sync_batch_seconds_count",
)


def replica_numbers(numbers: dict[str, float]) -> dict[str, float]:
    """What one replica did: events consumed in how many batch transactions, documents
    synced in how many sync batches (small batches cost more per event)."""
    consumed, batches = (
        numbers["messaging_events_consumed_total"],
        numbers["messaging_batch_size_count"],
    )
    synced, syncs = (
        numbers["indexer_documents_synced_total"],
        numbers["indexer_sync_batch_seconds_count"],
    )
    return {
        "consumed": int(consumed),
        "consume_batches": int(batches),
        "events_per_batch": round(consumed / batches, 1) if batches else 0.0,
        "synced": int(synced),
        "sync_batches": int(syncs),
        "documents_per_sync_batch": round(synced / syncs, 1) if syncs else 0.0,
    }


async def _indexed(
    database_url: str, redis: aioredis.Redis, prefix: str, chroma_url: str, backlog: int
) -> bool:
    with psycopg.connect(libpq_dsn(database_url)) as conn:
        row = conn.execute("SELECT count(*) FROM indexer.sync_queue").fetchone()
    if not row or row[0]:
        return False
    active = await AliasStore(redis, prefix).read()
    if active is None:
        return False
    collection = await open_collection(await connect(chroma_url), active.collection)
    return await collection.count() == backlog


def summarise(rounds: list[dict[int, dict[str, Any]]]) -> dict[str, Any]:
    """Medians per replica count, and each count's ratio to 1 replica (median of the
    per-round ratios)."""
    counts = sorted(rounds[0])
    out: dict[str, Any] = {"medians": [], "ratios_vs_1": {}}
    for n in counts:
        rows = [r[n] for r in rounds]
        out["medians"].append(
            {
                "replicas": n,
                "consumed_per_s": statistics.median(r["consumed_per_s"] for r in rows),
                "indexed_per_s": statistics.median(r["indexed_per_s"] for r in rows),
                "cpu_ms_per_event": {
                    part: statistics.median(r["cpu_ms_per_event"][part] for r in rows)
                    for part in rows[0]["cpu_ms_per_event"]
                },
                "cores_busy": statistics.median(r["cores_busy"] for r in rows),
            }
        )
    if 1 in counts:
        for n in counts:
            if n == 1:
                continue
            out["ratios_vs_1"][str(n)] = {
                key: round(statistics.median(r[n][key] / r[1][key] for r in rounds), 3)
                for key in ("consumed_per_s", "indexed_per_s")
            }
    return out


async def run(args: Any, chroma_url: str, chroma_pid: int, log_dir: Path) -> dict[str, Any]:
    payloads = [envelope.to_json() for envelope, _ in events(args.backlog)]
    rounds: list[dict[int, dict[str, Any]]] = []
    for number in range(args.rounds):
        measured = {}
        for replicas in args.replicas:
            row = await run_replicas(replicas, payloads, args, chroma_url, chroma_pid, log_dir)
            measured[replicas] = row
            print(
                f"scale-out round {number + 1}: {replicas} indexer(s): "
                f"{row['consumed_per_s']} events/s consumed, {row['indexed_per_s']} indexed/s",
                flush=True,
            )
        rounds.append(measured)
    return {
        "backlog": args.backlog,
        "rounds": [[r[n] for n in args.replicas] for r in rounds],
        **summarise(rounds),
    }
