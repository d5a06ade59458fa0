"""Celery tasks/s on the Redis broker, for the bus's `>= 10x Celery` target.

For each pool (e.g. prefork with concurrency 2, solo) one worker process is started
(`celery -A bench.celery_tasks worker`), warmed up, and then, per round, this process
sends N no-op tasks (`send_task`, what `apply_async` does, one broker round trip each)
while the worker runs them; timed from the first send until the worker's N-th INCR of
the completion counter (see `bench.celery_tasks`). CPU: this producer's, and the
worker's whole process tree's (psutil).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
import redis

from bench.celery_tasks import BROKER_ENV, PREFIX_ENV, counter_of, make_app, queue_of

ROOT = Path(__file__).resolve().parent.parent
WARMUP_TASKS = 50
TIMEOUT_S = 600.0


@dataclass(frozen=True)
class Pool:
    name: str
    concurrency: int

    @property
    def label(self) -> str:
        return f"{self.name} c={self.concurrency}"


def parse_pool(text: str) -> Pool:
    """`prefork:2`, `threads:2`, `solo`."""
    name, _, concurrency = text.partition(":")
    return Pool(name, int(concurrency or 1))


def bench_celery(redis_url: str, pool: Pool, payloads: list[str], rounds: int) -> dict[str, Any]:
    """Rounds of len(payloads) tasks on one worker; medians and every sample."""
    prefix = f"bench-celery-{uuid.uuid4().hex[:8]}:"
    client = redis.Redis.from_url(redis_url)
    worker = _start_worker(redis_url, prefix, pool)
    try:
        sender = make_app(redis_url, prefix)
        _run_tasks(client, sender, prefix, payloads[:WARMUP_TASKS], worker)
        samples = [_run_tasks(client, sender, prefix, payloads, worker) for _ in range(rounds)]
        sender.close()
    finally:
        worker.terminate()
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()
        keys = list(client.scan_iter(match=f"{prefix}*"))
        if keys:
            client.delete(*keys)
        client.close()
    rates = [sample["tasks_per_s"] for sample in samples]
    return {
        "pool": pool.label,
        "tasks": len(payloads),
        "tasks_per_s": statistics.median(rates),
        "cpu_us_per_task": {
            role: statistics.median(sample["cpu_us_per_task"][role] for sample in samples)
            for role in ("producer", "worker")
        },
        "samples": rates,
    }


def _start_worker(redis_url: str, prefix: str, pool: Pool) -> subprocess.Popen[bytes]:
    command = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "bench.celery_tasks",
        "worker",
        "--pool",
        pool.name,
        "--concurrency",
        str(pool.concurrency),
        "--queues",
        queue_of(prefix),
        "--loglevel",
        "WARNING",
        "--without-gossip",
        "--without-mingle",
        "--without-heartbeat",
    ]
    env = {
        **os.environ,
        BROKER_ENV: redis_url,
        PREFIX_ENV: prefix,
        # Containers and CI run as root; Celery's warning about it says nothing here.
        "PYTHONWARNINGS": "ignore:You're running the worker with superuser privileges",
    }
    return subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL)


def _run_tasks(
    client: redis.Redis, sender: Any, prefix: str, payloads: list[str], worker: subprocess.Popen
) -> dict[str, Any]:
    counter = counter_of(prefix)
    client.delete(counter)
    worker_cpu = _tree_cpu(worker.pid)
    started, cpu = time.monotonic(), time.process_time()
    for payload in payloads:
        sender.send_task("bench.noop", args=[payload])
    producer_cpu = time.process_time() - cpu
    deadline = started + TIMEOUT_S
    while int(client.get(counter) or 0) < len(payloads):
        if worker.poll() is not None:
            raise RuntimeError(f"celery worker exited with {worker.returncode}")
        if time.monotonic() > deadline:
            raise RuntimeError("celery tasks did not finish in time")
        time.sleep(0.002)
    elapsed = time.monotonic() - started
    total = len(payloads)
    return {
        "tasks_per_s": total / elapsed,
        "cpu_us_per_task": {
            "producer": producer_cpu / total * 1e6,
            "worker": (_tree_cpu(worker.pid) - worker_cpu) / total * 1e6,
        },
    }


def _tree_cpu(pid: int) -> float:
    """User + system CPU seconds of a process and its children (the prefork pool)."""
    root = psutil.Process(pid)
    total = 0.0
    for process in [root, *root.children(recursive=True)]:
        try:
            times = process.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system
    return total
