"""PNG plots of `make bench` (matplotlib, Agg: no display needed).

One function per plot, each reading the combined result and returning whether it drew
anything; a plot whose data is missing (its bench failed or was not run) is skipped.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.axes import Axes

Plot = Callable[[dict[str, Any], Axes], bool]
DRIVERS = ("wrk", "seed", "python")
"""Load generators and helpers, not what is measured: left out of the RSS plot."""


def _result(combined: dict[str, Any], bench: str) -> dict[str, Any] | None:
    entry = combined["benches"].get(bench, {})
    result = entry.get("result")
    return result if isinstance(result, dict) else None


def freshness(combined: dict[str, Any], ax: Axes) -> bool:
    """Write -> in the index, p50/p95/p99 against the offered write rate."""
    runs = [
        run
        for bench in ("freshness", "freshness-minilm")
        for run in (_result(combined, bench) or {}).get("freshness") or []
    ]
    if not runs:
        return False
    highest = lowest = 250.0
    for number, run in enumerate(runs):
        rates = [r["offered_per_s"] for r in run["by_rate"]]
        name = run["embedder"]
        if name != "hash" and run.get("torch_threads") is not None:
            name += f" ({run['torch_threads']} threads)"
        for q, style in (("p50_ms", ":"), ("p95_ms", "--"), ("p99_ms", "-")):
            values = [r["indexed"][q] for r in run["by_rate"]]
            highest, lowest = max(highest, *values), min(lowest, *values)
            ax.plot(rates, values, style, marker="o", color=f"C{number}", label=f"{name} {q[:3]}")
    ax.axhline(250, color="red", linewidth=0.8, label="target: p99 250 ms at 50/s (hash)")
    if any(run["embedder"] == "minilm" for run in runs):
        ax.plot([25], [500], "r*", markersize=10, label="target: p99 500 ms at 25/s (MiniLM)")
        highest = max(highest, 500.0)
    if highest / lowest > 30:
        ax.set_yscale("log")
    ax.set(
        xlabel="offered writes/s",
        ylabel="ms",
        title="Index freshness: catalog PATCH -> in the index",
    )
    ax.legend(fontsize=8)
    return True


def http(combined: dict[str, Any], ax: Axes) -> bool:
    """req/s per target, the bare uvicorn ceiling first, ratios written on the bars."""
    result = _result(combined, "http")
    if not result:
        return False
    targets = result["results"]["targets"]
    names = [t["target"].replace("_", "\n") for t in targets]
    rates = [t["req_per_s"] for t in targets]
    colors = ["grey" if t["target"].startswith("ceiling") else "tab:blue" for t in targets]
    bars = ax.bar(names, rates, color=colors)
    for bar, t in zip(bars, targets, strict=True):
        label = f"x{t['ratio_to_ceiling']:.2f}" if "ratio_to_ceiling" in t else "ceiling"
        if "ratio_to_product_get" in t:
            label += f"\nx{t['ratio_to_product_get']:.2f} of GET"
        if not t["valid"]:
            label += " INVALID"
        ax.annotate(
            f"{label}\np99 {t['p99_ms']:.0f} ms",
            (bar.get_x() + bar.get_width() / 2, bar.get_height()),
            ha="center",
            va="bottom",
            fontsize=7,
        )
    ax.set(ylabel="req/s", title="HTTP under wrk vs bare uvicorn + FastAPI (1 worker)")
    ax.tick_params(axis="x", labelsize=8)
    ax.margins(y=0.2)
    return True


def search_minilm(combined: dict[str, Any], ax: Axes) -> bool:
    """MiniLM search req/s, a call per request vs batched, beside the ceiling (log y)."""
    result = _result(combined, "search-minilm")
    if not result:
        return False
    r = result["results"]
    targets = r["targets"]
    bars = ax.bar(
        [t["target"].replace("_", "\n") for t in targets],
        [t["req_per_s"] for t in targets],
        color=["grey" if t["target"].startswith("ceiling") else "tab:purple" for t in targets],
    )
    for bar, t in zip(bars, targets, strict=True):
        label = f"x{t['ratio_to_ceiling']:.3f}" if "ratio_to_ceiling" in t else "ceiling"
        ax.annotate(
            f"{label}{'' if t['valid'] else ' INVALID'}\np99 {t['p99_ms']:.0f} ms",
            (bar.get_x() + bar.get_width() / 2, bar.get_height()),
            ha="center",
            va="bottom",
            fontsize=7,
        )
    ax.set_yscale("log")
    ax.margins(y=0.3)
    ax.set(
        ylabel="req/s (log)",
        title=f"Search with MiniLM: batched {r['batched_over_unbatched']}x a call per request"
        " (target 4x)",
    )
    return True


def rebuild_search(combined: dict[str, Any], ax: Axes) -> bool:
    """Search p50/p99 idle and during each rebuild, with the 2x-idle line of p99."""
    runs = [
        run
        for run in (_result(combined, "rebuild") or {}).get("rebuild") or []
        if isinstance(run.get("search_during_rebuild"), dict)
        and isinstance(run.get("search_idle"), dict)
    ]
    if not runs:
        return False
    width = 0.2
    for number, run in enumerate(runs):
        idle, during = run["search_idle"], run["search_during_rebuild"]
        bars = [
            ("idle p50", idle["p50_ms"], "tab:green"),
            ("during p50", during["p50_ms"], "tab:orange"),
            ("idle p99", idle["p99_ms"], "darkgreen"),
            ("during p99", during["p99_ms"], "tab:red"),
        ]
        for i, (name, value, color) in enumerate(bars):
            x = number + (i - 1.5) * width
            ax.bar(x, value, width, color=color, label=name if number == 0 else None)
        ax.hlines(
            2 * idle["p99_ms"],
            number - 2 * width,
            number + 2 * width,
            colors="red",
            linestyles=":",
            label="target: p99 <= 2x idle" if number == 0 else "_nolegend_",
        )
    ax.set_xticks(range(len(runs)), [f"{run['products']:,} products" for run in runs])
    ax.set(ylabel="ms", title="Search latency during a rebuild vs idle")
    ax.legend(fontsize=8)
    return True


def orders_cpu(combined: dict[str, Any], ax: Axes) -> bool:
    """CPU ms per confirmed order of each orders run, stacked by process, with the
    baseline and issue 21's target (half of it)."""
    from bench.report import CPU_BASELINE_MS, CPU_TARGET_MS

    runs = [
        run
        for run in (_result(combined, "orders") or {}).get("runs") or []
        if run.get("cpu_ms_per_order")
    ]
    if not runs:
        return False
    roles = list(dict.fromkeys(role for run in runs for role in run["cpu_ms_per_order"]))
    names = [
        f"{run.get('path', 'direct')} {run['profile']}\n{run['replicas']} repl."
        + (", fresh SMTP" if run.get("smtp_sessions") == "fresh" else "")
        for run in runs
    ]
    bottom = [0.0] * len(runs)
    for number, role in enumerate(roles):
        values = [run["cpu_ms_per_order"].get(role, 0.0) for run in runs]
        ax.bar(names, values, bottom=bottom, color=f"C{number % 10}", label=role)
        bottom = [b + v for b, v in zip(bottom, values, strict=True)]
    ax.axhline(CPU_BASELINE_MS, color="grey", linestyle="--", linewidth=0.8,
               label=f"baseline {CPU_BASELINE_MS:g} ms")  # fmt: skip
    ax.axhline(CPU_TARGET_MS, color="red", linewidth=0.8, label=f"target {CPU_TARGET_MS:g} ms")
    ax.set(ylabel="CPU ms per confirmed order", title="CPU per confirmed order, by process")
    ax.tick_params(axis="x", labelsize=7)
    ax.legend(fontsize=7, ncol=2)
    return True


def scaleout(combined: dict[str, Any], ax: Axes) -> bool:
    """Throughput against consumers (indexer, notifier), with the linear line from one."""
    series: dict[str, list[dict[str, Any]]] = {}
    index = _result(combined, "scaleout")
    if index and isinstance(index.get("scaleout"), dict):
        series["indexer (events/s)"] = index["scaleout"].get("medians") or []
    notifier = _result(combined, "notifier")
    if notifier:
        series["notifier (e-mails/s)"] = notifier.get("medians") or []
    replicas: set[int] = set()
    for name, medians in series.items():
        points = sorted(
            (m["replicas"], rate)
            for m in medians
            if (rate := m.get("consumed_per_s") or m.get("emails_per_s"))
        )
        if not points:
            continue
        xs, ys = zip(*points, strict=True)
        base = ys[0] / xs[0]  # per consumer, at the smallest count measured
        ax.plot(xs, [y / base for y in ys], marker="o", label=f"{name}, one consumer {base:.0f}/s")
        replicas.update(xs)
    if not replicas:
        return False
    ax.plot(sorted(replicas), sorted(replicas), ":", color="grey", label="linear")
    ax.set(
        xlabel="consumers",
        ylabel="throughput / one consumer's",
        title="Scale-out: speed-up over one consumer",
    )
    ax.set_xticks(sorted(replicas))
    ax.legend(fontsize=8)
    return True


def rss(combined: dict[str, Any], ax: Axes) -> bool:
    """Peak RSS of each process kind over every bench."""
    peaks = {
        name: peak
        for name, peak in (combined.get("rss_peaks") or {}).items()
        if not name.startswith("bench") and name not in DRIVERS
    }
    if not peaks:
        return False
    names = list(peaks)
    bars = ax.bar(names, [p["peak_rss_mib"] for p in peaks.values()], color="tab:green")
    for bar, peak in zip(bars, peaks.values(), strict=True):
        ax.annotate(
            peak["bench"],
            (bar.get_x() + bar.get_width() / 2, bar.get_height()),
            ha="center",
            va="bottom",
            fontsize=7,
        )
    ax.set(ylabel="MiB", title="Peak RSS of one process, over every bench (label: which)")
    ax.tick_params(axis="x", labelrotation=45, labelsize=8)
    return True


def growth_rebuild(combined: dict[str, Any], ax: Axes) -> bool:
    """Rebuild seconds against changes per product (log x), one line per source."""
    result = _result(combined, "growth")
    build = (result or {}).get("rebuild")
    if not build or not build.get("lengths"):
        return False
    rows = build["lengths"]
    xs = [row["changes_per_product"] for row in rows]
    for source in build["sources"]:
        ax.plot(xs, [row[source]["seconds"] for row in rows], marker="o", label=source)
    if "snapshot" in build["sources"]:
        first = rows[0]["snapshot"]["seconds"]
        ax.axhline(1.2 * first, color="red", linewidth=0.8, label="goal: snapshot within 1.2x")
    ax.set_xscale("log")
    ax.set_xticks(xs, [str(x) for x in xs])
    ax.minorticks_off()
    ax.set_ylim(bottom=0)
    ax.set(
        xlabel="changes per product in history (log)",
        ylabel="rebuild seconds",
        title=f"Rebuild of {build['products']:,} products against history length",
    )
    ax.legend(fontsize=8)
    return True


def growth_memory(combined: dict[str, Any], ax: Axes) -> bool:
    """Redis memory per stream and in total against the simulated day."""
    result = _result(combined, "growth")
    memory = (result or {}).get("memory")
    if not memory or not memory.get("by_day"):
        return False
    rows = memory["by_day"]
    days = [row["day"] for row in rows]
    ax.plot(days, [row["memory_bytes"] / 2**20 for row in rows], marker=".", label="total")
    for stream in ("orders", "catalog", "notifier"):
        values = [row[stream]["memory_bytes"] / 2**20 for row in rows]
        ax.plot(days, values, linestyle="--", label=f"events.{stream}")
    ax.set_ylim(bottom=0)
    ax.axvline(7, color="grey", linewidth=0.8, label="retention: 7 days")
    ax.set(
        xlabel="simulated day",
        ylabel="MiB (MEMORY USAGE)",
        title=f"Redis memory, {memory['orders_per_day']:,} orders/day, 7-day retention",
    )
    ax.legend(fontsize=8)
    return True


PLOTS: dict[str, Plot] = {
    "freshness": freshness,
    "http": http,
    "search-minilm": search_minilm,
    "rebuild-search": rebuild_search,
    "orders-cpu": orders_cpu,
    "scaleout": scaleout,
    "rss": rss,
    "growth-rebuild": growth_rebuild,
    "growth-memory": growth_memory,
}
GROWTH = ("growth-rebuild", "growth-memory")


def write_all(
    combined: dict[str, Any], stem: Path, only: tuple[str, ...] | None = None
) -> dict[str, str]:
    """Every plot with data (of `only`, when given) as <stem>-<name>.png; returns name ->
    file name (relative to the stem's folder, as the markdown links them). A failing plot
    is reported, skipped."""
    written: dict[str, str] = {}
    stem.parent.mkdir(parents=True, exist_ok=True)
    for name, plot in PLOTS.items():
        if only is not None and name not in only:
            continue
        fig, ax = plt.subplots(figsize=(8, 4.5), dpi=100)
        try:
            if plot(combined, ax):
                fig.tight_layout()
                path = stem.parent / f"{stem.name}-{name}.png"
                fig.savefig(path)
                written[name] = path.name
        except (KeyError, TypeError, ValueError) as exc:
            print(f"plot {name} skipped: {exc!r}")
        finally:
            plt.close(fig)
    return written
