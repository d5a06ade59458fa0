"""`make bench-configurator`: what checking and pricing configurations costs.

Two comparisons, each measured in the same run against the same database:

- quote: `POST /products/{id}/quote` of a 5-option bicycle configuration (load the
  product with its parts, options and rules; check; price) vs `GET /products/{id}` of the
  same bicycle (load and serialise it), over HTTP to one catalog process;
- saga step: the catalog's reservation of one order (`catalog.handlers.reserve_stock`, one
  transaction: lock, check, price, reserve, record events) for a configured line (5
  options of one bicycle) vs a simple product line, alternated order by order.

Reported: p50/p99 per kind, and the ratio configured/plain. Results in
bench/results/configurator-<timestamp>.json and .md, with machine, versions, command.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import psycopg

from bench.machine import add_out_argument, command, machine, result_path
from bench.services import SECRET, ServiceProcess, processes, service_env
from marcus_eventstore.migrations import libpq_dsn, upgrade
from marcus_web.auth import mint_token

RESULTS = Path(__file__).parent / "results"
BUILD = ("Full suspension", "Matte", "Mountain", "Black", "8-speed")


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def summary(samples: list[float]) -> dict[str, float]:
    return {
        "n": len(samples),
        "p50_ms": round(percentile(samples, 0.5) * 1000, 2),
        "p99_ms": round(percentile(samples, 0.99) * 1000, 2),
        "mean_ms": round(statistics.fmean(samples) * 1000, 2),
    }


async def measure(
    database_url: str, catalog: ServiceProcess, requests: int, orders: int
) -> dict[str, Any]:
    from services.catalog.tests.bikes import build_bike  # the tests' bicycle, via the API

    await catalog.wait_ready()
    url = catalog.url
    admin = {"Authorization": f"Bearer {mint_token('bench', ['admin'], secret=SECRET)}"}
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        category = await client.post(
            "/api/v1/categories", json={"slug": "bench", "name": "Bench"}, headers=admin
        )
        category_id = category.json()["id"]
        bike = await build_bike(client, admin, category_id, stock=1_000_000)
        plain = await client.post(
            "/api/v1/products",
            json={
                "sku": "PLAIN",
                "name": "Plain",
                "price": "10.00",
                "category_id": category_id,
                "stock": 1_000_000,
            },
            headers=admin,
        )
        plain_id = plain.json()["id"]
        quote_body = {"options": bike.ids(*BUILD)}
        quotes, reads = [], []
        for _ in range(20):  # warm-up
            await client.post(f"/api/v1/products/{bike.id}/quote", json=quote_body)
            await client.get(f"/api/v1/products/{bike.id}")
        for _ in range(requests):  # alternated, so both see the same machine load
            started = time.perf_counter()
            quoted = await client.post(f"/api/v1/products/{bike.id}/quote", json=quote_body)
            quotes.append(time.perf_counter() - started)
            assert quoted.status_code == 200, quoted.text
            started = time.perf_counter()
            read = await client.get(f"/api/v1/products/{bike.id}")
            reads.append(time.perf_counter() - started)
            assert read.status_code == 200
    saga = await measure_saga(database_url, uuid.UUID(bike.id), bike.ids(*BUILD), plain_id, orders)
    return {
        "quote": summary(quotes),
        "get_product": summary(reads),
        "quote_vs_get_p50": round(percentile(quotes, 0.5) / percentile(reads, 0.5), 2),
        **saga,
    }


async def measure_saga(
    database_url: str, bike_id: uuid.UUID, options: list[str], plain_id: str, orders: int
) -> dict[str, Any]:
    from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

    from catalog import handlers
    from catalog.allocation import LineRequest
    from catalog.storage.uow import CatalogUnitOfWork

    engine = create_async_engine(database_url)
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    configured_line = LineRequest(bike_id, 1, tuple(uuid.UUID(o) for o in options))
    plain_line = LineRequest(uuid.UUID(plain_id), 1)
    samples: dict[str, list[float]] = {"configured": [], "simple": []}

    async def reserve(line: LineRequest) -> float:
        started = time.perf_counter()
        async with sessions() as session, session.begin():
            ok = await handlers.reserve_stock(
                handlers.ReserveStock(uuid.uuid4(), [line], "EUR"),
                CatalogUnitOfWork.joining(session),
            )
        assert ok
        return time.perf_counter() - started

    try:
        for _ in range(10):  # warm-up
            await reserve(configured_line)
            await reserve(plain_line)
        for _ in range(orders):
            samples["configured"].append(await reserve(configured_line))
            samples["simple"].append(await reserve(plain_line))
    finally:
        await engine.dispose()
    return {
        "reserve_configured": summary(samples["configured"]),
        "reserve_simple": summary(samples["simple"]),
        "reserve_configured_vs_simple_p50": round(
            percentile(samples["configured"], 0.5) / percentile(samples["simple"], 0.5), 2
        ),
    }


def markdown(result: dict[str, Any]) -> str:
    m = result["machine"]
    r = result["results"]
    row = lambda name, s: f"| {name} | {s['n']} | {s['p50_ms']} | {s['p99_ms']} | {s['mean_ms']} |"  # noqa: E731
    return "\n".join(
        [
            "# bench-configurator: checking and pricing configurations",
            "",
            f"{result['time']}, `{result['command']}`; {m['cores']} cores, Python {m['python']},"
            f" PostgreSQL {m['postgresql']}.",
            "Bicycle: 5 parts, 13 options, 3 incompatibilities, 2 price rules; the configuration"
            " chooses 5 options (one price rule applies).",
            "",
            "| what | n | p50 ms | p99 ms | mean ms |",
            "|---|---|---|---|---|",
            row("POST /products/{id}/quote (HTTP)", r["quote"]),
            row("GET /products/{id} (HTTP, same bicycle)", r["get_product"]),
            row("saga: reserve an order, 1 configured line", r["reserve_configured"]),
            row("saga: reserve an order, 1 simple line", r["reserve_simple"]),
            "",
            f"quote / GET, p50 (same run): x{r['quote_vs_get_p50']}.",
            f"configured / simple reservation, p50 (same run): x{r['reserve_configured_vs_simple_p50']}.",
            "",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--database-url",
        default=os.environ.get(
            "BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
        ),
    )
    parser.add_argument(
        "--redis-url", default=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    )
    parser.add_argument("--requests", type=int, default=300, help="quotes (and reads)")
    parser.add_argument("--orders", type=int, default=200, help="reservations of each kind")
    add_out_argument(parser)
    args = parser.parse_args(argv)

    db = f"bench_configurator_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(libpq_dsn(args.database_url), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{db}"')
    url = args.database_url.rsplit("/", 1)[0] + f"/{db}"
    sa_url = url.replace("postgresql://", "postgresql+psycopg://", 1)
    try:
        upgrade("catalog", sa_url)
        # the consumer is off: the bench calls the saga step itself
        env = service_env(sa_url, args.redis_url, f"bench-cfg-{db}:", CONSUMER_ENABLED="false")
        with tempfile.TemporaryDirectory(prefix="marcus-bench-cfg-") as logs, processes() as procs:
            procs.append(ServiceProcess("catalog", env, Path(logs), "catalog"))
            results = asyncio.run(measure(sa_url, procs[0], args.requests, args.orders))
    finally:
        with psycopg.connect(libpq_dsn(args.database_url), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
    now = datetime.now(UTC)
    result = {
        "time": now.isoformat(timespec="seconds"),
        "command": command("bench.configurator", argv),
        "machine": machine(args.database_url, args.redis_url),
        "results": results,
    }
    stem = result_path("configurator", args.out).with_suffix("")
    stem.with_suffix(".json").write_text(json.dumps(result, indent=2) + "\n")
    stem.with_suffix(".md").write_text(markdown(result))
    print(markdown(result))
    print(f"written: {stem}.json, {stem}.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
