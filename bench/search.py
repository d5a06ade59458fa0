"""`python -m bench.search`: search with the MiniLM embedder under wrk, the assistant's
requests batched (ADR 0028) against one encode and one Chroma query per request, each
next to the bare uvicorn ceiling of the same run.

The bench starts Chroma and `python -m catalog|indexer|assistant serve` with
`EMBEDDER=minilm` on a fresh database (MiniLM must be installed: `make
install-local-model`), seeds the sample catalog, waits until it is indexed, and starts a
second assistant with `SEARCH_BATCH=1` (a call per request, the code before batching).
wrk then runs, in this order: the ceiling, search unbatched, search batched, the
ceiling again. Every request is a new query (two random words of the catalog's product
names: about a hundred thousand pairs, so the assistant's cache of 1,024 query vectors
rarely answers): each search embeds its query. Reported per target: req/s,
p50/p90/p99, errors, ratio to the ceiling, and batched over unbatched. Results:
bench/results/search-<timestamp>.json and .md (or `--out`).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.http import (
    DONE_LUA,
    SEED_LUA,
    lua_list,
    measure,
    peak_rss,
    ratios,
    rotating_get_script,
    seeded_stack,
    wrk_binary,
    wrk_version,
)
from bench.machine import ROOT, add_server_arguments, command, machine, result_path, service_logs
from marcus_search import local_model_available

SERVICES = ("catalog", "indexer", "assistant")
PROFILES = {"full": {"duration": 10, "warmup": 3}, "quick": {"duration": 3, "warmup": 1}}
TARGETS = ("ceiling", "search_unbatched", "search_batched", "ceiling_again")


def fresh_query_script(words: list[str]) -> str:
    """GET /api/v1/search?k=10&q=<two random words>: a new query nearly every time."""
    return f"""
local words = {lua_list(words)}
{SEED_LUA}
init = function(args) math.randomseed(os.time() * 100 + thread_id) end
request = function()
  local q = words[math.random(#words)] .. "+" .. words[math.random(#words)]
  return wrk.format("GET", "/api/v1/search?k=10&q=" .. q)
end
{DONE_LUA}"""


def vocabulary(products: list[dict[str, Any]]) -> list[str]:
    return sorted({w.lower() for p in products for w in re.findall(r"[A-Za-z]{3,}", p["name"])})


async def run(args: argparse.Namespace, folder: Path) -> dict[str, Any]:
    wrk = wrk_binary()
    results: list[dict[str, Any]] = []
    async with seeded_stack(args, folder, "search", SERVICES, "minilm", index_within=600) as stack:
        unbatched = await stack.start("assistant", "assistant-unbatched", SEARCH_BATCH="1")
        script = folder / "search.lua"
        script.write_text(fresh_query_script(vocabulary(stack.products)))
        ceiling_script = folder / "ceiling.lua"
        ceiling_script.write_text(
            rotating_get_script("/api/v1/products/", [p["id"] for p in stack.products])
        )
        urls = {
            "ceiling": stack.ceiling.url,
            "search_unbatched": unbatched.url,
            "search_batched": stack.procs["assistant"].url,
            "ceiling_again": stack.ceiling.url,
        }
        for name in TARGETS:
            target_script = ceiling_script if name.startswith("ceiling") else script
            results.append(await measure(name, urls[name], target_script, args, wrk))
    by_name = {r["target"]: r["req_per_s"] for r in results}
    speedup = by_name["search_batched"] / max(by_name["search_unbatched"], 1e-9)
    return {
        "catalog_products": len(stack.products),
        "targets": results,
        "wrk": wrk_version(wrk),
        "batched_over_unbatched": round(speedup, 2),
        **ratios(results),
    }


def markdown(report: dict[str, Any]) -> str:
    m, r = report["machine"], report["results"]
    lines = [
        "# bench-search: search with MiniLM, batched vs a call per request, vs bare uvicorn",
        "",
        f"{report['time']}, `{report['command']}`; {m['cores']} cores, {m['memory_mib']} MiB,"
        f" load {m['load_average']}, Python {m['python']}, wrk {r['wrk']}.",
        f"Catalog of {r['catalog_products']} products; every request a new query;"
        f" batched / unbatched req/s: **{r['batched_over_unbatched']}x**.",
        "",
        "| target | req/s | vs ceiling | p50 ms | p90 ms | p99 ms | non-2xx | socket errors |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for t in r["targets"]:
        ratio = t.get("ratio_to_ceiling")
        lines.append(
            f"| {t['target']}{'' if t['valid'] else ' (INVALID)'} | {t['req_per_s']:.0f} | "
            f"{'' if ratio is None else f'{ratio:.3f}'} | {t['p50_ms']} | {t['p90_ms']} | "
            f"{t['p99_ms']} | {t['non_2xx']} | {t['socket_errors']} |"
        )
    peaks = ", ".join(f"{k} {v:.0f}" for k, v in r["peak_rss_mib"].items())
    return "\n".join([*lines, "", f"Peak RSS under this load (MiB): {peaks}.", ""])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.search", description=__doc__)
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--connections", type=int, default=32, help="wrk connections")
    parser.add_argument("--profile", choices=tuple(PROFILES), default="full")
    parser.add_argument("--duration", type=int, help="measured seconds per target")
    parser.add_argument("--warmup", type=int, help="warm-up seconds per target")
    parser.add_argument("--timeout", type=int, default=10, help="wrk's per-request timeout, s")
    add_server_arguments(parser)
    args = parser.parse_args(argv)
    for name, value in PROFILES[args.profile].items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    if not local_model_available():
        raise SystemExit("bench.search needs the local MiniLM: make install-local-model")
    wrk_binary()
    sys.path.insert(0, str(ROOT))
    with service_logs("search") as folder:
        results = asyncio.run(run(args, folder))
    results["peak_rss_mib"] = peak_rss(results["targets"])
    report = {
        "benchmark": "search",
        "time": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": command("bench.search", argv),
        "parameters": {
            k: v for k, v in vars(args).items() if k not in ("database_url", "redis_url", "out")
        },
        "machine": machine(args.database_url, args.redis_url, ("psutil",)),
        "results": results,
    }
    out = result_path("search", args.out)
    out.write_text(json.dumps(report, indent=2) + "\n")
    out.with_suffix(".md").write_text(markdown(report))
    print(markdown(report))
    print(f"written to {out} and {out.with_suffix('.md')}")
    return 0 if all(t["valid"] for t in results["targets"]) else 1


if __name__ == "__main__":
    sys.exit(main())
