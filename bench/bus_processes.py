"""The bus paths with producer and consumer in separate processes, as in production.

In production the relay runs in the producing service's process and the consumer runtime
in another service's process; on two cores they overlap. Each path here starts two
worker processes (spawned: nothing inherited), lets both set up (connections, groups,
the runtime's broker), then starts them together and times from the go signal to the
consumer's last commit + XACK:

- raw: a producer process XADDs pipelined batches; a consumer process XREADGROUPs and
  XACKs (redis-py, the same client and parser as the bus).
- full: the outbox is filled beforehand; a relay process (`OutboxRelay.run`, leader lock,
  LISTEN/NOTIFY) publishes it; a consumer process runs the consumer runtime with a no-op
  handler. End: every event committed in the ledger and acknowledged.
- full+append: as full, but nothing is in the outbox beforehand: the producing process
  appends the events to the event store (`--batch` events per transaction, each commit
  NOTIFYing its relay) while its own relay publishes them, like a service under load.

Times are CLOCK_MONOTONIC, which all processes share. CPU is each worker's own CPU time
over its timed window (the relay's includes a few idle polls after its last batch), and
the PostgreSQL and Redis servers' CPU over the same window is sampled (`ServerCpu`).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import multiprocessing as mp
import queue
import time
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass
from multiprocessing.synchronize import Event as MpEvent
from typing import Any

import psutil
import redis.asyncio as aioredis
from prometheus_client import REGISTRY
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine

from bench.bus_workload import (
    GROUP,
    RuntimeUnderTest,
    produce,
    raw_consume,
    sample_envelopes,
    sample_payloads,
)
from bench.cpu_sampler import CpuSampler
from marcus_contracts import StreamNames
from marcus_eventstore import EventStore, OutboxRelay, RelaySettings, event_store_tables

READY_TIMEOUT_S = 120.0
RUN_TIMEOUT_S = 600.0


@dataclass(frozen=True)
class Split:
    """One path's end-to-end rate and CPU per event, by worker role."""

    events_per_s: float
    cpu_us_per_event: dict[str, float]
    batches: int
    server_cpu_us_per_event: dict[str, float]
    """PostgreSQL's and Redis's processes over the same window (`ServerCpu`)."""

    @property
    def total_cpu_us_per_event(self) -> float:
        return sum(self.cpu_us_per_event.values())


@dataclass(frozen=True)
class Job:
    """What one worker process runs: `role` names a coroutine in `ROLES`."""

    role: str
    config: dict[str, Any]


@dataclass(frozen=True)
class Report:
    role: str
    finished: float
    """time.monotonic() when its part was done (the consumer: last commit + XACK)."""
    cpu_s: float
    batches: int = 0
    """The consumer runtime's batch transactions (how well the batches filled)."""


def run_split(jobs: list[Job], loop: str) -> Split:
    """Start the workers, wait until all are set up, start them together, and time until
    the last one is done (the consumer; producers finish earlier)."""
    ctx = mp.get_context("spawn")
    ready = [ctx.Event() for _ in jobs]
    go = ctx.Event()
    reports: mp.Queue[Report | str] = ctx.Queue()
    workers = [
        ctx.Process(target=_worker, args=(job, loop, flag, go, reports), daemon=True)
        for job, flag in zip(jobs, ready, strict=True)
    ]
    for worker in workers:
        worker.start()
    try:
        deadline = time.monotonic() + READY_TIMEOUT_S
        for job, flag, worker in zip(jobs, ready, workers, strict=True):
            while not flag.wait(0.5):
                if not worker.is_alive() or time.monotonic() > deadline:
                    raise RuntimeError(f"{job.role} worker did not get ready")
        servers = ServerCpu()
        servers.start()
        started = time.monotonic()
        go.set()
        got: list[Report] = []
        deadline = started + RUN_TIMEOUT_S
        while len(got) < len(jobs):
            try:
                report = reports.get(timeout=max(0.1, deadline - time.monotonic()))
            except queue.Empty:
                raise RuntimeError("bench workers did not finish in time") from None
            if isinstance(report, str):
                raise RuntimeError(f"bench worker failed: {report}")
            got.append(report)
        server_cpu = servers.stop()
    finally:
        for worker in workers:
            worker.join(timeout=30)
            if worker.is_alive():
                worker.kill()
    total = jobs[-1].config["total"]
    elapsed = max(report.finished for report in got) - started
    return Split(
        events_per_s=total / elapsed,
        cpu_us_per_event={report.role: report.cpu_s / total * 1e6 for report in got},
        batches=sum(report.batches for report in got),
        server_cpu_us_per_event={name: cpu / total * 1e6 for name, cpu in server_cpu.items()},
    )


class ServerCpu(CpuSampler):
    """CPU seconds of the PostgreSQL and Redis server processes while a path runs: the
    bus's own work in PostgreSQL (outbox, ledger) counts as much as its Python. Backends
    come and go with the workers' connections (`CpuSampler` samples them every 20 ms)."""

    NAMES = {"postgres": "postgres", "redis-server": "redis"}

    def stop(self) -> dict[str, float]:
        return dict.fromkeys(self.NAMES.values(), 0.0) | super().stop()

    def _processes(self) -> Iterator[tuple[str, psutil.Process]]:
        for process in psutil.process_iter(["name"]):
            name = self.NAMES.get(process.info["name"])
            if name is not None:
                yield name, process


def _worker(job: Job, loop: str, ready: MpEvent, go: MpEvent, reports: mp.Queue[Any]) -> None:
    logging.basicConfig(level=logging.WARNING)
    for name in ("marcus", "faststream"):
        logging.getLogger(name).setLevel(logging.WARNING)
    try:
        coroutine = ROLES[job.role](job.config, ready, go)
        if loop == "uvloop":
            import uvloop

            report = uvloop.run(coroutine)
        else:
            report = asyncio.run(coroutine)
        reports.put(report)
    except BaseException as exc:
        reports.put(f"{job.role}: {type(exc).__name__}: {exc}")
        raise


async def _start_when_told(ready: MpEvent, go: MpEvent) -> float:
    """Signal ready, wait for go; returns the CPU time at the start."""
    ready.set()
    await asyncio.to_thread(go.wait)
    return time.process_time()


def _report(role: str, cpu_started: float) -> Report:
    return Report(role, time.monotonic(), time.process_time() - cpu_started)


# --------------------------------------------------------------------- the workers


async def raw_producer(config: dict[str, Any], ready: MpEvent, go: MpEvent) -> Report:
    redis = aioredis.from_url(config["redis_url"])
    payloads = sample_payloads(config["total"])
    await redis.ping()
    cpu = await _start_when_told(ready, go)
    await produce(redis, config["stream"], payloads, config["batch"])
    report = _report("producer", cpu)
    await redis.aclose()
    return report


async def raw_consumer(config: dict[str, Any], ready: MpEvent, go: MpEvent) -> Report:
    redis = aioredis.from_url(config["redis_url"])
    await redis.ping()
    cpu = await _start_when_told(ready, go)
    await raw_consume(redis, config["stream"], config["group"], config["total"], config["batch"])
    report = _report("consumer", cpu)
    await redis.aclose()
    return report


async def relay_worker(config: dict[str, Any], ready: MpEvent, go: MpEvent) -> Report:
    """The relay alone over a filled outbox; stops when the outbox is empty."""
    redis = aioredis.from_url(config["redis_url"])
    relay = OutboxRelay(_relay_settings(config), redis)
    await redis.ping()
    cpu = await _start_when_told(ready, go)
    stop = asyncio.Event()
    task = asyncio.create_task(relay.run(stop))
    await _outbox_drained(config)
    report = _report("relay", cpu)
    stop.set()
    await task
    await redis.aclose()
    return report


async def appending_relay(config: dict[str, Any], ready: MpEvent, go: MpEvent) -> Report:
    """A producing service: appends events (a batch per transaction) while its relay
    publishes them."""
    redis = aioredis.from_url(config["redis_url"])
    engine = create_async_engine(config["database_url"], pool_size=2)
    store = EventStore(event_store_tables(_metadata(), config["schema"]))
    envelopes = sample_envelopes(config["total"])
    relay = OutboxRelay(_relay_settings(config), redis)
    stop = asyncio.Event()
    task = asyncio.create_task(relay.run(stop))
    await _until(lambda: relay.is_leader)  # it LISTENs right after taking the lock
    cpu = await _start_when_told(ready, go)
    batch = config["batch"]
    for start in range(0, len(envelopes), batch):
        async with AsyncSession(engine) as session, session.begin():
            await store.append(session, envelopes[start : start + batch])
    await _outbox_drained(config)
    report = _report("producer+relay", cpu)
    stop.set()
    await task
    await engine.dispose()
    await redis.aclose()
    return report


async def runtime_consumer(config: dict[str, Any], ready: MpEvent, go: MpEvent) -> Report:
    engine = create_async_engine(config["database_url"], pool_size=5)
    redis = aioredis.from_url(config["redis_url"])
    runtime = RuntimeUnderTest(
        engine,
        config["redis_url"],
        StreamNames(config["prefix"]),
        config["total"],
        config["batch"],
        schema=config["schema"],
        freeze_heap=config.get("freeze_heap", True),
    )
    async with runtime.consumer.running():
        cpu = await _start_when_told(ready, go)
        await runtime.consumed(redis)
        report = _report("consumer", cpu)
    batches = REGISTRY.get_sample_value(
        "messaging_batch_size_count", {"group": GROUP, "stream": config["stream"]}
    )
    report = dataclasses.replace(report, batches=int(batches or 0))
    await engine.dispose()
    await redis.aclose()
    return report


ROLES: dict[str, Callable[[dict[str, Any], MpEvent, MpEvent], Coroutine[Any, Any, Report]]] = {
    "raw_producer": raw_producer,
    "raw_consumer": raw_consumer,
    "relay": relay_worker,
    "appending_relay": appending_relay,
    "runtime_consumer": runtime_consumer,
}


def _relay_settings(config: dict[str, Any]) -> RelaySettings:
    return RelaySettings(
        dsn=config["dsn"],
        schema=config["schema"],
        stream=config["stream"],
        batch_size=config["batch"],
        poll_interval=0.05,
    )


def _metadata() -> Any:
    from sqlalchemy import MetaData

    return MetaData()


async def _outbox_drained(config: dict[str, Any]) -> None:
    """Until the relay published all `total` events: the stream's length says so
    without touching the relay's tables."""
    redis = aioredis.from_url(config["redis_url"])
    try:
        while True:
            if int(await redis.xlen(config["stream"])) >= config["total"]:
                return
            await asyncio.sleep(0.005)
    finally:
        await redis.aclose()


async def _until(condition: Callable[[], bool]) -> None:
    while True:
        if condition():
            return
        await asyncio.sleep(0.01)
