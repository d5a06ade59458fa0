"""`python -m bench.http`: req/s and latency of the public HTTP endpoints under wrk, next
to the ceiling of a bare uvicorn + FastAPI JSON endpoint measured in the same run
(issue 9, part 4), and each service's peak RSS under that load (part 7).

The bench starts Chroma and `python -m catalog|indexer|assistant|orders serve` as
processes on a fresh database and stream prefix (the services' own defaults otherwise:
one uvicorn worker, uvloop, httptools, no access log, tracing off, JSON logs at
WARNING), seeds the sample catalog through the API (`scripts/seed.py`, as `make seed`),
waits until the indexer indexed it and the orders service knows the products, then runs
wrk (`--threads`, `--connections`, a warm-up, then `--duration` seconds, `--latency`)
against, in this order:

- ceiling: `python -m bench.ceiling serve`, a fixed product-shaped JSON document;
- product GET: catalog `GET /api/v1/products/{id}`, a Lua script rotating over the ids;
- product list: catalog `GET /api/v1/products` (first page, 20 products);
- filtered lists: catalog `GET /api/v1/products?...`, rotating over filters a storefront
  sends (each category by slug, in stock, a price band, a word of a name, a second page);
- search: assistant `GET /api/v1/search?q=...`, rotating over words of product names;
- ceiling again (the machine is shared: the ratio uses the mean of both ceiling runs);
- order placement: orders `POST /api/v1/orders` with a customer's Bearer token, one to
  three random products per order (the stock saga then runs in the background).

Reported per target: req/s, p50/p90/p99/max latency, non-2xx count and socket errors
(a target with any is marked invalid), ratio to the ceiling (the lists' also to the
product GET, their target: ADR 0027), peak RSS of every process during its run.
Results: bench/results/http-<timestamp>.json and .md (or `--out`).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import shlex
import shutil
import statistics
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import psycopg

from bench.machine import ROOT, add_server_arguments, command, machine, result_path, service_logs
from bench.memory import RssSampler
from bench.services import (
    SECRET,
    ServiceProcess,
    delete_keys,
    fresh_database,
    processes,
    service_env,
    wait_until,
)
from marcus_eventstore.migrations import libpq_dsn
from marcus_web.auth import mint_token

SERVICES = ("catalog", "indexer", "assistant", "orders")
PROFILES = {"full": {"duration": 10, "warmup": 3}, "quick": {"duration": 3, "warmup": 1}}
TARGETS = (
    "ceiling",
    "product_get",
    "product_list",
    "product_list_filtered",
    "search",
    "ceiling_again",
    "order_place",
)
LISTS = ("product_list", "product_list_filtered")
WRK_MISSING = (
    "wrk is not installed: the HTTP benchmark needs it "
    "(Debian/Ubuntu: sudo apt-get install -y wrk; macOS: brew install wrk)"
)

DONE_LUA = """
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRK_JSON {"requests": %d, "duration_us": %d, "bytes": %d, "non_2xx": %d, '
    .. '"connect_errors": %d, "read_errors": %d, "write_errors": %d, "timeouts": %d, '
    .. '"p50_us": %d, "p90_us": %d, "p99_us": %d, "max_us": %d, "mean_us": %.1f}\\n',
    summary.requests, summary.duration, summary.bytes, e.status, e.connect, e.read,
    e.write, e.timeout, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max, latency.mean))
end
"""

SEED_LUA = """
local threads = 0
setup = function(thread)
  threads = threads + 1
  thread:set("thread_id", threads)
end
"""


def lua_list(values: list[str]) -> str:
    return "{" + ", ".join(json.dumps(v) for v in values) + "}"


def rotating_get_script(prefix: str, suffixes: list[str]) -> str:
    """GET prefix..suffix, each wrk thread walking the list from a random start."""
    return f"""
local items = {lua_list(suffixes)}
local n = 0
{SEED_LUA}
init = function(args) math.randomseed(os.time() * 100 + thread_id); n = math.random(#items) end
request = function()
  n = n % #items + 1
  return wrk.format("GET", "{prefix}" .. items[n])
end
{DONE_LUA}"""


def order_script(product_ids: list[str], token: str) -> str:
    """POST /api/v1/orders, 1-3 distinct random products, 1-3 of each."""
    return f"""
local ids = {lua_list(product_ids)}
local n = 0
{SEED_LUA}
init = function(args) math.randomseed(os.time() * 100 + thread_id) end
request = function()
  n = n + 1
  local count = math.random(3)
  local first = math.random(#ids)
  local lines = {{}}
  for i = 0, count - 1 do
    local id = ids[(first + i * 7 - 1) % #ids + 1]
    lines[#lines + 1] = string.format('{{"product_id": "%s", "quantity": %d}}', id, math.random(3))
  end
  local body = string.format('{{"email": "wrk-%d@example.com", "lines": [%s]}}', n, table.concat(lines, ", "))
  return wrk.format("POST", "/api/v1/orders", {{
    ["Content-Type"] = "application/json",
    ["Authorization"] = "Bearer {token}",
  }}, body)
end
{DONE_LUA}"""


def wrk_binary() -> str:
    found = shutil.which("wrk")
    if not found:
        raise SystemExit(WRK_MISSING)
    return found


def wrk_version(wrk: str) -> str:
    out = subprocess.run([wrk, "-v"], capture_output=True, text=True, check=False)
    return (out.stdout + out.stderr).split("Copyright")[0].strip()


async def run_wrk(argv: list[str]) -> tuple[dict[str, Any], str]:
    proc = await asyncio.create_subprocess_exec(
        *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    out, _ = await proc.communicate()
    text = out.decode(errors="replace")
    match = re.search(r"^WRK_JSON (\{.*\})$", text, re.MULTILINE)
    if proc.returncode != 0 or not match:
        raise RuntimeError(f"wrk failed ({proc.returncode}): {text[-2000:]}")
    return json.loads(match.group(1)), text


def figures(raw: dict[str, Any]) -> dict[str, Any]:
    seconds = raw["duration_us"] / 1e6
    errors = raw["connect_errors"] + raw["read_errors"] + raw["write_errors"] + raw["timeouts"]
    return {
        "requests": raw["requests"],
        "seconds": round(seconds, 2),
        "req_per_s": round(raw["requests"] / seconds, 1),
        "p50_ms": round(raw["p50_us"] / 1000, 2),
        "p90_ms": round(raw["p90_us"] / 1000, 2),
        "p99_ms": round(raw["p99_us"] / 1000, 2),
        "max_ms": round(raw["max_us"] / 1000, 2),
        "mean_ms": round(raw["mean_us"] / 1000, 2),
        "non_2xx": raw["non_2xx"],
        "socket_errors": errors,
        "valid": raw["non_2xx"] == 0 and errors == 0 and raw["requests"] > 0,
    }


async def measure(
    name: str, url: str, script: Path, args: argparse.Namespace, wrk: str
) -> dict[str, Any]:
    """Warm-up, then the measured run, with the RSS of every process sampled."""
    base = [
        wrk,
        f"-t{args.threads}",
        f"-c{args.connections}",
        f"--timeout={args.timeout}s",
        "--latency",
        "-s",
        str(script),
    ]
    if args.warmup > 0:
        await run_wrk([*base, f"-d{args.warmup}s", url])
    argv = [*base, f"-d{args.duration}s", url]
    with RssSampler(os.getpid()) as sampler:
        raw, text = await run_wrk(argv)
    result = {
        "target": name,
        "url": url,
        "command": shlex.join(["wrk", *argv[1:]]).replace(str(script), script.name),
        **figures(raw),
        "rss": sampler.result(),
        "wrk_output": text,
    }
    print(
        f"{name:<14} {result['req_per_s']:>9.1f} req/s  p50 {result['p50_ms']:>7.2f} ms"
        f"  p99 {result['p99_ms']:>8.2f} ms  non-2xx {result['non_2xx']}"
        f"  socket errors {result['socket_errors']}",
        flush=True,
    )
    return result


def seed(catalog_url: str, admin_token: str) -> None:
    """The sample catalog, through the API, exactly as `make seed` loads it."""
    subprocess.run(
        [
            sys.executable,
            "scripts/seed.py",
            "--url",
            catalog_url,
            "--token",
            admin_token,
            "--no-cart",
        ],
        cwd=ROOT,
        check=True,
        stdout=subprocess.DEVNULL,
    )


async def all_products(client: httpx.AsyncClient) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"limit": 100, **({"cursor": cursor} if cursor else {})}
        page = (await client.get("/api/v1/products", params=params)).raise_for_status().json()
        items += page["items"]
        cursor = page.get("next_cursor")
        if not cursor:
            return items


def list_filters(products: list[dict[str, Any]], second_page: str) -> list[str]:
    """Query strings of filtered lists a storefront sends: every category by slug (alone
    and in stock), price bands, a word of a product's name, the second page."""
    slugs = sorted({p["category"]["slug"] for p in products})
    words = sorted({w.lower() for p in products for w in re.findall(r"[A-Za-z]{4,}", p["name"])})
    queries = [f"?category={slug}" for slug in slugs]
    queries += [f"?category={slug}&in_stock=true" for slug in slugs]
    queries += ["?in_stock=true", "?min_price=0&max_price=50", "?min_price=50&max_price=500"]
    queries += [f"?q={word}" for word in random.Random(7).sample(words, min(10, len(words)))]
    return [*queries, f"?cursor={second_page}", "?limit=50"]


def search_words(products: list[dict[str, Any]], count: int = 60) -> list[str]:
    """Queries a shopper might type: two words of a product's name."""
    rng = random.Random(7)
    words = []
    for product in products:
        parts = [w for w in re.findall(r"[A-Za-z]+", product["name"]) if len(w) > 2]
        if len(parts) >= 2:
            words.append("+".join(rng.sample(parts, 2)).lower())
    rng.shuffle(words)
    return words[:count]


async def wait_indexed(
    indexer_url: str, expected: int, admin: dict[str, str], within: float, embedder: str
) -> None:
    """Until the indexer holds every product and has no lag."""

    async def indexed() -> bool:
        async with httpx.AsyncClient(base_url=indexer_url, timeout=10) as client:
            status = (await client.get("/api/v1/admin/index", headers=admin)).json()
        return bool(status["documents"] >= expected and status["lag"]["total"] == 0)

    await wait_until(indexed, within, f"{expected} products indexed ({embedder})", 0.5)


async def wait_orders_know(database_url: str, expected: int) -> None:
    """Until the orders service's read model holds every product (an order of any can
    be placed)."""

    def known_sync() -> bool:
        with psycopg.connect(libpq_dsn(database_url)) as conn:
            row = conn.execute("SELECT count(*) FROM orders.products").fetchone()
        return bool(row and row[0] >= expected)

    async def known() -> bool:
        return await asyncio.to_thread(known_sync)

    await wait_until(known, 120, f"{expected} products in the orders read model", 0.5)


@dataclass
class Stack:
    """The services a wrk bench measures, seeded with the sample catalog and indexed, and
    the bare uvicorn ceiling beside them."""

    env: dict[str, str]
    folder: Path
    label: str
    started: list[ServiceProcess]
    procs: dict[str, ServiceProcess]
    ceiling: ServiceProcess
    database_url: str
    admin_token: str
    products: list[dict[str, Any]]
    first_page: dict[str, Any]

    async def start(self, package: str, label: str, **extra_env: str) -> ServiceProcess:
        """One more service process on the stack's database and Redis (stopped with it)."""
        proc = ServiceProcess(
            package, {**self.env, **extra_env}, self.folder, f"{self.label}-{label}"
        )
        self.started.append(proc)
        await proc.wait_ready()
        return proc


@asynccontextmanager
async def seeded_stack(
    args: argparse.Namespace,
    folder: Path,
    label: str,
    services: tuple[str, ...],
    embedder: str,
    index_within: float = 300.0,
) -> AsyncIterator[Stack]:
    """Chroma, `python -m <service> serve` for each of `services` and `python -m
    bench.ceiling serve` on a fresh database and stream prefix; the sample catalog seeded
    through the API and indexed. Everything stopped, dropped and deleted on the way out."""
    from tests.support.chroma import ChromaProcess

    prefix = f"bench-{label}-{uuid.uuid4().hex[:8]}:"
    chroma = ChromaProcess()
    chroma.start()
    try:
        with (
            fresh_database(args.database_url, services, label) as database_url,
            processes() as started,
        ):
            env = service_env(
                database_url, args.redis_url, prefix, CHROMA_URL=chroma.url, EMBEDDER=embedder
            )
            for service in services:
                started.append(ServiceProcess(service, env, folder, f"{label}-{service}"))
            ceiling = ServiceProcess("bench.ceiling", dict(os.environ), folder, f"{label}-ceiling")
            started.append(ceiling)
            for proc in started:
                await proc.wait_ready()
            procs = {proc.package: proc for proc in started}
            admin_token = mint_token("bench", ["admin"], secret=SECRET)
            admin = {"Authorization": f"Bearer {admin_token}"}
            await asyncio.to_thread(seed, procs["catalog"].url, admin_token)
            async with httpx.AsyncClient(base_url=procs["catalog"].url, timeout=30) as client:
                products = await all_products(client)
                first_page = (await client.get("/api/v1/products")).raise_for_status().json()
            await wait_indexed(procs["indexer"].url, len(products), admin, index_within, embedder)
            yield Stack(
                env,
                folder,
                label,
                started,
                procs,
                ceiling,
                database_url,
                admin_token,
                products,
                first_page,
            )
    finally:
        chroma.remove()
        await delete_keys(args.redis_url, prefix)


async def run(args: argparse.Namespace, folder: Path) -> dict[str, Any]:
    wrk = wrk_binary()
    results: list[dict[str, Any]] = []
    async with seeded_stack(args, folder, "http", SERVICES, "hash") as stack:
        products, procs = stack.products, stack.procs
        await wait_orders_know(stack.database_url, len(products))
        ids = [p["id"] for p in products]
        simple = [p["id"] for p in products if p.get("kind", "simple") == "simple"]
        customer = mint_token("bench-customer", ["customer"], secret=SECRET, ttl_seconds=7200)
        scripts = {
            "ceiling": rotating_get_script("/api/v1/products/", ids),
            "product_get": rotating_get_script("/api/v1/products/", ids),
            "product_list": rotating_get_script("/api/v1/products", [""]),
            "product_list_filtered": rotating_get_script(
                "/api/v1/products", list_filters(products, stack.first_page["next_cursor"])
            ),
            "search": rotating_get_script("/api/v1/search?k=10&q=", search_words(products)),
            "order_place": order_script(simple, customer),
        }
        scripts["ceiling_again"] = scripts["ceiling"]
        urls = {
            "ceiling": stack.ceiling.url,
            "ceiling_again": stack.ceiling.url,
            "product_get": procs["catalog"].url,
            "product_list": procs["catalog"].url,
            "product_list_filtered": procs["catalog"].url,
            "search": procs["assistant"].url,
            "order_place": procs["orders"].url,
        }
        for name in TARGETS:
            if name not in args.targets:
                continue
            script = folder / f"{name}.lua"
            script.write_text(scripts[name])
            results.append(await measure(name, urls[name], script, args, wrk))
    return {
        "catalog_products": len(products),
        "targets": results,
        "wrk": wrk_version(wrk),
        **ratios(results),
    }


def ratios(results: list[dict[str, Any]]) -> dict[str, Any]:
    """Each target's req/s over the ceiling's (the mean of the ceiling runs); the lists'
    also over the product GET's (the list's target: at least half, ADR 0027)."""
    get = [r["req_per_s"] for r in results if r["target"] == "product_get"]
    for r in results:
        if r["target"] in LISTS and get and get[0] > 0:
            r["ratio_to_product_get"] = round(r["req_per_s"] / get[0], 3)
    ceilings = [r["req_per_s"] for r in results if r["target"].startswith("ceiling")]
    if not ceilings:
        return {}
    ceiling = statistics.fmean(ceilings)
    for r in results:
        if not r["target"].startswith("ceiling"):
            r["ratio_to_ceiling"] = round(r["req_per_s"] / ceiling, 3)
    return {"ceiling_req_per_s": round(ceiling, 1)}


def peak_rss(results: list[dict[str, Any]]) -> dict[str, float]:
    """Per process label, the largest RSS seen during any target's run."""
    peaks: dict[str, float] = {}
    for result in results:
        for name, peak in result["rss"].items():
            peaks[name] = max(peaks.get(name, 0.0), peak["peak_rss_mib"])
    return dict(sorted(peaks.items()))


def markdown(report: dict[str, Any]) -> str:
    m, r = report["machine"], report["results"]
    lines = [
        "# bench-http: service endpoints under wrk vs a bare uvicorn + FastAPI endpoint",
        "",
        f"{report['time']}, `{report['command']}`; {m['cores']} cores, {m['memory_mib']} MiB,"
        f" load {m['load_average']}, Python {m['python']}, {r['wrk']}.",
        f"wrk {report['parameters']['threads']} threads, {report['parameters']['connections']}"
        f" connections, {report['parameters']['duration']} s after a"
        f" {report['parameters']['warmup']} s warm-up; catalog of {r['catalog_products']}"
        " products; one uvicorn worker everywhere.",
        "",
        "| target | req/s | vs ceiling | vs product GET | p50 ms | p90 ms | p99 ms | non-2xx"
        " | socket errors |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for t in r["targets"]:
        ratio, to_get = t.get("ratio_to_ceiling"), t.get("ratio_to_product_get")
        flag = "" if t["valid"] else " (INVALID)"
        lines.append(
            f"| {t['target']}{flag} | {t['req_per_s']:.0f} | "
            f"{'' if ratio is None else f'{ratio:.2f}'} | "
            f"{'' if to_get is None else f'{to_get:.2f}'} | {t['p50_ms']} | {t['p90_ms']} | "
            f"{t['p99_ms']} | {t['non_2xx']} | {t['socket_errors']} |"
        )
    lines += ["", "Peak RSS under this load (MiB): "]
    lines.append(", ".join(f"{name} {mib:.0f}" for name, mib in r["peak_rss_mib"].items()) + ".")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.http", description=__doc__)
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--connections", type=int, default=32, help="wrk connections")
    parser.add_argument(
        "--profile",
        choices=tuple(PROFILES),
        default="full",
        help="defaults of --duration and --warmup (quick: checks the harness)",
    )
    parser.add_argument("--duration", type=int, help="measured seconds per target")
    parser.add_argument("--warmup", type=int, help="warm-up seconds per target")
    parser.add_argument(
        "--timeout",
        type=int,
        default=10,
        help="wrk's per-request timeout, seconds (a timed-out request invalidates the target)",
    )
    parser.add_argument("--targets", nargs="+", choices=TARGETS, default=list(TARGETS))
    add_server_arguments(parser)
    args = parser.parse_args(argv)
    for name, value in PROFILES[args.profile].items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    wrk_binary()
    sys.path.insert(0, str(ROOT))
    with service_logs("http") as folder:
        results = asyncio.run(run(args, folder))
    results["peak_rss_mib"] = peak_rss(results["targets"])
    report = {
        "benchmark": "http",
        "time": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": command("bench.http", argv),
        "parameters": {
            k: v for k, v in vars(args).items() if k not in ("database_url", "redis_url", "out")
        },
        "machine": machine(args.database_url, args.redis_url, ("psutil",)),
        "results": results,
    }
    out = result_path("http", args.out)
    out.write_text(json.dumps(report, indent=2) + "\n")
    out.with_suffix(".md").write_text(markdown(report))
    print(markdown(report))
    print(f"written to {out} and {out.with_suffix('.md')}")
    return 0 if all(t["valid"] for t in results["targets"]) else 1


if __name__ == "__main__":
    sys.exit(main())
