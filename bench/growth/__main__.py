"""`python -m bench.growth [--profile quick|full] [options]` (`make bench-growth`).

(a) Rebuild time at a fixed catalog against history length (`bench.growth.rebuild`):
N products with 1, 10 (and 100) changes each in the catalog's event table and
`events.catalog`; one rebuild per source (replay, snapshot) at each length, hash
embedder. Goal: the snapshot rebuild flat (the longest history within 1.2x of 1 change
per product).

(b) Redis memory over simulated days (`bench.growth.retention`): K orders a day through
the real saga's events on `events.orders|catalog|notifier`, a group per stream keeping
up, a 7-day retention applied once a day. Goal: flat after day 7 (day 30 within 1.1x of
day 8).

(c) The stock-events numbers: their share of `events.catalog`, the indexer's cost per
entry it reads (`Fold.add`, per kind), embedding calls per stock event on the live path
(`bench.growth.live`), which consumers handle them, and what splitting them off would
save per day at 10,000 orders a day.

Chroma servers are started for the run (temporary folders); PostgreSQL and Redis are the ones
of --database-url / --redis-url (databases and stream prefixes of the bench's own,
dropped afterwards). Results: bench/results/growth-<timestamp>.json, .md and -*.png.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import plots
from bench.growth import live, rebuild, retention
from bench.index.common import load_average, machine
from bench.machine import add_server_arguments, command, result_path, service_logs, write_result
from bench.report import growth as figures

PROFILES: dict[str, dict[str, Any]] = {
    "full": {
        "products": 10_000,
        "changes": [1, 10, 100],
        "rounds": 3,
        "orders_per_day": 10_000,
        "days": 30,
        "fold_sample": 200_000,
        "live_products": 200,
        "live_events": 300,
    },
    "quick": {
        "products": 1000,
        "changes": [1, 10],
        "rounds": 3,
        "orders_per_day": 1000,
        "days": 30,
        "fold_sample": 20_000,
        "live_products": 50,
        "live_events": 100,
    },
}
PARTS = ("rebuild", "memory", "live")
SHOP_ORDERS_PER_DAY = 10_000
"""The rate the split decision is priced at."""
CONSUMERS = {
    "orders": "needs them: its catalog read model keeps each product's stock"
    " (read_model.set_stock / set_option_stock), which cart pricing checks a line against",
    "indexer": "uses them: a product's `stock` and `in_stock` metadata (domain.apply folds"
    " STOCK_EVENTS), written to the product's document by the live sync",
    "assistant": "does not: its group reads events.catalog for categories only;"
    " every stock entry is read, decoded as an envelope and acknowledged unhandled",
}


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.growth", description=__doc__)
    parser.add_argument("--profile", choices=tuple(PROFILES), default="full")
    parser.add_argument("--parts", nargs="+", choices=PARTS, default=list(PARTS))
    parser.add_argument("--products", type=int, help="catalog size of (a)")
    parser.add_argument("--changes", type=int, nargs="+", help="changes per product of (a)")
    parser.add_argument("--rounds", type=int, help="rebuilds per source and length (best kept)")
    parser.add_argument("--orders-per-day", type=int, help="(b)")
    parser.add_argument("--days", type=int, help="simulated days of (b)")
    parser.add_argument("--fold-sample", type=int, help="entries timed through Fold.add")
    parser.add_argument("--live-products", type=int)
    parser.add_argument("--live-events", type=int, help="stock events sent to the indexer")
    parser.add_argument("--live-rate", type=float, default=20.0, help="stock events/s")
    add_server_arguments(parser)
    profile, _ = parser.parse_known_args(argv)
    parser.set_defaults(**PROFILES[profile.profile])
    return parser.parse_args(argv)


async def run(args: argparse.Namespace, log_dir: Path) -> dict[str, Any]:
    result: dict[str, Any] = {
        "bench": "growth",
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": command("bench.growth"),
        "profile": args.profile,
        "machine": machine(args.database_url),
        "load_average": {"before": load_average()},
    }
    if "rebuild" in args.parts:
        result["rebuild"] = await rebuild.run(
            args.products, args.changes, args.database_url, args.redis_url, log_dir,
            args.fold_sample, args.rounds,
        )  # fmt: skip
    if "memory" in args.parts:
        result["memory"] = await retention.run(
            args.redis_url, args.orders_per_day, args.days, products=1000
        )
    if "live" in args.parts:
        with rebuild.chroma_server() as chroma_url:
            result["live"] = await live.run(
                args.database_url, args.redis_url, chroma_url, log_dir,
                args.live_products, args.live_events, args.live_rate,
            )  # fmt: skip
    result["load_average"]["after"] = load_average()
    result["stock"] = stock_decision(result)
    return result


def stock_decision(result: dict[str, Any]) -> dict[str, Any]:
    """(c): the numbers for keeping stock events on `events.catalog` or splitting them."""
    out: dict[str, Any] = {"consumers": CONSUMERS}
    build = result.get("rebuild")
    if build:
        longest = build["lengths"][-1]
        out["history_stock_share"] = longest["stock_share"]
        out["history_changes_per_product"] = longest["changes_per_product"]
        out["fold_us_per_entry"] = {
            kind: v["us_per_entry"] for kind, v in build["fold"]["by_kind"].items()
        }
        out["fold_us_per_entry"]["mixed"] = build["fold"]["mixed_us_per_entry"]
    live_numbers = result.get("live")
    if live_numbers:
        out["texts_embedded_per_stock_event"] = live_numbers["texts_per_stock_event"]
        out["embed_calls_per_stock_event"] = live_numbers["embed_calls_per_stock_event"]
        out["documents_synced"] = live_numbers.get("documents_synced", {})
    memory = result.get("memory")
    if memory:
        per_order = memory["stock"]["stock_events_per_order"]
        stock = per_order * SHOP_ORDERS_PER_DAY
        catalog = memory["stock"]["catalog_entries_per_day"] / memory["orders_per_day"]
        scale = SHOP_ORDERS_PER_DAY / memory["orders_per_day"]
        day: dict[str, Any] = {
            "orders": SHOP_ORDERS_PER_DAY,
            "catalog_entries": round(catalog * SHOP_ORDERS_PER_DAY),
            "stock_entries": round(stock),
            "stock_share_of_catalog_entries": memory["stock"]["stock_share_of_catalog"],
            "stock_redis_bytes": round(memory["stock"]["stock_memory_bytes_per_day"] * scale),
        }
        fold = out.get("fold_us_per_entry", {})
        skip = next((v for k, v in fold.items() if k.startswith("other")), None)
        folded = next((v for k, v in fold.items() if k.startswith("stock")), None)
        if skip is not None:
            day["assistant_cpu_s_reading_them"] = round(stock * skip / 1e6, 2)
        if folded is not None:
            day["replay_cpu_s_added_per_day_of_history"] = round(stock * folded / 1e6, 2)
        if live_numbers:
            day["texts_embedded_for_them"] = round(stock * live_numbers["texts_per_stock_event"])
        out["per_day_at_10000_orders"] = day
    return out


def markdown(result: dict[str, Any]) -> str:
    m = result["machine"]
    lines = [
        f"# Growth bench ({result['profile']} profile), {result['when']}",
        "",
        f"`{result['command']}` at commit {m.get('commit')}; {m['cores']} cores,"
        f" {m['memory_mib']} MiB, PostgreSQL {m.get('postgresql')}; load average"
        f" {result['load_average']['before']} before, {result['load_average']['after']} after"
        " (a shared machine: other work ran beside the bench).",
        "",
        "| figure | value | unit | reference | ratio | target | met? | note |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for f in figures(result):
        met = {True: "yes", False: "**no**", None: ""}[f.met]
        ratio = "" if f.ratio is None else f"{f.ratio:.2f}"
        ref = "" if f.reference is None else f"{f.reference:g}"
        lines.append(
            f"| {f.figure} | {f.value:g} | {f.unit} | {ref} | {ratio} | {f.target} | {met}"
            f" | {f.note} |"
            if f.value is not None
            else f"| {f.figure} | | | | | | | {f.note} |"
        )
    lines += rebuild_table(result.get("rebuild"))
    lines += memory_table(result.get("memory"))
    lines += stock_lines(result["stock"])
    for name, path in result.get("plots", {}).items():
        lines += ["", f"![{name}]({path})"]
    return "\n".join(lines) + "\n"


def rebuild_table(build: dict[str, Any] | None) -> list[str]:
    if not build:
        return []
    sources = build["sources"]
    lines = [
        "",
        f"## (a) Rebuild of {build['products']:,} products against history length",
        "",
        "| changes/product | events.catalog entries | stock share | "
        + " | ".join(f"{s} s (entries read)" for s in sources)
        + " |",
        "|---:|---:|---:|" + "---:|" * len(sources),
    ]
    for row in build["lengths"]:
        cells = " | ".join(_rebuild_cell(row[s]) for s in sources)
        lines.append(
            f"| {row['changes_per_product']} | {row['entries']:,} | {row['stock_share']:.1%}"
            f" | {cells} |"
        )
    lines += [
        "",
        "Seconds: the fastest of the rounds (all listed), as the indexer's run records them"
        " (new collection to switch). Snapshot: `answered in` is the request until the"
        " catalog's snapshot was read whole; the rest is embedding and upserting.",
    ]
    if "snapshot" not in sources:
        lines += ["", "Snapshot source not measured: the indexer has no `rebuild_source` yet."]
    check = build["projection_check"]
    lines += [
        "",
        f"Projections written in bulk match the catalog's projector on {check['products']}"
        f" sampled products ({check['events_replayed']:,} events replayed through"
        " `CatalogProjector`).",
    ]
    return lines


def _rebuild_cell(run: dict[str, Any]) -> str:
    cell = f"{run['seconds']} ({run['events_read']:,})"
    if "snapshot_answered_seconds" in run:
        cell += f", answered in {run['snapshot_answered_seconds']}"
    rounds = run.get("every_round_seconds") or []
    if len(rounds) > 1:
        cell += f"; rounds {', '.join(map(str, rounds))}"
    return cell


def memory_table(memory: dict[str, Any] | None) -> list[str]:
    if not memory:
        return []
    lines = [
        "",
        f"## (b) Redis memory, {memory['orders_per_day']:,} orders/day, retention:"
        f" {memory['retention']}",
        "",
        f"{memory['events_per_order']} events per order; stream nodes"
        f" {memory['stream_node_config']}.",
        "",
        "| day | entries | MiB | bytes/entry | orders | catalog | notifier |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in memory["by_day"]:
        cells = " | ".join(
            f"{row[s]['entries']:,} / {row[s]['memory_bytes'] / 2**20:.1f}"
            for s in ("orders", "catalog", "notifier")
        )
        lines.append(
            f"| {row['day']} | {row['entries']:,} | {row['memory_bytes'] / 2**20:.1f}"
            f" | {row['bytes_per_entry']:.0f} | {cells} |"
        )
    lines += ["", "Per stream: entries / MiB."]
    return lines


def stock_lines(stock: dict[str, Any]) -> list[str]:
    lines = ["", "## (c) Stock events on events.catalog", ""]
    if "history_stock_share" in stock:
        lines.append(
            f"- Share of `events.catalog` entries that are stock events, history of (a) at"
            f" {stock['history_changes_per_product']} changes/product:"
            f" {stock['history_stock_share']:.1%}."
        )
    if "fold_us_per_entry" in stock:
        costs = "; ".join(f"{k}: {v} µs" for k, v in stock["fold_us_per_entry"].items())
        lines.append(f"- Indexer's `Fold.add` per entry read: {costs}.")
    if "texts_embedded_per_stock_event" in stock:
        texts = stock["texts_embedded_per_stock_event"]
        lines.append(
            f"- Live path: texts embedded per stock event {texts}, embedding calls per stock"
            f" event {stock['embed_calls_per_stock_event']}"
            + (
                " (a stock-only change re-embeds the product)."
                if texts >= 0.5
                else " (a stock-only change updates the document's metadata, no embedding)."
            )
        )
        if stock.get("documents_synced"):
            synced = ", ".join(f"{op} {n}" for op, n in stock["documents_synced"].items())
            lines.append(f"- Documents the live sync wrote for them, by operation: {synced}.")
    for name, what in stock["consumers"].items():
        lines.append(f"- {name}: {what}.")
    day = stock.get("per_day_at_10000_orders")
    if day:
        lines += ["", "Per day at 10,000 orders:", ""]
        lines += [f"- {k.replace('_', ' ')}: {v:,}" for k, v in day.items()]
    return lines


def main() -> None:
    args = parse(sys.argv[1:])
    path = result_path("growth", args.out)
    with service_logs("growth") as log_dir:
        result = asyncio.run(run(args, log_dir))
    result["plots"] = plots.write_all(
        {"benches": {"growth": {"result": result}}}, path.with_suffix(""), only=plots.GROWTH
    )
    write_result("growth", path, result, markdown(result))


if __name__ == "__main__":
    main()
