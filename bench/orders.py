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
catalog|orders|notifier serve` processes (as `make up` would) and an SMTP catcher
process (`python -m scripts.mailcatcher`), creates products with ample stock, places
orders (round-robin over the orders replicas, one customer and one recipient per order)
and waits for every e-mail. Two load profiles:

- saturated: `--orders` orders from `--concurrency` clients, faster than the pipeline
  drains them: orders/s is the throughput, and the latency is mostly queueing;
- light: `--light-orders` orders from one client: the path's own latency.

Reported: orders/s (orders / time from the first POST to the last e-mail), p50/p99
end-to-end latency, p50/p99 of the POST alone, and 2-replica / 1-replica ratios measured
in the same run. On a 2-core machine that also runs PostgreSQL, Redis and the load
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
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import psycopg
from sqlalchemy.engine import make_url

from bench.machine import add_server_arguments, command, machine, write_result
from bench.services import ServiceProcess, processes, wait_until
from marcus_eventstore.migrations import libpq_dsn, upgrade
from marcus_web.auth import mint_token
from tests.support.auth import admin_headers
from tests.support.databases import truncate_tables_sync

RESULTS = Path(__file__).parent / "results"
SECRET = "bench-orders-secret-0123456789abcdef"
SERVICES = ("catalog", "orders", "notifier")


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


async def run_setting(
    replicas: int,
    path: str,
    profile: str,
    orders: int,
    concurrency: int,
    args: argparse.Namespace,
    folder: Path,
) -> dict[str, Any]:
    truncate(args.database_url)
    prefix = f"bench-orders-{uuid.uuid4().hex[:8]}:"
    mail_dir = folder / f"mail-{replicas}-{path}-{profile}"
    env = {
        **os.environ,
        "DATABASE_URL": args.database_url,
        "REDIS_URL": args.redis_url,
        "STREAM_PREFIX": prefix,
        "JWT_SECRET": SECRET,
        "LOG_LEVEL": "warning",
        "DB_POOL_SIZE": "5",
    }
    urls: dict[str, list[str]] = {service: [] for service in SERVICES}
    with processes() as procs:
        procs.append(
            ServiceProcess(
                "scripts.mailcatcher",
                env,
                folder,
                f"mailcatcher-{replicas}-{profile}",
                extra=["--dir", str(mail_dir)],
            )
        )
        env["SMTP_PORT"] = str(procs[0].port)  # the services send to this catcher
        for service in SERVICES:
            for i in range(replicas):
                proc = ServiceProcess(service, env, folder, f"{service}-{replicas}-{i}")
                procs.append(proc)
                urls[service].append(proc.url)
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
                if n >= args.warmup:
                    started[recipient] = begin
                    post_latency.append(post)

        try:
            await asyncio.gather(*(customer_loop() for _ in range(concurrency)))
        finally:
            for client in clients:
                await client.aclose()

        async def all_mail() -> bool:
            return len(read_mailbox(mail_dir).keys() & started.keys()) == len(started)

        await wait_until(all_mail, args.timeout, "every order's e-mail", interval=0.25)
        received = read_mailbox(mail_dir)
        e2e = [received[r] - started[r] for r in started]
        elapsed = max(received[r] for r in started) - min(started.values())
        return {
            "replicas": replicas,
            "path": path,
            "profile": profile,
            "concurrency": concurrency,
            "orders": len(started),
            "elapsed_s": elapsed,
            "orders_per_s": len(started) / elapsed,
            "e2e_p50_ms": percentile(e2e, 0.50) * 1000,
            "e2e_p99_ms": percentile(e2e, 0.99) * 1000,
            "e2e_mean_ms": statistics.fmean(e2e) * 1000,
            "post_p50_ms": percentile(post_latency, 0.50) * 1000,
            "post_p99_ms": percentile(post_latency, 0.99) * 1000,
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
        "| replicas per service | path | load | orders/s | e2e p50 ms | e2e p99 ms | POST p50 ms "
        "| POST p99 ms |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for run in result["runs"]:
        lines.append(
            f"| {run['replicas']} | {run.get('path', 'direct')} | {run['profile']} |"
            f" {run['orders_per_s']:.1f} | "
            f"{run['e2e_p50_ms']:.0f} | {run['e2e_p99_ms']:.0f} | {run['post_p50_ms']:.0f} | "
            f"{run['post_p99_ms']:.0f} |"
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


async def run(args: argparse.Namespace) -> dict[str, Any]:
    ensure_database(args.database_url)
    for service in SERVICES:
        upgrade(service, args.database_url)
    runs = []
    profiles = [("saturated", args.orders, args.concurrency), ("light", args.light_orders, 1)]
    with tempfile.TemporaryDirectory(prefix="marcus-bench-orders-") as tmp:
        for replicas in args.replicas:
            for path in args.paths:
                for profile, orders, concurrency in profiles:
                    if orders <= 0:
                        continue
                    run_result = await run_setting(
                        replicas, path, profile, orders, concurrency, args, Path(tmp)
                    )
                    print(
                        f"{replicas} replica(s), {path}, {profile}:"
                        f" {run_result['orders_per_s']:.1f} orders/s,"
                        f" e2e p50 {run_result['e2e_p50_ms']:.0f} ms,"
                        f" p99 {run_result['e2e_p99_ms']:.0f} ms",
                        flush=True,
                    )
                    runs.append(run_result)
    result: dict[str, Any] = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": command("bench.orders"),
        "orders": args.orders,
        "concurrency": args.concurrency,
        "light_orders": args.light_orders,
        "products": args.products,
        "machine": machine(args.database_url, args.redis_url, ("aiosmtplib", "aiosmtpd", "jinja2")),
        "runs": runs,
    }
    by_key = {(run["replicas"], run["path"], run["profile"]): run for run in runs}
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
    parser.add_argument("--timeout", type=float, default=300)
    add_server_arguments(parser, database="marcus_bench_orders")
    args = parser.parse_args()
    result = asyncio.run(run(args))
    write_result("orders", args.out, result, markdown(result))


if __name__ == "__main__":
    main()
