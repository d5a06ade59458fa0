"""`python -m bench.index [freshness] [scaleout] [rebuild] [options]` (`make bench-index`).

No benchmark named: all three. `--profile quick|full` picks the defaults of every option
below (quick: small runs that check the harness, numbers too small to quote; full: what
the figures are measured with); an option given on the command line wins. One Chroma server (`chroma run`, temporary folder) serves
the whole run; PostgreSQL and Redis are the ones named by --database-url / --redis-url
(each benchmark works in databases and stream prefixes of its own, dropped afterwards).
Results: bench/results/index-<timestamp>.json (every number, machine, versions, command)
and .md (the tables). Service logs of the run: a temporary folder, printed on failure.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis

from bench.index import freshness, rebuild, scaleout
from bench.index.common import ROOT, load_average, machine
from bench.index.report import markdown
from bench.machine import add_server_arguments, command, service_logs, write_result

BENCHMARKS = ("freshness", "scaleout", "rebuild")
PROFILES: dict[str, dict[str, Any]] = {
    "full": {
        "rates": [10.0, 25.0, 50.0, 100.0],
        "updates": 500,
        "catalog": 500,
        "rounds": 3,
        "backlog": 5000,
        "products": [10_000, 100_000],
        "search_s": 30.0,
        # 150 idle searches at 5/s for the p99 the rebuild's is compared with: the p99 of
        # 50 searches is just their slowest one.
    },
    "quick": {
        "rates": [10.0, 50.0],
        "updates": 150,
        "catalog": 200,
        "rounds": 1,
        "backlog": 1000,
        "products": [2000],
        "search_s": 3.0,
        "idle_s": 3.0,
        "torch_threads": [1],
    },
}


def default_embedders() -> list[str]:
    from marcus_search import local_model_available

    return ["hash", "minilm"] if local_model_available() else ["hash"]


def threads(value: str) -> int | None:
    return None if value == "default" else int(value)


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.index", description=__doc__)
    parser.add_argument("benchmarks", nargs="*", metavar="{freshness,scaleout,rebuild}")
    parser.add_argument(
        "--profile", choices=tuple(PROFILES), default="full", help="defaults of the options"
    )
    fresh = parser.add_argument_group("freshness")
    fresh.add_argument("--embedders", nargs="+", help="default: hash, and minilm if installed")
    fresh.add_argument("--rates", type=float, nargs="+", help="offered writes/s: the curve")
    fresh.add_argument("--updates", type=int, default=500, help="per rate and round")
    fresh.add_argument("--catalog", type=int, default=500, help="products (>= --updates)")
    fresh.add_argument("--warmup", type=int, default=20, help="updates before measuring")
    fresh.add_argument("--poll-ms", type=float, default=20.0, help="Chroma watch interval")
    fresh.add_argument(
        "--confirm-every",
        type=int,
        default=10,
        help="every Nth update is also awaited in the assistant's search (1: all)",
    )
    fresh.add_argument("--idle-s", type=float, default=10.0, help="idle CPU measured this long")
    fresh.add_argument(
        "--torch-threads",
        type=threads,
        nargs="+",
        default=[None, 1],
        help="MiniLM stacks: EMBEDDER_THREADS of the services, one stack per value "
        "(`default`: torch's one thread per core; default: default 1)",
    )
    fresh.add_argument("--timeout", type=float, default=180.0, help="per update / per drain")
    scale = parser.add_argument_group("scaleout")
    scale.add_argument("--backlog", type=int, default=5000)
    scale.add_argument("--replicas", type=int, nargs="+", default=[1, 2, 3])
    build = parser.add_argument_group("rebuild")
    build.add_argument("--products", type=int, nargs="+", default=[10_000, 100_000])
    build.add_argument("--batch", type=int, default=256)
    build.add_argument("--search-rate", type=float, default=5.0, help="searches/s (open loop)")
    build.add_argument("--search-s", type=float, help="idle search baseline, seconds")
    build.add_argument(
        "--write-chunk",
        type=int,
        help="REBUILD_WRITE_CHUNK of both rebuilds (default: the indexer's; 0: unpaced)",
    )
    build.add_argument(
        "--write-gap",
        type=float,
        help="REBUILD_WRITE_GAP of both rebuilds (default: the indexer's)",
    )
    build.add_argument(
        "--compare-unpaced",
        action="store_true",
        help="also measure both rebuilds unpaced first, in the same run (row's `unpaced`)",
    )
    build.add_argument(
        "--one-server",
        action="store_true",
        help="no alternate Chroma server (CHROMA_ALT_URL unset): the second rebuild writes "
        "to the server that answers the searches, as before ADR 0035",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="freshness and scaleout: every setting this many times, interleaved; medians",
    )
    add_server_arguments(parser)
    profile, _ = parser.parse_known_args(argv)
    parser.set_defaults(**PROFILES[profile.profile])
    args = parser.parse_args(argv)
    unknown = set(args.benchmarks) - set(BENCHMARKS)
    if unknown:
        parser.error(f"unknown benchmark(s) {sorted(unknown)}; choose from {BENCHMARKS}")
    args.benchmarks = [b for b in BENCHMARKS if b in args.benchmarks] or list(BENCHMARKS)
    args.embedders = args.embedders or default_embedders()
    if args.updates > args.catalog:
        parser.error("--updates must not exceed --catalog (one outstanding update per product)")
    return args


async def run(args: argparse.Namespace, log_dir: Path) -> dict[str, Any]:
    sys.path.insert(0, str(ROOT))
    from tests.support.chroma import ChromaProcess

    redis = aioredis.from_url(args.redis_url)
    redis_version = (await redis.info("server")).get("redis_version")
    await redis.aclose()
    result: dict[str, Any] = {
        "benchmark": "index",
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": command("bench.index"),
        "profile": args.profile,
        "machine": machine(args.database_url),
        "redis": redis_version,
        "load_average": {"before": load_average()},
    }
    chroma = ChromaProcess()
    alt = ChromaProcess()
    """The alternate server of the rebuild bench (ADR 0035), as the stack runs it."""
    chroma.start()
    assert chroma.proc is not None
    try:
        if "freshness" in args.benchmarks:
            result["freshness"] = [
                await freshness.run_embedder(
                    embedder, torch_threads, args, chroma.url, chroma.proc.pid, log_dir
                )
                for embedder in args.embedders
                for torch_threads in (args.torch_threads if embedder == "minilm" else [None])
            ]
        if "scaleout" in args.benchmarks:
            result["scaleout"] = await scaleout.run(args, chroma.url, chroma.proc.pid, log_dir)
        if "rebuild" in args.benchmarks:
            if args.one_server:
                result["rebuild"] = await rebuild.run(args, chroma.url, None, log_dir)
            else:
                alt.start()
                result["rebuild"] = await rebuild.run(args, chroma.url, alt.url, log_dir)
    finally:
        chroma.remove()
        alt.remove()
    result["load_average"]["after"] = load_average()
    return result


def main() -> None:
    args = parse(sys.argv[1:])
    logging.basicConfig(level=logging.WARNING)
    with service_logs("index") as log_dir:
        result = asyncio.run(run(args, log_dir))
    write_result("index", args.out, result, markdown(result))


if __name__ == "__main__":
    main()
