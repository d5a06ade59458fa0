"""Scale-out of the notifier: the same backlog of order e-mails with 1, 2 and 3 consumers.

For each replica count: a fresh database (notifier schema) and stream prefix, an SMTP
catcher process (`python -m scripts.mailcatcher`) and that many `python -m notifier
serve` processes sharing the `notifier` group, all ready before the backlog arrives;
then `--backlog` `orders.order.confirmed` events (one order, one recipient each) are
XADDed in pipelined chunks of 1000 and the clock starts. It stops when the catcher has
accepted every e-mail and the group has delivered everything with nothing pending.

e-mails/s = backlog / that time. Each e-mail is a real SMTP transaction (connect, MAIL,
RCPT, DATA) plus the notifier's exactly-once bookkeeping (a `sending` row committed
before the send, `sent` after it, and the consumer's ledger), so the bound is the
per-e-mail round trips, not one batch's commit. The CPU seconds of the notifiers, their
PostgreSQL backends and the catcher per e-mail say what the replicas compete for on
this machine. `--rounds N` repeats 1, 2, 3 interleaved; ratios per round, then medians.

    python -m bench.notifier [--profile quick|full] [--backlog N] [--replicas 1 2 3]

Results: bench/results/notifier-<timestamp>.json and .md (or `--out PATH`).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import sys
import time
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

import psutil
import redis.asyncio as aioredis

from bench.machine import (
    add_server_arguments,
    backend_pids,
    command,
    machine,
    service_logs,
    write_result,
)
from bench.services import (
    ServiceProcess,
    delete_keys,
    fresh_database,
    processes,
    service_env,
    sqlalchemy_url,
    wait_until,
)
from marcus_contracts import STREAM_FIELD, StreamNames, new_event_id, registry
from marcus_contracts.events import orders as ev

GROUP = "notifier"
PROFILES: dict[str, dict[str, Any]] = {
    "full": {"backlog": 1000, "rounds": 2},
    "quick": {"backlog": 300, "rounds": 1},
}


def payloads(count: int) -> list[str]:
    """`count` confirmed orders, one line each, every one to its own recipient."""
    out = []
    for i in range(count):
        order_id = new_event_id()
        line = ev.OrderLine(
            product_id=uuid.UUID(int=i + 1),
            sku=f"SKU-{i % 50}",
            name=f"Product {i % 50}",
            unit_price=Decimal("4.50"),
            quantity=1 + i % 3,
            line_total=Decimal("4.50") * (1 + i % 3),
        )
        event = ev.OrderConfirmed(
            order_id=order_id,
            customer=f"customer-{i}",
            email=f"customer{i}@example.com",
            currency="EUR",
            lines=[line],
            total=line.line_total,
        )
        out.append(registry.envelope(event, subject=str(order_id), sequence=2).to_json())
    return out


def mails_received(folder: Path) -> int:
    """Distinct e-mails the catcher accepted (a resend with the same Message-ID once)."""
    index = folder / "index.jsonl"
    if not index.exists():
        return 0
    # The catcher may be mid-write: only lines ended by a newline are complete.
    complete = index.read_text().split("\n")[:-1]
    return sum(1 for line in complete if line.strip() and not json.loads(line).get("duplicate"))


def cpu_seconds(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        with contextlib.suppress(psutil.Error):
            times = psutil.Process(pid).cpu_times()
            total += times.user + times.system
    return total


async def run_replicas(
    replicas: int, backlog: list[str], args: argparse.Namespace, folder: Path
) -> dict[str, Any]:
    prefix = f"bench-notify-{uuid.uuid4().hex[:8]}:"
    mail_dir = folder / f"mail-{replicas}-{uuid.uuid4().hex[:6]}"
    with (
        fresh_database(args.database_url, ("notifier",), f"notify{replicas}") as database_url,
        processes() as procs,
    ):
        env = service_env(database_url, args.redis_url, prefix)
        catcher = ServiceProcess(
            "scripts.mailcatcher",
            env,
            folder,
            f"catcher-{replicas}",
            extra=["--dir", str(mail_dir)],
        )
        procs.append(catcher)
        env["SMTP_PORT"] = str(catcher.port)
        for i in range(replicas):
            procs.append(ServiceProcess("notifier", env, folder, f"notifier-{replicas}-{i}"))
        for proc in procs[1:]:
            await proc.wait_ready()
        notifiers = [proc.pid for proc in procs[1:]]
        redis = aioredis.from_url(args.redis_url)
        stream = StreamNames(prefix).events("orders")
        try:
            backends = backend_pids(database_url)
            cpu_before = {
                "notifiers": cpu_seconds(notifiers),
                "postgres": cpu_seconds(backends),
                "catcher": cpu_seconds([catcher.pid]),
            }
            started = time.monotonic()
            last_id = b""
            for start in range(0, len(backlog), 1000):
                async with redis.pipeline(transaction=False) as pipe:
                    for payload in backlog[start : start + 1000]:
                        pipe.xadd(stream, {STREAM_FIELD: payload})
                    last_id = (await pipe.execute())[-1]

            async def drained() -> bool:
                if mails_received(mail_dir) < len(backlog):
                    return False
                for info in await redis.xinfo_groups(stream):
                    if info["name"] in (GROUP, GROUP.encode()):
                        return bool(info["last-delivered-id"] == last_id and info["pending"] == 0)
                return False

            await wait_until(drained, args.timeout, "every e-mail accepted", 0.1)
            elapsed = time.monotonic() - started
            backends = sorted(set(backends) | set(backend_pids(database_url)))
            cpu = {
                "notifiers": cpu_seconds(notifiers) - cpu_before["notifiers"],
                "postgres": cpu_seconds(backends) - cpu_before["postgres"],
                "catcher": cpu_seconds([catcher.pid]) - cpu_before["catcher"],
            }
        finally:
            await redis.aclose()
    await delete_keys(args.redis_url, prefix)
    count = len(backlog)
    return {
        "replicas": replicas,
        "emails": count,
        "seconds": round(elapsed, 2),
        "emails_per_s": round(count / elapsed, 1),
        "cpu_ms_per_email": {name: round(s / count * 1000, 3) for name, s in cpu.items()},
        "cores_busy": round(sum(cpu.values()) / elapsed, 2),
    }


def summarise(rounds: list[dict[int, dict[str, Any]]]) -> dict[str, Any]:
    counts = sorted(rounds[0])
    medians = [
        {
            "replicas": n,
            "emails_per_s": round(statistics.median(r[n]["emails_per_s"] for r in rounds), 1),
            "cpu_ms_per_email": {
                part: round(statistics.median(r[n]["cpu_ms_per_email"][part] for r in rounds), 3)
                for part in rounds[0][n]["cpu_ms_per_email"]
            },
            "cores_busy": round(statistics.median(r[n]["cores_busy"] for r in rounds), 2),
        }
        for n in counts
    ]
    ratios = {
        str(n): round(
            statistics.median(r[n]["emails_per_s"] / r[1]["emails_per_s"] for r in rounds), 3
        )
        for n in counts
        if n != 1 and 1 in counts
    }
    return {"medians": medians, "ratios_vs_1": ratios}


async def run(args: argparse.Namespace, folder: Path) -> dict[str, Any]:
    backlog = payloads(args.backlog)
    rounds: list[dict[int, dict[str, Any]]] = []
    load_before = [round(x, 2) for x in os.getloadavg()]
    for number in range(args.rounds):
        measured = {}
        for replicas in args.replicas:
            row = await run_replicas(replicas, backlog, args, folder)
            measured[replicas] = row
            print(
                f"notifier round {number + 1}: {replicas} replica(s): "
                f"{row['emails_per_s']} e-mails/s",
                flush=True,
            )
        rounds.append(measured)
    return {
        "benchmark": "notifier",
        "command": command("bench.notifier"),
        "profile": args.profile,
        "machine": machine(
            sqlalchemy_url(args.database_url), args.redis_url, packages=("aiosmtpd",)
        ),
        "load_average": {"before": load_before, "after": [round(x, 2) for x in os.getloadavg()]},
        "backlog": args.backlog,
        "rounds": [[r[n] for n in args.replicas] for r in rounds],
        **summarise(rounds),
    }


def markdown(result: dict[str, Any]) -> str:
    lines = [
        f"# Notifier scale-out ({result['backlog']} e-mails, `{result['command']}`)",
        "",
        f"Load average before/after: {result['load_average']['before']} / "
        f"{result['load_average']['after']} (other work shares these cores). Medians of "
        f"{len(result['rounds'])} round(s); ratios per round, then the median.",
        "",
        "| notifiers | e-mails/s | x vs 1 | CPU ms/e-mail: notifiers | postgres | catcher "
        "| cores busy |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in result["medians"]:
        cpu = row["cpu_ms_per_email"]
        ratio = result["ratios_vs_1"].get(str(row["replicas"]), 1.0)
        lines.append(
            f"| {row['replicas']} | {row['emails_per_s']} | {ratio} | {cpu['notifiers']} "
            f"| {cpu['postgres']} | {cpu['catcher']} | {row['cores_busy']} |"
        )
    return "\n".join(lines) + "\n"


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.notifier", description=__doc__)
    parser.add_argument("--profile", choices=tuple(PROFILES), default="full")
    parser.add_argument("--backlog", type=int, help="e-mails (confirmed orders)")
    parser.add_argument("--replicas", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--rounds", type=int, help="every replica count this many times")
    parser.add_argument("--timeout", type=float, default=600.0, help="per setting, seconds")
    add_server_arguments(parser)
    profile, _ = parser.parse_known_args(argv)
    parser.set_defaults(**PROFILES[profile.profile])
    return parser.parse_args(argv)


def main() -> None:
    args = parse(sys.argv[1:])
    with service_logs("notifier") as folder:
        result = asyncio.run(run(args, folder))
    write_result("notifier", args.out, result, markdown(result))


if __name__ == "__main__":
    main()
