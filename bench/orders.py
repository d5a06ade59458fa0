"""`make bench-orders`: orders per second end to end, at 1 and 2 replicas per service,
placed directly and through the cart.

One order's path: HTTP POST /orders (orders) -> orders.order.placed -> the catalog
reserves stock -> catalog.stock.reserved -> orders confirms -> orders.order.confirmed ->
the notifier renders and sends the e-mail -> the SMTP catcher accepts it. Its latency is
from the start of the POST to the catcher's acceptance (both on this machine's clock),
so it includes every relay hop, consumer batch and commit on the way.

The cart path is a shopper's: POST /cart/lines for each line (checked and priced from
the orders read model), GET /cart for the total, POST /cart/checkout with that expected
total and an address (the cart is checked out and the order placed in one transaction),
then the same saga and e-mail. Its latency runs from the first cart request to the
e-mail; "POST" is the checkout request alone. Both paths run in the same run, so their
ratio compares them on one machine state.

For each replica count and load profile, the bench starts that many `python -m
catalog|orders|notifier|indexer serve` processes (as `make up` would; the indexer with
the hash embedder, on one Chroma server for the whole bench) and an SMTP catcher
process (`python -m scripts.mailcatcher`), creates products with ample stock, places
orders (round-robin over the orders replicas, one customer and one recipient per order)
and waits for every e-mail. Two load profiles:

- saturated: `--orders` orders from `--concurrency` clients, faster than the pipeline
  drains them: orders/s is the throughput, and the latency is mostly queueing;
- light: `--light-orders` orders from one client: the path's own latency.

Reported: orders/s (orders / time from the first POST to the last e-mail), p50/p99
end-to-end latency, p50/p99 of the POST alone, and 2-replica / 1-replica ratios measured
in the same run. CPU per confirmed order of every process an order reaches (`ShopCpu`:
the services, the indexer that follows the stock reservations, Chroma, the SMTP
catcher, PostgreSQL, Redis), sampled as bench.bus samples its servers, with the shop's
idle CPU before the orders beside it; and the first replica count's direct saturated
run once more with a fresh SMTP session per e-mail (`--smtp-sessions`), so the kept
session's saving is a ratio from the same run. On a 2-core machine that also runs PostgreSQL, Redis and the load
generator, replicas add contention as much as capacity; the ratio says which wins.

Results: bench/results/orders-<timestamp>.json and .md, with machine, versions, command.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import tempfile
import time
import uuid
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import psutil
import psycopg
from sqlalchemy.engine import make_url

from bench.cpu_sampler import CpuSampler
from bench.machine import add_server_arguments, command, machine, write_result
from bench.services import ServiceProcess, processes, wait_until
from marcus_eventstore.migrations import libpq_dsn, upgrade
from marcus_web.auth import mint_token
from tests.support.auth import admin_headers
from tests.support.databases import truncate_tables_sync

RESULTS = Path(__file__).parent / "results"
SECRET = "bench-orders-secret-0123456789abcdef"
SERVICES = ("catalog", "orders", "notifier", "indexer")
"""Every service an order's events reach: the indexer follows the stock reservations."""
SMTP_SESSIONS = {"kept": "10", "fresh": "0"}
"""SMTP_SESSION_IDLE_S of the notifier: a session kept for the next e-mails (the
default), or a fresh session per e-mail (how the notifier sent before)."""


def ensure_database(database_url: str) -> None:
    url = make_url(database_url)
    admin = libpq_dsn(url.set(database="postgres").render_as_string(hide_password=False))
    with psycopg.connect(admin, autocommit=True) as conn:
        exists = conn.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", [url.database]
        ).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{url.database}"')


def truncate(database_url: str) -> None:
    """Every table of the services emptied: each profile starts from an empty shop."""
    truncate_tables_sync(database_url, *SERVICES)


def read_mailbox(folder: Path) -> dict[str, float]:
    """recipient -> time the catcher accepted its first e-mail."""
    index = folder / "index.jsonl"
    if not index.exists():
        return {}
    received: dict[str, float] = {}
    for line in index.read_text().splitlines():
        if line.strip():
            record = json.loads(line)
            received.setdefault(record["recipients"][0], record["received_at"])
    return received


CPU_ROLES = (*SERVICES, "smtp catcher", "chroma", "postgres", "redis")


class ShopCpu(CpuSampler):
    """CPU seconds of every process an order passes through, by role, sampled every
    20 ms (`CpuSampler`, as `bench.bus_processes.ServerCpu` samples the servers): each
    started process with its children, the PostgreSQL processes of the bench (backends
    of its database, plus the server's own background processes: WAL writer,
    checkpointer...) and the Redis server. The load generator (this process) is not
    counted: it is the shoppers, not the shop. Redis and PostgreSQL's background
    processes are shared with whatever else runs on the machine."""

    def __init__(self, roles: dict[int, str], database: str) -> None:
        super().__init__()
        self._roles = roles
        self._database = database
        self._titles: dict[int, str | None] = {}

    def _role(self, process: psutil.Process) -> str | None:
        if process.pid not in self._titles:
            self._titles[process.pid] = self._classify(process)
        return self._titles[process.pid]

    def _classify(self, process: psutil.Process) -> str | None:
        try:
            name = process.name()
            if name == "redis-server":
                return "redis"
            if name != "postgres":
                return None
            title = " ".join(process.cmdline())
        except psutil.Error:
            return None
        # A backend's title is "postgres: <user> <database> <client> <state>"; the
        # server's own processes ("postgres: walwriter") name no client.
        words = title.split()
        is_backend = any("(" in word or word == "[local]" for word in words)
        if is_backend and self._database not in words:
            return None
        return "postgres"

    def _processes(self) -> list[tuple[str, psutil.Process]]:
        seen: dict[int, str] = {}
        for pid, role in self._roles.items():
            try:
                root = psutil.Process(pid)
                seen[pid] = role
                for child in root.children(recursive=True):
                    seen[child.pid] = role
            except psutil.Error:
                continue
        for process in psutil.process_iter():
            if process.pid not in seen:
                server = self._role(process)
                if server is not None:
                    seen[process.pid] = server
        found = []
        for pid, role in seen.items():
            try:
                found.append((role, psutil.Process(pid)))
            except psutil.Error:
                continue
        return found


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


ADDRESS = {
    "name": "Bench Shopper",
    "lines": ["1 Bench Street"],
    "city": "Lisbon",
    "postal_code": "1100-148",
    "country": "PT",
}


async def place_directly(
    client: httpx.AsyncClient, headers: dict[str, str], recipient: str, lines: list[Any]
) -> float:
    """POST /orders; returns the POST's own latency."""
    begin = time.time()
    response = await client.post(
        "/api/v1/orders", json={"email": recipient, "lines": lines}, headers=headers
    )
    response.raise_for_status()
    return time.time() - begin


async def check_out_cart(
    client: httpx.AsyncClient, headers: dict[str, str], recipient: str, lines: list[Any]
) -> float:
    """Lines into the cart, read its total, check out at that total; returns the
    checkout request's own latency."""
    for line in lines:
        (await client.post("/api/v1/cart/lines", json=line, headers=headers)).raise_for_status()
    cart = await client.get("/api/v1/cart", headers=headers)
    cart.raise_for_status()
    body = {"expected_total": cart.json()["total"], "address": ADDRESS}
    begin = time.time()
    response = await client.post(
        "/api/v1/cart/checkout",
        json=body,
        headers=headers | {"Idempotency-Key": recipient},
    )
    response.raise_for_status()
    return time.time() - begin


PATHS = {"direct": place_directly, "cart": check_out_cart}


async def synced_documents(indexer_urls: list[str]) -> dict[str, float]:
    """The indexers' live-sync writes so far by operation (upsert = embedded, metadata =
    the text unchanged, so no embedding), from their /metrics."""
    totals: dict[str, float] = defaultdict(float)
    async with httpx.AsyncClient(timeout=10) as client:
        for url in indexer_urls:
            for line in (await client.get(f"{url}/metrics")).text.splitlines():
                if line.startswith("indexer_documents_synced_total{"):
                    labels, value = line.rsplit(" ", 1)
                    operation = labels.split('operation="')[1].split('"')[0]
                    totals[operation] += float(value)
    return dict(totals)


async def run_setting(
    replicas: int,
    path: str,
    profile: str,
    orders: int,
    concurrency: int,
    args: argparse.Namespace,
    folder: Path,
    chroma: Any,
    smtp: str = "kept",
) -> dict[str, Any]:
    truncate(args.database_url)
    prefix = f"bench-orders-{uuid.uuid4().hex[:8]}:"
    label = f"{replicas}-{path}-{profile}-{smtp}"
    mail_dir = folder / f"mail-{label}"
    env = {
        **os.environ,
        "DATABASE_URL": args.database_url,
        "REDIS_URL": args.redis_url,
        "STREAM_PREFIX": prefix,
        "INDEX_NAMESPACE": prefix,
        "CHROMA_URL": chroma.url,
        "EMBEDDER": "hash",
        "JWT_SECRET": SECRET,
        "LOG_LEVEL": "warning",
        "DB_POOL_SIZE": "5",
        "SMTP_SESSION_IDLE_S": SMTP_SESSIONS[smtp],
    }
    urls: dict[str, list[str]] = {service: [] for service in SERVICES}
    roles = {chroma.proc.pid: "chroma"}
    with processes() as procs:
        procs.append(
            ServiceProcess(
                "scripts.mailcatcher",
                env,
                folder,
                f"mailcatcher-{label}",
                extra=["--dir", str(mail_dir)],
            )
        )
        roles[procs[0].pid] = "smtp catcher"
        env["SMTP_PORT"] = str(procs[0].port)  # the services send to this catcher
        for service in SERVICES:
            for i in range(replicas):
                proc = ServiceProcess(service, env, folder, f"{service}-{label}-{i}")
                procs.append(proc)
                urls[service].append(proc.url)
                roles[proc.pid] = service
        for proc in procs[1:]:
            await proc.wait_ready(90)
        admin = admin_headers(secret=SECRET, subject="bench")
        async with httpx.AsyncClient(base_url=urls["catalog"][0], timeout=30) as catalog:
            category = await catalog.post(
                "/api/v1/categories", json={"slug": "bench", "name": "Bench"}, headers=admin
            )
            category.raise_for_status()
            products = []
            for i in range(args.products):
                created = await catalog.post(
                    "/api/v1/products",
                    json={
                        "sku": f"BENCH-{i:03d}",
                        "name": f"Bench product {i}",
                        "price": f"{random.randint(100, 9999) / 100:.2f}",
                        "category_id": category.json()["id"],
                        "stock": 10_000_000,
                    },
                    headers=admin,
                )
                created.raise_for_status()
                products.append(created.json()["id"])

        async def known() -> bool:
            with psycopg.connect(libpq_dsn(args.database_url)) as conn:
                row = conn.execute("SELECT count(*) FROM orders.products").fetchone()
            return bool(row and row[0] == len(products))

        await wait_until(known, 60, "products in the orders read model")

        clients = [httpx.AsyncClient(base_url=url, timeout=60) for url in urls["orders"]]
        started: dict[str, float] = {}
        placed: set[str] = set()
        post_latency: list[float] = []
        counter = iter(range(args.warmup + orders))

        place = PATHS[path]

        async def customer_loop() -> None:
            for n in counter:
                recipient = f"bench-{n}@example.com"
                picked = random.sample(products, k=random.randint(1, 3))
                lines = [{"product_id": p, "quantity": random.randint(1, 3)} for p in picked]
                token = mint_token(f"customer-{n}", [], secret=SECRET, email=recipient)
                headers = {"Authorization": f"Bearer {token}"}
                begin = time.time()
                post = await place(clients[n % len(clients)], headers, recipient, lines)
                placed.add(recipient)
                if n >= args.warmup:
                    started[recipient] = begin
                    post_latency.append(post)

        database = make_url(args.database_url).database or ""
        idle = ShopCpu(roles, database)  # what the shop burns with no order in flight
        idle.start()
        await asyncio.sleep(args.idle_window)
        idle_cpu_s = idle.stop()
        synced_before = await synced_documents(urls["indexer"])
        cpu = ShopCpu(roles, database)
        cpu.start()
        try:
            await asyncio.gather(*(customer_loop() for _ in range(concurrency)))
        finally:
            for client in clients:
                await client.aclose()

        async def all_mail() -> bool:
            return len(read_mailbox(mail_dir).keys() & placed) == len(placed)

        try:
            await wait_until(all_mail, args.timeout, "every order's e-mail", interval=0.25)
        finally:
            cpu_s = cpu.stop()
        synced_after = await synced_documents(urls["indexer"])
        received = read_mailbox(mail_dir)
        confirmed = len(placed)  # warm-up orders included: the CPU window holds them too
        cpu_ms = {role: cpu_s.get(role, 0.0) / confirmed * 1000 for role in CPU_ROLES}
        synced = {
            operation: (synced_after.get(operation, 0.0) - synced_before.get(operation, 0.0))
            / confirmed
            for operation in ("upsert", "metadata")
        }
        e2e = [received[r] - started[r] for r in started]
        elapsed = max(received[r] for r in started) - min(started.values())
        return {
            "replicas": replicas,
            "path": path,
            "profile": profile,
            "smtp_sessions": smtp,
            "concurrency": concurrency,
            "orders": len(started),
            "elapsed_s": elapsed,
            "orders_per_s": len(started) / elapsed,
            "e2e_p50_ms": percentile(e2e, 0.50) * 1000,
            "e2e_p99_ms": percentile(e2e, 0.99) * 1000,
            "e2e_mean_ms": statistics.fmean(e2e) * 1000,
            "post_p50_ms": percentile(post_latency, 0.50) * 1000,
            "post_p99_ms": percentile(post_latency, 0.99) * 1000,
            "cpu_ms_per_order": cpu_ms,
            "cpu_ms_per_order_total": sum(cpu_ms.values()),
            "indexer_writes_per_order": synced,
            "idle_cpu_ms_per_s": {
                role: idle_cpu_s.get(role, 0.0) / args.idle_window * 1000 for role in CPU_ROLES
            },
        }


def markdown(result: dict[str, Any]) -> str:
    lines = [
        "# bench-orders: orders end to end (POST -> confirmed -> e-mail accepted by SMTP)",
        "",
        f"{result['when']}, `{result['command']}`; {result['machine']['cores']} cores, "
        f"Python {result['machine']['python']}, PostgreSQL {result['machine']['postgresql']}.",
        f"saturated: {result['orders']} orders from {result['concurrency']} concurrent clients"
        f" (throughput; latency is mostly queueing); light: {result['light_orders']} orders"
        f" from one client (the path's own latency). 1-3 lines per order over"
        f" {result['products']} products.",
        "",
        "Paths: `direct` is POST /orders; `cart` is cart lines -> GET /cart -> checkout"
        " (its POST columns are the checkout request).",
        "",
        "| replicas per service | path | load | SMTP sessions | orders/s | e2e p50 ms | e2e p99 ms"
        " | POST p50 ms | POST p99 ms |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for run in result["runs"]:
        lines.append(
            f"| {run['replicas']} | {run.get('path', 'direct')} | {run['profile']} |"
            f" {run.get('smtp_sessions', 'fresh')} |"
            f" {run['orders_per_s']:.1f} | "
            f"{run['e2e_p50_ms']:.0f} | {run['e2e_p99_ms']:.0f} | {run['post_p50_ms']:.0f} | "
            f"{run['post_p99_ms']:.0f} |"
        )
    lines += [
        "",
        "CPU ms per confirmed order, by process (each service's replicas together; sampled"
        " every 20 ms from the first POST to the last e-mail, warm-up orders included;"
        " PostgreSQL: the bench database's backends and the server's own processes; Redis"
        " and PostgreSQL's own processes are shared with anything else on the machine; the"
        " load generator is not counted). Indexer writes per order: `upsert` embeds the"
        " text, `metadata` is a stock change (no embedding).",
        "",
        "| replicas | path | load | SMTP sessions | "
        + " | ".join(CPU_ROLES)
        + " | total | indexer upsert/metadata per order |",
        "|---|---|---|---|" + "---|" * (len(CPU_ROLES) + 2),
    ]
    for run in result["runs"]:
        if "cpu_ms_per_order" not in run:
            continue
        cpu = run["cpu_ms_per_order"]
        writes = run["indexer_writes_per_order"]
        lines.append(
            f"| {run['replicas']} | {run['path']} | {run['profile']} | {run['smtp_sessions']} | "
            + " | ".join(f"{cpu.get(role, 0.0):.1f}" for role in CPU_ROLES)
            + f" | {run['cpu_ms_per_order_total']:.1f} |"
            f" {writes['upsert']:.2f} / {writes['metadata']:.2f} |"
        )
    lines += [
        "",
        f"Idle CPU, ms per second, sampled {result.get('idle_window', 0):.0f} s before the"
        " orders of each run (pollers, relays, heartbeats: spread over the orders above).",
        "",
        "| replicas | path | load | SMTP sessions | " + " | ".join(CPU_ROLES) + " | total |",
        "|---|---|---|---|" + "---|" * (len(CPU_ROLES) + 1),
    ]
    for run in result["runs"]:
        if "idle_cpu_ms_per_s" not in run:
            continue
        idle = run["idle_cpu_ms_per_s"]
        lines.append(
            f"| {run['replicas']} | {run['path']} | {run['profile']} | {run['smtp_sessions']} | "
            + " | ".join(f"{idle.get(role, 0.0):.0f}" for role in CPU_ROLES)
            + f" | {sum(idle.values()):.0f} |"
        )
    ratio = result.get("cpu_kept_vs_fresh_smtp")
    if ratio:
        lines.append(
            f"\nCPU per order, SMTP session kept vs fresh per e-mail (same run, saturated):"
            f" total x{ratio['total']:.2f}, notifier x{ratio.get('notifier', 0.0):.2f},"
            f" smtp catcher x{ratio.get('smtp catcher', 0.0):.2f}."
        )
    for profile, ratio in result.get("ratio_2_vs_1", {}).items():
        lines.append(
            f"\n2 vs 1 replica, {profile} (same run): throughput x{ratio['orders_per_s']:.2f}, "
            f"e2e p50 x{ratio['e2e_p50_ms']:.2f}, e2e p99 x{ratio['e2e_p99_ms']:.2f}."
        )
    for key, ratio in result.get("ratio_cart_vs_direct", {}).items():
        lines.append(
            f"\ncart vs direct, {key} (same run): throughput x{ratio['orders_per_s']:.2f}, "
            f"e2e p99 x{ratio['e2e_p99_ms']:.2f}."
        )
    return "\n".join(lines) + "\n"


def settings(args: argparse.Namespace) -> list[tuple[int, str, str, int, int, str]]:
    """(replicas, path, profile, orders, concurrency, SMTP sessions) of each run: every
    combination with kept sessions, and the first replica count's direct saturated run
    again, right after it, with a fresh SMTP session per e-mail (the CPU comparison)."""
    profiles = [("saturated", args.orders, args.concurrency), ("light", args.light_orders, 1)]
    found = [
        (replicas, path, profile, orders, concurrency, "kept")
        for replicas in args.replicas
        for path in args.paths
        for profile, orders, concurrency in profiles
        if orders > 0
    ]
    compared = (args.replicas[0], "direct", "saturated", args.orders, args.concurrency, "kept")
    if "fresh" in args.smtp_sessions and compared in found:  # right after it: same state
        found.insert(found.index(compared) + 1, (*compared[:5], "fresh"))
    return found


async def run(args: argparse.Namespace) -> dict[str, Any]:
    from tests.support.chroma import ChromaProcess

    ensure_database(args.database_url)
    for service in SERVICES:
        upgrade(service, args.database_url)
    runs = []
    chroma = ChromaProcess()
    chroma.start()
    try:
        with tempfile.TemporaryDirectory(prefix="marcus-bench-orders-") as tmp:
            for replicas, path, profile, orders, concurrency, smtp in settings(args):
                run_result = await run_setting(
                    replicas, path, profile, orders, concurrency, args, Path(tmp), chroma, smtp
                )
                print(
                    f"{replicas} replica(s), {path}, {profile}, SMTP {smtp}:"
                    f" {run_result['orders_per_s']:.1f} orders/s,"
                    f" e2e p50 {run_result['e2e_p50_ms']:.0f} ms,"
                    f" p99 {run_result['e2e_p99_ms']:.0f} ms,"
                    f" CPU {run_result['cpu_ms_per_order_total']:.1f} ms/order",
                    flush=True,
                )
                runs.append(run_result)
    finally:
        chroma.remove()
    result: dict[str, Any] = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": command("bench.orders"),
        "orders": args.orders,
        "concurrency": args.concurrency,
        "light_orders": args.light_orders,
        "idle_window": args.idle_window,
        "products": args.products,
        "machine": machine(args.database_url, args.redis_url, ("aiosmtplib", "aiosmtpd", "jinja2")),
        "runs": runs,
    }
    by_key = {
        (run["replicas"], run["path"], run["profile"]): run
        for run in runs
        if run["smtp_sessions"] == "kept"
    }
    fresh = [run for run in runs if run["smtp_sessions"] == "fresh"]
    kept = by_key.get((args.replicas[0], "direct", "saturated"))
    if fresh and kept:
        before = fresh[0]["cpu_ms_per_order"]
        result["cpu_kept_vs_fresh_smtp"] = {
            "total": kept["cpu_ms_per_order_total"] / fresh[0]["cpu_ms_per_order_total"],
            **{
                role: kept["cpu_ms_per_order"][role] / before[role]
                for role in CPU_ROLES
                if before[role] > 0
            },
        }
    keys = ("orders_per_s", "e2e_p50_ms", "e2e_p99_ms")
    ratios = {}
    for profile in ("saturated", "light"):
        one, two = by_key.get((1, "direct", profile)), by_key.get((2, "direct", profile))
        if one and two:
            ratios[profile] = {key: two[key] / one[key] for key in keys}
    if ratios:
        result["ratio_2_vs_1"] = ratios
    cart_ratios = {}
    for replicas in args.replicas:
        for profile in ("saturated", "light"):
            direct = by_key.get((replicas, "direct", profile))
            cart = by_key.get((replicas, "cart", profile))
            if direct and cart:
                name = f"{replicas} replica(s), {profile}"
                cart_ratios[name] = {key: cart[key] / direct[key] for key in keys}
    if cart_ratios:
        result["ratio_cart_vs_direct"] = cart_ratios
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=300)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--light-orders", type=int, default=60, help="0 skips the light runs")
    parser.add_argument("--products", type=int, default=20)
    parser.add_argument("--replicas", type=int, nargs="+", default=[1, 2])
    parser.add_argument(
        "--paths",
        nargs="+",
        choices=sorted(PATHS),
        default=["direct", "cart"],
        help="how orders are placed: POST /orders, or cart lines -> checkout",
    )
    parser.add_argument(
        "--smtp-sessions",
        nargs="+",
        choices=sorted(SMTP_SESSIONS),
        default=["kept", "fresh"],
        help="fresh adds a run with a fresh SMTP session per e-mail (the CPU comparison)",
    )
    parser.add_argument(
        "--idle-window",
        type=float,
        default=3.0,
        help="seconds the shop's idle CPU is sampled before the orders (pollers, relays)",
    )
    parser.add_argument("--timeout", type=float, default=300)
    add_server_arguments(parser, database="marcus_bench_orders")
    args = parser.parse_args()
    result = asyncio.run(run(args))
    write_result("orders", args.out, result, markdown(result))


if __name__ == "__main__":
    main()
