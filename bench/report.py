"""The figures table of `make bench`: each bench's result read into rows of figure,
value, reference (the ceiling measured in the same run), ratio, target and met?.

Readers are lenient: a bench whose result lacks a figure (an older result, a bench
that failed half way) gives an error row for it, never an exception, so one bench's
shape never costs the others their rows.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from typing import Any

SERVICES = ("catalog", "orders", "assistant", "indexer", "scheduler", "notifier", "chroma")
"""Processes whose peak RSS is a figure (the stack's); the others (load generators, the
benches' own drivers) are in the per-bench table only."""


@dataclass
class Figure:
    bench: str
    figure: str
    value: float | None
    unit: str
    reference: float | None = None
    """The ceiling (or the compared system) measured in the same run."""
    ratio: float | None = None
    target: str = ""
    met: bool | None = None
    note: str = ""
    key: str = ""
    """Which target of the issues this row judges (TARGETS), empty for a reported figure."""


Reader = Callable[[dict[str, Any]], Iterator[Figure]]


def bus(result: dict[str, Any]) -> Iterator[Figure]:
    r = result["results"]
    paths = [
        ("full_split", "raw_split", "outbox -> relay -> stream -> consumer, separate processes"),
        ("full", "raw", "outbox -> relay -> stream -> consumer, one process"),
    ]
    headline = None
    for path, raw, label in paths:
        if f"{path}_events_per_s" not in r:
            continue
        ratio = r[f"{path}_ratio"]
        headline = headline or r[f"{path}_events_per_s"]
        yield Figure(
            "bus",
            f"bus: {label} (ref: raw redis-py, same process layout)",
            r[f"{path}_events_per_s"],
            "events/s",
            r[f"{raw}_events_per_s"],
            ratio,
            ">= 0.50 of raw",
            ratio >= 0.5,
            key="bus_raw",
        )
    for entry in r.get("celery", []):
        yield Figure(
            "bus",
            f"bus vs Celery ({entry['pool']}) no-op tasks on Redis (ref: Celery tasks/s)",
            headline,
            "events/s",
            entry["tasks_per_s"],
            entry["bus_ratio"],
            ">= 10x Celery",
            entry["bus_ratio"] >= 10,
            key="bus_celery",
        )


FRESHNESS_TARGETS = {("hash", 50.0): 250.0, ("minilm", 25.0): 500.0}
"""p99 targets (ms) of PATCH -> in the index, by embedder and offered writes/s."""
FRESHNESS_KEYS = {("hash", 50.0): "freshness_hash_50", ("minilm", 25.0): "freshness_minilm_25"}


SHIPPED_TORCH_THREADS = 1
"""The indexer's default `EMBEDDER_THREADS`: the MiniLM run that the target judges (a run
with torch's one thread per core, the bench's `default`, is shown beside it)."""


def freshness(result: dict[str, Any]) -> Iterator[Figure]:
    for run in result["freshness"]:
        threads = run.get("torch_threads")
        shipped = run["embedder"] != "minilm" or threads == SHIPPED_TORCH_THREADS
        if run["embedder"] == "hash":
            name = "hash"
        elif threads == "default":
            name = f"{run['embedder']}, a torch thread per core"
        else:
            name = f"{run['embedder']}, {threads} torch thread{'s' if threads != 1 else ''}"
        for rate in run["by_rate"]:
            indexed = rate["indexed"]
            offered = rate["offered_per_s"]
            goal = FRESHNESS_TARGETS.get((run["embedder"], offered)) if shipped else None
            searchable = rate.get("searchable")
            yield Figure(
                "freshness",
                f"freshness p99 ({name}) at {offered:g} writes/s: PATCH -> in the index",
                indexed["p99_ms"],
                "ms",
                target=f"<= {goal:g} ms ({run['embedder']}, {offered:g}/s)" if goal else "",
                met=indexed["p99_ms"] <= goal if goal else None,
                note=f"p50 {indexed['p50_ms']} / p95 {indexed['p95_ms']} ms; achieved"
                f" {rate.get('achieved_per_s')}/s"
                + (
                    f"; found by search (sample) p99 {searchable['p99_ms']} ms"
                    if searchable
                    else ""
                ),
                key=FRESHNESS_KEYS.get((run["embedder"], offered), "") if shipped else "",
            )


REBUILD_SEARCH_P99 = 2.0
"""Search p99 during a rebuild at most this many times idle (issue 21; was 8.6x at 10k
and 8.9x at 100k products, 482 and 1,035 ms)."""


def rebuild(result: dict[str, Any]) -> Iterator[Figure]:
    for run in result["rebuild"]:
        yield Figure(
            "rebuild",
            f"rebuild of {run['products']:,} products (ref: raw embed+upsert)",
            run["rebuild_docs_per_s"],
            "docs/s",
            run["ceiling_docs_per_s"],
            run["ratio"],
            ">= 0.80 of raw",
            run["ratio"] >= 0.8,
            key="rebuild_ratio",
        )
        yield rebuild_search(run)


def rebuild_search(run: dict[str, Any]) -> Figure:
    """Search p99 during the rebuild over idle: judged, or reported missing."""
    idle, during = run.get("search_idle"), run.get("search_during_rebuild")
    idle = idle if isinstance(idle, dict) else {}
    during = during if isinstance(during, dict) else {}
    ratio = run.get("search_p99_ratio")
    if ratio is None and during.get("p99_ms") and idle.get("p99_ms"):
        ratio = round(during["p99_ms"] / idle["p99_ms"], 2)
    figure = Figure(
        "rebuild",
        f"search p99 during the rebuild of {run['products']:,} (ref: idle)",
        during.get("p99_ms"),
        "ms",
        idle.get("p99_ms"),
        ratio,
        f"<= {REBUILD_SEARCH_P99:g}x idle",
        None if ratio is None else ratio <= REBUILD_SEARCH_P99,
        key="rebuild_search_p99",
    )
    if ratio is None:
        figure.note = "missing: no search p99 idle and during this rebuild"
    else:
        servers = run.get("chroma_servers")
        figure.note = (
            f"p50 {during.get('p50_ms')} ms (idle {idle.get('p50_ms')} ms)"
            f" at {run.get('search_rate_per_s')} searches/s"
            + ("" if servers is None else f"; {servers} Chroma server{'s' * (servers > 1)}")
        )
    return figure


def scale_rows(
    bench: str, what: str, block: dict[str, Any], cores: int, unit: str = "events/s"
) -> Iterator[Figure]:
    medians = block.get("medians") or []
    one = next((m for m in medians if m["replicas"] == 1), None)
    for m in medians:
        rate = _rate(m)
        ratio = rate / one_rate if one and (one_rate := _rate(one)) and rate else None
        busy = m.get("cores_busy")
        linear = ratio is not None and ratio >= 0.8 * m["replicas"]
        saturated = busy is not None and busy >= 0.85 * cores
        yield Figure(
            bench,
            f"scale-out: {what}, {m['replicas']} consumer(s) (ref: 1 consumer)",
            rate,
            unit,
            _rate(one) if one else None,
            round(ratio, 3) if ratio is not None else None,
            "~linear until the cores are busy",
            None if m["replicas"] == 1 else (linear or saturated),
            note="" if busy is None else f"cores busy {busy} of {cores}",
            key="" if m["replicas"] == 1 else f"scaleout_{what.replace(' ', '_')}",
        )


def _rate(m: dict[str, Any]) -> float | None:
    value = m.get("consumed_per_s") or m.get("emails_per_s") or m.get("events_per_s")
    return float(value) if value else None


def scaleout(result: dict[str, Any]) -> Iterator[Figure]:
    cores = int(result.get("machine", {}).get("cores") or 2)
    for key, block in result.items():
        if not isinstance(block, dict) or ("scaleout" not in key and key != "notifier"):
            continue
        what = "indexer" if key == "scaleout" else key.replace("_scaleout", "").replace("_", " ")
        yield from scale_rows("scaleout", what, block, cores)


def notifier(result: dict[str, Any]) -> Iterator[Figure]:
    cores = int(result.get("machine", {}).get("cores") or 2)
    yield from scale_rows("notifier", "notifier", result, cores, "e-mails/s")


LISTS = ("product_list", "product_list_filtered")
LIST_TO_GET = 0.5
"""The lists' target: at least half the product GET's req/s in the same run (issue 21)."""
OLD_SEARCH_RATIO = 0.047
"""Hash search over bare uvicorn before issue 21 (630 of 13,504 req/s, the full run of
2026-11-28, quoted as 0.05); the target is twice that."""
OLD = {
    "product_list": "was 734 req/s, 0.054 of bare uvicorn",
    "search": "was 630 req/s, 0.047",
    "order_place": "was 78 req/s, p50 336 ms",
}
"""Figures of the full run of 2026-11-28, quoted in issue 21, for the notes."""


def http(result: dict[str, Any], bench: str = "http") -> Iterator[Figure]:
    """Each wrk target against bare uvicorn; the lists against the product GET."""
    r = result["results"]
    ceiling = r.get("ceiling_req_per_s")
    get = next((t for t in r["targets"] if t["target"] == "product_get"), None)
    for t in r["targets"]:
        if t["target"] in LISTS:
            yield list_page(bench, t, get)
        else:
            yield to_ceiling(bench, t, ceiling)


def _latency(t: dict[str, Any], *also: str) -> str:
    """Validity, latency, what else is given, and the figure before issue 21."""
    invalid = [] if t["valid"] else [f"INVALID: {t['non_2xx']} non-2xx"]
    old = [OLD[t["target"]]] if t["target"] in OLD else []
    return "; ".join([*invalid, f"p50 {t['p50_ms']} / p99 {t['p99_ms']} ms", *also, *old])


def to_ceiling(bench: str, t: dict[str, Any], ceiling: float | None) -> Figure:
    """A wrk target over the ceiling; the product GET and the hash search judged."""
    name = t["target"]
    goal, target, key = {
        "product_get": (0.5, ">= 0.50 of bare uvicorn", "product_get"),
        "search": (
            2 * OLD_SEARCH_RATIO,
            f">= {2 * OLD_SEARCH_RATIO:.3f} of bare uvicorn (2x {OLD_SEARCH_RATIO})",
            "search_hash",
        ),
    }.get(name, (None, "", ""))
    ratio = t.get("ratio_to_ceiling")
    met = None if goal is None or ratio is None else ratio >= goal and t["valid"]
    return Figure(
        bench,
        f"HTTP {name.replace('_', ' ')} (ref: bare uvicorn + FastAPI, 1 worker)",
        t["req_per_s"],
        "req/s",
        None if name.startswith("ceiling") else ceiling,
        ratio,
        target,
        met,
        note=_latency(t) if ratio is not None or goal is None else "missing: no ceiling run",
        key=key,
    )


def list_page(bench: str, t: dict[str, Any], get: dict[str, Any] | None) -> Figure:
    """A product list target over the product GET of the same run (ADR 0027)."""
    ratio = t.get("ratio_to_product_get")
    if ratio is None and get and get["req_per_s"]:
        ratio = round(t["req_per_s"] / get["req_per_s"], 3)
    to_ceiling = t.get("ratio_to_ceiling")
    note = _latency(t, *([] if to_ceiling is None else [f"{to_ceiling:.3f} of bare uvicorn"]))
    return Figure(
        bench,
        f"HTTP {t['target'].replace('_', ' ')} (ref: product GET, same run)",
        t["req_per_s"],
        "req/s",
        get["req_per_s"] if get else None,
        ratio,
        f">= {LIST_TO_GET:.2f} of product GET",
        None if ratio is None else ratio >= LIST_TO_GET and t["valid"],
        note=note if ratio is not None else "missing: no product GET in this run; " + note,
        key=t["target"],
    )


SEARCH_BATCHING = 4.0
"""MiniLM search req/s batched over a call per request (issue 21, ADR 0028)."""


def search(result: dict[str, Any]) -> Iterator[Figure]:
    """bench.search: MiniLM search req/s, batched and not, and the batching's gain."""
    yield from http(result, "search-minilm")
    r = result["results"]
    gain = r.get("batched_over_unbatched")
    yield Figure(
        "search-minilm",
        "search with MiniLM: batched over a call per request (req/s)",
        gain,
        "x",
        target=f">= {SEARCH_BATCHING:g}x",
        met=None if gain is None else gain >= SEARCH_BATCHING,
        note="" if gain is not None else "missing: no batched over unbatched in the result",
        key="search_minilm_batching",
    )


CPU_BASELINE_MS = 91.1
"""CPU ms per confirmed order before issue 21's work (every process, direct path,
saturated, a fresh SMTP session per e-mail: bench.orders, 2026-12-07)."""
CPU_TARGET_MS = 45.6
"""Issue 21: half the baseline (45.55, shown to a tenth as the rows are)."""


def orders(result: dict[str, Any]) -> Iterator[Figure]:
    for run in result["runs"]:
        fresh = run.get("smtp_sessions") == "fresh"
        yield Figure(
            "orders",
            f"orders end to end ({run.get('path', 'direct')}), {run['replicas']} replica(s)"
            f" per service, {run['profile']}{', SMTP session per e-mail' if fresh else ''}",
            round(run["orders_per_s"], 1),
            "orders/s",
            note=f"e2e p50 {run['e2e_p50_ms']:.0f} / p99 {run['e2e_p99_ms']:.0f} ms;"
            f" POST p99 {run['post_p99_ms']:.0f} ms",
        )
    yield from cpu_per_order(result)


def cpu_per_order(result: dict[str, Any]) -> Iterator[Figure]:
    """CPU per confirmed order of the first direct saturated run (the SMTP session kept)
    against half the baseline; the fresh-session repeat of the same run beside it."""
    runs: dict[str, dict[str, Any]] = {}
    for run in result["runs"]:
        direct = (run.get("path", "direct"), run["profile"]) == ("direct", "saturated")
        if direct and run.get("cpu_ms_per_order_total") is not None:
            runs.setdefault(run.get("smtp_sessions", "kept"), run)
    kept = runs.get("kept")
    if kept is None:
        yield Figure(
            "orders",
            "CPU per confirmed order, every process (ref: the baseline)",
            None,
            "ms",
            CPU_BASELINE_MS,
            target=f"<= {CPU_TARGET_MS:g} ms (half of {CPU_BASELINE_MS:g})",
            note="missing: no direct saturated run with its CPU per order",
            key="cpu_per_order",
        )
        return
    total = kept["cpu_ms_per_order_total"]
    top = sorted(kept["cpu_ms_per_order"].items(), key=lambda item: -item[1])[:4]
    yield Figure(
        "orders",
        "CPU per confirmed order, every process (services, indexer, Chroma, SMTP catcher,"
        f" PostgreSQL, Redis), {kept['replicas']} replica(s); ref: the baseline of 2026-12-07",
        round(total, 1),
        "ms",
        CPU_BASELINE_MS,
        round(total / CPU_BASELINE_MS, 2),
        f"<= {CPU_TARGET_MS:g} ms (half of {CPU_BASELINE_MS:g})",
        total <= CPU_TARGET_MS,
        note=f"at {kept['orders_per_s']:.1f} orders/s; largest: "
        + ", ".join(f"{role} {ms:.1f}" for role, ms in top),
        key="cpu_per_order",
    )
    ratio = result.get("cpu_kept_vs_fresh_smtp")
    if ratio and "fresh" in runs:
        yield Figure(
            "orders",
            "CPU per confirmed order, SMTP session kept (ref: a fresh session per e-mail,"
            " same run; ADR 0030)",
            round(total, 1),
            "ms",
            round(runs["fresh"]["cpu_ms_per_order_total"], 1),
            round(ratio["total"], 2),
            note=", ".join(
                f"{role} x{value:.2f}" for role, value in ratio.items() if role != "total"
            ),
        )


def grounding(result: dict[str, Any]) -> Iterator[Figure]:
    r = result["results"]
    for key, label, n in (
        ("caught_share", "injected errors caught (not shown, reply marked)", "erroneous"),
        ("untouched_share", "correct replies left untouched", "correct"),
    ):
        yield Figure(
            "grounding",
            f"grounding: {label}, of {r[n]} scripted replies",
            round(100 * r[key], 1),
            "%",
            target="100 %",
            met=r[key] == 1.0,
        )
    yield Figure(
        "grounding",
        f"grounding: time-to-first-token cost of holding text back, p50 at {r['chunks_per_s']:g}"
        " chunks/s",
        round(r["ttft_cost_ms_p50"]),
        "ms",
        note=f"p95 {r['ttft_cost_ms_p95']:.0f} ms; {r['held_chunks_p50']:g} chunks held (p50)",
    )


def relevance(result: dict[str, Any]) -> Iterator[Figure]:
    """recall@5 and MRR per embedder and mode; hybrid is held to semantic's recall, and
    MiniLM's hybrid (the chat's mode) to issue 17's goal of 0.95."""
    for kind, modes in result["results"].items():
        semantic = modes["semantic"]["recall_at_5"]
        for mode, figures in modes.items():
            recall = figures["recall_at_5"]
            target, met = "", None
            if mode == "hybrid":
                goal = 0.95 if kind == "minilm" else semantic
                target = ">= 0.95" if kind == "minilm" else ">= semantic"
                met = recall >= goal and recall >= semantic
            yield Figure(
                "relevance",
                f"recall@5 ({kind}, {mode}) over {result['queries']} paraphrased queries"
                " (ref: semantic)",
                recall,
                "",
                semantic,
                round(recall / semantic, 2) if semantic else None,
                target,
                met,
                note=f"MRR {figures['mrr']:.3f}",
            )


def growth(result: dict[str, Any]) -> Iterator[Figure]:
    """Issue 24: rebuild time against history length, Redis memory with retention, and
    the stock-events numbers."""
    build = result.get("rebuild")
    if build and len(build["lengths"]) > 1:
        first, last = build["lengths"][0], build["lengths"][-1]
        span = f"{last['changes_per_product']} vs {first['changes_per_product']} change(s)/product"
        for source in build["sources"]:
            ratio = round(last[source]["seconds"] / first[source]["seconds"], 2)
            snapshot = source == "snapshot"
            yield Figure(
                "growth",
                f"rebuild of {build['products']:,} products ({source}), {span}"
                f" (ref: {first['changes_per_product']})",
                last[source]["seconds"],
                "s",
                first[source]["seconds"],
                ratio,
                "<= 1.2x" if snapshot else "",
                ratio <= 1.2 if snapshot else None,
                note=f"{last['entries']:,} vs {first['entries']:,} events.catalog entries;"
                f" {last[source]['events_read']:,} read",
            )
        answered = [
            row.get("snapshot", {}).get("snapshot_answered_seconds") for row in (first, last)
        ]
        if None not in answered:
            yield Figure(
                "growth",
                f"snapshot rebuild: catalog's answer (request -> snapshot read), {span}",
                answered[1],
                "s",
                answered[0],
                round(answered[1] / answered[0], 2) if answered[0] else None,
                note="the rest of the rebuild embeds and upserts the documents",
            )
        if "snapshot" not in build["sources"]:
            yield Figure("growth", "rebuild from a snapshot: not measured", None, "",
                         note="the indexer has no rebuild_source setting")  # fmt: skip
    memory = result.get("memory")
    if memory and memory.get("day_last_over_day_8") is not None:
        by_day = {row["day"]: row for row in memory["by_day"]}
        last, eighth = by_day[memory["days"]], by_day[8]
        ratio = memory["day_last_over_day_8"]
        yield Figure(
            "growth",
            f"Redis memory on day {memory['days']}, {memory['orders_per_day']:,} orders/day,"
            " 7-day retention (ref: day 8)",
            round(last["memory_bytes"] / 2**20, 1),
            "MiB",
            round(eighth["memory_bytes"] / 2**20, 1),
            ratio,
            "<= 1.1x",
            ratio <= 1.1,
            note=f"{last['entries']:,} entries, {last['bytes_per_entry']:.0f} bytes/entry",
        )
    stock = result.get("stock") or {}
    if "history_stock_share" in stock:
        yield Figure(
            "growth",
            "stock events' share of events.catalog entries (history of the rebuild)",
            round(100 * stock["history_stock_share"], 1),
            "%",
        )
    for kind, micros in (stock.get("fold_us_per_entry") or {}).items():
        yield Figure("growth", f"indexer Fold.add per entry: {kind}", micros, "µs")
    if "texts_embedded_per_stock_event" in stock:
        yield Figure(
            "growth",
            "live indexer: texts embedded per stock-only event",
            stock["texts_embedded_per_stock_event"],
            "texts",
            note=f"{stock['embed_calls_per_stock_event']} embedding calls per stock event",
        )


READERS: dict[str, Reader] = {
    "bus": bus,
    "freshness": freshness,
    "freshness-minilm": freshness,
    "rebuild": rebuild,
    "scaleout": scaleout,
    "notifier": notifier,
    "http": http,
    "search-minilm": search,
    "orders": orders,
    "grounding": grounding,
    "relevance": relevance,
    "growth": growth,
}


@dataclass(frozen=True)
class Target:
    bench: str
    figure: str
    target: str


TARGETS: dict[str, Target] = {
    "bus_raw": Target("bus", "bus: outbox -> relay -> stream -> consumer (ref: raw redis-py)",
                      ">= 0.50 of raw"),
    "bus_celery": Target("bus", "bus vs Celery no-op tasks on Redis", ">= 10x Celery"),
    "freshness_hash_50": Target("freshness", "freshness p99 (hash) at 50 writes/s",
                                "<= 250 ms (hash, 50/s)"),
    "freshness_minilm_25": Target("freshness-minilm", "freshness p99 (minilm) at 25 writes/s",
                                  "<= 500 ms (minilm, 25/s)"),
    "rebuild_ratio": Target("rebuild", "rebuild (ref: raw embed+upsert)", ">= 0.80 of raw"),
    "rebuild_search_p99": Target("rebuild", "search p99 during a rebuild (ref: idle)",
                                 f"<= {REBUILD_SEARCH_P99:g}x idle"),
    "product_get": Target("http", "HTTP product get (ref: bare uvicorn)",
                          ">= 0.50 of bare uvicorn"),
    "product_list": Target("http", "HTTP product list (ref: product GET, same run)",
                           f">= {LIST_TO_GET:.2f} of product GET"),
    "product_list_filtered": Target("http", "HTTP product list filtered (ref: product GET,"
                                    " same run)", f">= {LIST_TO_GET:.2f} of product GET"),
    "search_hash": Target("http", "HTTP search, hash embedder (ref: bare uvicorn)",
                          f">= {2 * OLD_SEARCH_RATIO:.3f} of bare uvicorn"),
    "search_minilm_batching": Target("search-minilm", "search with MiniLM: batched over a"
                                     " call per request", f">= {SEARCH_BATCHING:g}x"),
    "cpu_per_order": Target("orders", "CPU per confirmed order, every process",
                            f"<= {CPU_TARGET_MS:g} ms (half of {CPU_BASELINE_MS:g})"),
    "scaleout_indexer": Target("scaleout", "scale-out: indexer, 2-3 consumers",
                               "~linear until the cores are busy"),
    "scaleout_notifier": Target("notifier", "scale-out: notifier, 2-3 consumers",
                                "~linear until the cores are busy"),
}  # fmt: skip
"""The judged targets of issues 9 and 21, by the key of the rows that judge them: a bench
that ran without giving one of its targets a row gets a row saying it is missing."""


def missing(benches: dict[str, dict[str, Any]], rows: list[Figure]) -> Iterator[Figure]:
    """A row for each target of a bench that ran whose figure no reader gave."""
    judged = {row.key for row in rows}
    for key, t in TARGETS.items():
        entry = benches.get(t.bench)
        if entry is None or key in judged:
            continue
        why = entry.get("error") or "not in the bench's result"
        yield Figure(t.bench, t.figure, None, "", target=t.target, note=f"missing: {why}", key=key)


def rss_peaks(benches: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per process label, its largest RSS over all benches, and under which bench."""
    peaks: dict[str, dict[str, Any]] = {}
    for name, entry in benches.items():
        for label, peak in entry.get("rss", {}).items():
            if peak["peak_rss_mib"] > peaks.get(label, {}).get("peak_rss_mib", -1):
                peaks[label] = {**peak, "bench": name}
    return dict(sorted(peaks.items()))


def figures(benches: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    rows: list[Figure] = []
    for name, entry in benches.items():
        reader = READERS.get(name)
        if "error" in entry:
            rows.append(Figure(name, f"{name}: FAILED", None, "", note=entry["error"]))
        if reader is None or "result" not in entry:
            continue
        try:
            rows.extend(reader(entry["result"]))
        except (KeyError, TypeError, ValueError, ZeroDivisionError) as exc:
            rows.append(
                Figure(name, f"{name}: result not readable", None, "", note=repr(exc)[:200])
            )
    rows.extend(list(missing(benches, rows)))
    for label, peak in rss_peaks(benches).items():
        if label in SERVICES:
            rows.append(
                Figure(
                    "memory",
                    f"peak RSS of one {label} process",
                    peak["peak_rss_mib"],
                    "MiB",
                    note=f"under {peak['bench']}; {peak['processes']} process(es) seen",
                )
            )
    return [asdict(row) for row in rows]


def _number(value: float | None) -> str:
    if value is None:
        return ""
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.3g}" if abs(value) < 10 else f"{value:.1f}"


def met_cell(f: dict[str, Any]) -> str:
    """yes / **no**; a target without its figure: **missing**; a reported figure: empty."""
    if f["met"] is None:
        return "**missing**" if f.get("key") and f["note"].startswith("missing") else ""
    return "yes" if f["met"] else "**no**"


def table(rows: list[dict[str, Any]]) -> list[str]:
    lines = [
        "| figure | value | unit | reference | ratio | target | met? | note |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for f in rows:
        ratio = "" if f["ratio"] is None else f"{f['ratio']:.2f}"
        lines.append(
            f"| {f['figure']} | {_number(f['value'])} | {f['unit']} | {_number(f['reference'])}"
            f" | {ratio} | {f['target']} | {met_cell(f)} | {f['note']} |"
        )
    return lines


def markdown(combined: dict[str, Any]) -> str:
    m = combined["machine"]
    packages = ", ".join(f"{k} {v}" for k, v in m["packages"].items() if v)
    lines = [
        f"# make bench ({combined['profile']} profile), {combined['when']}",
        "",
        f"`{combined['command']}` at commit {m.get('commit')}; {m['cores']} cores,"
        f" {m['memory_mib']} MiB, load average {m['load_average']} before and"
        f" {combined.get('load_average_after')} after; {m['platform']}; Python {m['python']},"
        f" PostgreSQL {m.get('postgresql')}, Redis {m.get('redis')}.",
        f"Packages: {packages}.",
        "",
        "Ratios are to the reference measured in the same run; on a shared machine they"
        " move less than the absolute numbers.",
        "",
    ]
    judged = [f for f in combined["figures"] if f.get("key")]
    if judged:
        lines += ["## Targets (issues 9 and 21)", "", *table(judged), "", "## Every figure", ""]
    lines += table(combined["figures"])
    lines += ["", "## Benches", ""]
    lines += ["| bench | what | command | seconds | status |", "|---|---|---|---|---|"]
    for name, entry in combined["benches"].items():
        status = entry.get("error", "ok")
        lines.append(
            f"| {name} | {entry.get('figures', '')} | `{entry.get('command', '')}`"
            f" | {entry.get('seconds', '')} | {status} |"
        )
    lines += ["", "## Peak RSS (MiB) per process, every bench", ""]
    labels = sorted({label for e in combined["benches"].values() for label in e.get("rss", {})})
    lines += [
        "| bench | " + " | ".join(labels) + " |",
        "|---|" + "---|" * len(labels),
    ]
    for name, entry in combined["benches"].items():
        rss = entry.get("rss", {})
        cells = [_number(rss[label]["peak_rss_mib"]) if label in rss else "" for label in labels]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    if combined.get("plots"):
        lines += ["", "## Plots", ""]
        lines += [f"![{name}]({path})" for name, path in combined["plots"].items()]
    for name, entry in combined["benches"].items():
        if "error" in entry:
            lines += [
                "",
                f"## {name}: {entry['error']}",
                "",
                "```",
                entry["log_tail"][-3000:],
                "```",
            ]
    return "\n".join(lines) + "\n"
