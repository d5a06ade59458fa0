"""`make bench-bus`: events/s of the project's event path next to raw Redis and Celery.

The issue's targets: the bus at >= 50% of raw Redis, and >= 10x Celery. Every path uses
the same ~760-byte CloudEvents payload (a `catalog.product.updated` v3 snapshot).

As in production, separate processes (`bench.bus_processes`; the headline ratio):

- raw_split: a producer process does redis-py pipelined XADD (batches of `--batch`), a
  consumer process XREADGROUP + XACK: the ceiling of the bus.
- full_split: the outbox is filled beforehand; a relay process publishes it, a consumer
  process runs the consumer runtime (FastStream, a batch per ledger transaction in
  PostgreSQL, one XACK after the commit) with a no-op handler; timed until every event
  is committed and acknowledged.
- full_append_split: the producing process appends the events (`--batch` per
  transaction) while its own relay publishes them: first append -> last commit + XACK.

In this one process and event loop (CPU per event is this process's alone):

- raw, relay (outbox -> relay -> raw consumer), full (-> consumer runtime), consumer
  (the runtime alone on a stream filled beforehand), and append (one event per
  transaction, for scale).

Celery (`bench.bus_celery`, after the bus rounds): the same no-op work as tasks on the
same Redis, per worker pool; the ratio is full_split's events/s over its tasks/s.

The bench's own sample envelopes are frozen out of the garbage collector (`gc.freeze`)
before anything is timed: a service holds no such heap, and letting every GC pass walk
it taxed whichever path allocates most (the runtime) by ~15%.

`--profile quick|full` sets the sizes (explicit options win). Results go to
bench/results/bus-<timestamp>.json (or `--out`) with the machine, versions and command.
Ratios are measured within a round, and `--rounds N` interleaves N rounds and reports
medians (every sample is in the JSON): the machine is noisy, ratios and CPU per event
less so.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import logging
import os
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import redis.asyncio as aioredis
from sqlalchemy import MetaData, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, create_async_engine

from bench.bus_processes import Job, Split, run_split
from bench.bus_workload import (
    RuntimeUnderTest,
    produce,
    raw_consume,
    sample_envelopes,
    sample_payloads,
)
from bench.machine import add_server_arguments, command, machine, result_path
from marcus_contracts import Envelope, StreamNames
from marcus_eventstore import EventStore, OutboxRelay, RelaySettings, event_store_tables
from marcus_messaging import create_ledger_tables

SCHEMA = f"bench_bus_{os.getpid()}"
"""Per run: two runs at once (or `make bench` beside a developer's run) must not share it."""
RESULTS = Path(__file__).parent / "results"


@dataclass(frozen=True)
class Measured:
    events_per_s: float
    cpu_us_per_event: float
    """CPU time of this process (all tasks in it) per event."""


async def measure(total: int, work: Callable[[], Awaitable[None]]) -> Measured:
    started, cpu = time.perf_counter(), time.process_time()
    await work()
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    return Measured(total / elapsed, cpu / total * 1e6)


async def bench_raw(
    redis: aioredis.Redis, stream: str, payloads: list[str], batch: int
) -> Measured:
    await redis.xgroup_create(stream, "raw", id="0", mkstream=True)

    async def work() -> None:
        await asyncio.gather(
            produce(redis, stream, payloads, batch),
            raw_consume(redis, stream, "raw", len(payloads), batch),
        )

    return await measure(len(payloads), work)


async def fill_outbox(engine: AsyncEngine, store: EventStore, envelopes: list[Envelope]) -> None:
    async with AsyncSession(engine) as session, session.begin():
        for start in range(0, len(envelopes), 1000):
            await store.append(session, envelopes[start : start + 1000])


async def bench_append(engine: AsyncEngine, store: EventStore, envelopes: list[Envelope]) -> float:
    started = time.perf_counter()
    for envelope in envelopes:
        async with AsyncSession(engine) as session, session.begin():
            await store.append(session, [envelope])
    return len(envelopes) / (time.perf_counter() - started)


def relay_for(dsn: str, stream: str, redis: aioredis.Redis, batch: int) -> OutboxRelay:
    return OutboxRelay(
        RelaySettings(dsn=dsn, schema=SCHEMA, stream=stream, batch_size=batch, poll_interval=0.05),
        redis,
    )


async def bench_relay(
    dsn: str, redis: aioredis.Redis, stream: str, total: int, batch: int
) -> Measured:
    await redis.xgroup_create(stream, "raw", id="0", mkstream=True)
    stop = asyncio.Event()
    relay = relay_for(dsn, stream, redis, batch)

    async def work() -> None:
        task = asyncio.create_task(relay.run(stop))
        await raw_consume(redis, stream, "raw", total, batch)
        stop.set()
        await task

    return await measure(total, work)


async def bench_full(
    dsn: str, engine: AsyncEngine, redis_url: str, prefix: str, total: int, batch: int
) -> Measured:
    redis = aioredis.from_url(redis_url)
    names = StreamNames(prefix)
    runtime = RuntimeUnderTest(engine, redis_url, names, total, batch, schema=SCHEMA)
    stop = asyncio.Event()
    relay = relay_for(dsn, names.events("catalog"), redis, batch)

    async def work() -> None:
        async with runtime.consumer.running():
            task = asyncio.create_task(relay.run(stop))
            await runtime.consumed(redis)
            stop.set()
            await task

    try:
        return await measure(total, work)
    finally:
        await redis.aclose()


async def bench_consumer(
    engine: AsyncEngine, redis_url: str, prefix: str, payloads: list[str], batch: int
) -> Measured:
    redis = aioredis.from_url(redis_url)
    names = StreamNames(prefix)
    await produce(redis, names.events("catalog"), payloads, 1000)
    runtime = RuntimeUnderTest(engine, redis_url, names, len(payloads), batch, schema=SCHEMA)

    async def work() -> None:
        async with runtime.consumer.running():
            await runtime.consumed(redis)

    try:
        return await measure(len(payloads), work)
    finally:
        await redis.aclose()


async def reset_schema(engine: AsyncEngine) -> EventStore:
    metadata = MetaData()
    tables = event_store_tables(metadata, SCHEMA)
    async with engine.begin() as conn:
        await conn.execute(text(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE"))
        await conn.execute(text(f"CREATE SCHEMA {SCHEMA}"))
        await conn.run_sync(metadata.create_all)
    await create_ledger_tables(engine, SCHEMA)
    return EventStore(tables)


IN_PROCESS = ("raw", "relay", "full", "consumer")
SPLIT = ("raw_split", "full_split", "full_append_split")
PATHS = IN_PROCESS + SPLIT
REFERENCE = {path: "raw" for path in IN_PROCESS} | {path: "raw_split" for path in SPLIT}

PROFILES: dict[str, dict[str, Any]] = {
    "quick": {
        "events": 5_000,
        "rounds": 1,
        "celery_tasks": 2_000,
        "celery_pools": ["prefork:2"],
    },
    "full": {
        "events": 20_000,
        "rounds": 3,
        "celery_tasks": 5_000,
        "celery_pools": ["prefork:2", "solo"],
    },
}


@dataclass(frozen=True)
class Round:
    measured: dict[str, Measured]
    roles: dict[str, dict[str, float]]
    servers: dict[str, dict[str, float]]
    """CPU µs per event of the PostgreSQL and Redis servers, per split path."""
    """CPU µs per event of each worker process of the split paths."""
    batches: dict[str, int]
    """Batch transactions of the consumer runtime in the split paths."""


async def one_round(
    args: argparse.Namespace,
    engine: AsyncEngine,
    redis: aioredis.Redis,
    prefix: str,
    envelopes: list[Envelope],
    payloads: list[str],
) -> Round:
    """Every streamed path once, each on fresh streams and a fresh schema."""
    dsn = make_url(args.database_url).set(drivername="postgresql")
    libpq = dsn.render_as_string(hide_password=False)
    measured = {"raw": await bench_raw(redis, f"{prefix}raw", payloads, args.batch)}

    store = await reset_schema(engine)
    await fill_outbox(engine, store, envelopes)
    measured["relay"] = await bench_relay(libpq, redis, f"{prefix}relay", args.events, args.batch)

    store = await reset_schema(engine)
    await fill_outbox(engine, store, envelopes)
    measured["full"] = await bench_full(
        libpq, engine, args.redis_url, prefix, args.events, args.batch
    )

    await reset_schema(engine)
    measured["consumer"] = await bench_consumer(
        engine, args.redis_url, f"{prefix}consumer-", payloads, args.batch
    )

    splits: dict[str, Split] = {}
    common = {
        "total": args.events,
        "batch": args.batch,
        "redis_url": args.redis_url,
        "database_url": args.database_url,
        "dsn": libpq,
        "schema": SCHEMA,
    }
    stream = f"{prefix}raw-split"
    await redis.xgroup_create(stream, "raw", id="0", mkstream=True)
    raw = {**common, "stream": stream, "group": "raw"}
    split = await asyncio.to_thread(
        run_split, [Job("raw_producer", raw), Job("raw_consumer", raw)], args.loop
    )
    splits["raw_split"] = split

    store = await reset_schema(engine)
    await fill_outbox(engine, store, envelopes)
    names = StreamNames(f"{prefix}split-")
    bus = {**common, "prefix": names.prefix, "stream": names.events("catalog")}
    split = await asyncio.to_thread(
        run_split, [Job("relay", bus), Job("runtime_consumer", bus)], args.loop
    )
    splits["full_split"] = split

    await reset_schema(engine)
    names = StreamNames(f"{prefix}append-")
    bus = {**common, "prefix": names.prefix, "stream": names.events("catalog")}
    split = await asyncio.to_thread(
        run_split, [Job("appending_relay", bus), Job("runtime_consumer", bus)], args.loop
    )
    splits["full_append_split"] = split
    for path, split in splits.items():
        measured[path] = Measured(split.events_per_s, split.total_cpu_us_per_event)
    return Round(
        measured,
        roles={path: split.cpu_us_per_event for path, split in splits.items()},
        servers={path: split.server_cpu_us_per_event for path, split in splits.items()},
        batches={path: split.batches for path, split in splits.items()},
    )


async def run(args: argparse.Namespace) -> dict[str, Any]:
    engine = create_async_engine(args.database_url, pool_size=5)
    redis = aioredis.from_url(args.redis_url)
    server = await redis.info("server")
    prefix = f"bench-{uuid.uuid4().hex[:8]}:"
    results: dict[str, Any] = {
        "events": args.events,
        "batch": args.batch,
        "loop": args.loop,
        "rounds": args.rounds,
    }
    rounds: list[Round] = []
    try:
        envelopes = sample_envelopes(args.events)
        payloads = [e.to_json() for e in envelopes]
        results["payload_bytes"] = len(payloads[0])
        gc.collect()
        gc.freeze()  # see the module docstring

        for number in range(args.rounds):
            rounds.append(
                await one_round(args, engine, redis, f"{prefix}{number}-", envelopes, payloads)
            )

        store = await reset_schema(engine)
        sample = envelopes[: min(2000, args.events)]
        results["append_events_per_s"] = await bench_append(engine, store, sample)
    finally:
        keys = [k async for k in redis.scan_iter(match=f"{prefix}*")]
        if keys:
            await redis.delete(*keys)
        async with engine.begin() as conn:
            await conn.execute(text(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE"))
        await engine.dispose()
        await redis.aclose()
    summarise(results, rounds)
    results["redis_version"] = server.get("redis_version")
    return results


def summarise(results: dict[str, Any], rounds: list[Round]) -> None:
    """Medians over the rounds; ratios are medians of each round's own ratio, so a slow
    moment of the machine hits a path and its reference together."""
    results["cpu_us_per_event"] = {}
    results["samples"] = {}
    for path in PATHS:
        rates = [r.measured[path].events_per_s for r in rounds]
        results[f"{path}_events_per_s"] = statistics.median(rates)
        results["cpu_us_per_event"][path] = statistics.median(
            r.measured[path].cpu_us_per_event for r in rounds
        )
        results["samples"][path] = rates
    for path in PATHS:
        reference = REFERENCE[path]
        if path == reference:
            continue
        results[f"{path}_ratio"] = statistics.median(
            r.measured[path].events_per_s / r.measured[reference].events_per_s for r in rounds
        )
    results["cpu_us_per_event_by_process"] = {
        path: {
            role: statistics.median(r.roles[path][role] for r in rounds)
            for role in rounds[0].roles[path]
        }
        for path in SPLIT
    }
    results["server_cpu_us_per_event"] = {
        path: {
            server: statistics.median(r.servers[path][server] for r in rounds)
            for server in rounds[0].servers[path]
        }
        for path in SPLIT
    }
    results["runtime_mean_batch"] = {
        path: statistics.median(results["events"] / r.batches[path] for r in rounds)
        for path in SPLIT
        if all(r.batches[path] for r in rounds)
    }


def run_celery(args: argparse.Namespace, results: dict[str, Any]) -> None:
    """Celery on the same Redis, after the bus rounds (it is ten times slower at least, so
    the machine's moment matters less); the ratio is against the split full path."""
    from bench.bus_celery import bench_celery, parse_pool

    payloads = sample_payloads(args.celery_tasks)
    gc.collect()
    gc.freeze()
    celery = [
        bench_celery(args.redis_url, parse_pool(pool), payloads, args.rounds)
        for pool in args.celery_pools
    ]
    for entry in celery:
        entry["bus_ratio"] = results["full_split_events_per_s"] / entry["tasks_per_s"]
    results["celery"] = celery


def ensure_database(database_url: str) -> None:
    url = make_url(database_url)
    admin = url.set(drivername="postgresql", database="postgres").render_as_string(
        hide_password=False
    )
    with psycopg.connect(admin, autocommit=True) as conn:
        exists = conn.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", [url.database]
        ).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{url.database}"')


def quiet_logs() -> None:
    """Only warnings: the paths under test log nothing per event, and the bench prints
    its own table."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    for name in ("marcus", "faststream"):
        logging.getLogger(name).setLevel(logging.WARNING)


def run_loop(args: argparse.Namespace) -> dict[str, Any]:
    if args.loop == "uvloop":
        import uvloop

        return uvloop.run(run(args))
    return asyncio.run(run(args))


def print_table(results: dict[str, Any], out: Path) -> None:
    r = results
    cpu = r["cpu_us_per_event"]
    print(
        f"events: {r['events']}  payload: {r['payload_bytes']} B  batch: {r['batch']}"
        f"  loop: {r['loop']}  rounds: {r['rounds']} (medians)"
    )
    print(f"{'path':<58}{'events/s':>10}{'vs raw':>8}{'CPU us/ev':>11}")
    rows = [
        ("separate processes: raw producer | raw consumer", "raw_split"),
        ("separate processes: relay | consumer runtime", "full_split"),
        ("separate processes: append + relay | consumer runtime", "full_append_split"),
        ("one process: raw redis-py XADD + XREADGROUP/XACK", "raw"),
        ("one process: outbox -> relay -> raw consumer", "relay"),
        ("one process: outbox -> relay -> consumer runtime", "full"),
        ("one process: stream -> consumer runtime (no relay)", "consumer"),
    ]
    for label, path in rows:
        ratio = r.get(f"{path}_ratio", 1.0)
        print(f"{label:<58}{r[f'{path}_events_per_s']:>10,.0f}{ratio:>8.2f}{cpu[path]:>11.1f}")
    for path, roles in r["cpu_us_per_event_by_process"].items():
        split = ", ".join(f"{role} {us:.1f}" for role, us in roles.items())
        servers = r["server_cpu_us_per_event"][path]
        total = sum(roles.values()) + sum(servers.values())
        split += "".join(f", {server} server {us:.1f}" for server, us in servers.items())
        print(f"  {path} CPU us/event by process: {split}; all {total:.1f}")
    print(f"{'event store append (1 event per transaction)':<58}{r['append_events_per_s']:>10,.0f}")
    for entry in r.get("celery", []):
        label = f"Celery {entry['pool']}: {entry['tasks']} no-op tasks"
        cpu_task = sum(entry["cpu_us_per_task"].values())
        print(
            f"{label:<58}{entry['tasks_per_s']:>10,.0f}{'':>8}{cpu_task:>11.1f}"
            f"   bus/Celery {entry['bus_ratio']:.1f}x"
        )
    print(f"written to {out}")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--profile",
        choices=sorted(PROFILES),
        default="full",
        help="quick: 5k events, 1 round, Celery prefork only; full: 20k events, 3 rounds, "
        "Celery prefork and solo (explicit options override it)",
    )
    parser.add_argument("--events", type=int)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument(
        "--rounds",
        type=int,
        help="run every streamed path this many times, interleaved; report medians",
    )
    parser.add_argument("--celery-tasks", type=int, help="tasks per Celery round")
    parser.add_argument(
        "--celery-pools",
        nargs="*",
        help="worker pools, e.g. prefork:2 solo threads:2; 'none' (or no value) skips Celery",
    )
    parser.add_argument(
        "--loop",
        choices=("asyncio", "uvloop"),
        default="uvloop",
        help="event loop of every process (uvicorn[standard] runs the services on uvloop)",
    )
    add_server_arguments(parser, database="marcus_bench")
    args = parser.parse_args()
    for name, value in PROFILES[args.profile].items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    args.celery_pools = [pool for pool in args.celery_pools if pool != "none"]
    return args


def main() -> None:
    args = parse_args()
    quiet_logs()
    ensure_database(args.database_url)
    results = run_loop(args)
    if args.celery_pools:
        run_celery(args, results)
    report = {
        "benchmark": "bus",
        "time": datetime.now(UTC).isoformat(),
        "command": command("bench.bus"),
        "machine": machine(
            args.database_url, args.redis_url, ("hiredis", "celery", "kombu", "uvloop")
        ),
        "results": results,
    }
    out = result_path("bus", args.out)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print_table(results, out)


if __name__ == "__main__":
    main()
