"""The markdown summary of an index benchmark run (the JSON beside it has every number)."""

from __future__ import annotations

from typing import Any


def markdown(result: dict[str, Any]) -> str:
    m = result["machine"]
    lines = [
        f"# Index benchmarks ({result['when']})",
        "",
        f"`{result['command']}`; {m['platform']}, {m['cores']} CPUs, {m['memory_mib']} MiB, "
        f"Python {m['python']}, PostgreSQL {m['postgresql']}, Redis {result['redis']}, "
        f"chromadb {m['packages']['chromadb']}. Load average before/after: "
        f"{result['load_average']['before']} / {result['load_average']['after']} "
        "(other work shares these cores).",
    ]
    if "freshness" in result:
        lines += freshness(result["freshness"])
    if "scaleout" in result:
        lines += scaleout(result["scaleout"])
    if "rebuild" in result:
        lines += rebuild(result["rebuild"])
    return "\n".join(lines) + "\n"


def freshness(runs: list[dict[str, Any]]) -> list[str]:
    every = runs[0]["confirm_every"] if runs else 1
    rounds = runs[0]["by_rate"][0]["rounds"] if runs else 1
    lines = [
        "",
        "## Freshness: PATCH /products/{id} -> visible in search",
        "",
        "Open loop at a steady offered rate, one product per update; times from the start of "
        "the PATCH. Indexed: the active Chroma collection holds the new sequence (every "
        "update). In stream: the event's stream entry (its id's time). Searchable: the "
        f"assistant's hybrid search answers with the new name (every {every}th update). "
        f"Each percentile is the median over {rounds} interleaved round(s) of `updates`/"
        "rounds updates; every round is in the JSON.",
        "",
        "| embedder | offered/s | achieved/s | updates | failed | indexed p50 / p95 / p99 ms "
        "| in stream p50 / p99 ms | searchable p50 / p95 / p99 ms | PATCH p50 / p99 ms "
        "| texts per embed call | embed ms per call |",
        "|---|---:|---:|---:|---:|---|---|---|---|---:|---:|",
    ]
    for run in runs:
        for p in run["by_rate"]:
            indexer = p["indexer"]
            lines.append(
                f"| {_label(run)} | {p['offered_per_s']} | {p['achieved_per_s']} "
                f"| {p['updates']} | {p['failed']} | {_three(p.get('indexed'))} "
                f"| {_two(p.get('in_stream'))} | {_three(p.get('searchable'))} "
                f"| {_two(p.get('patch'))} | {indexer['texts_per_embed_call']} "
                f"| {indexer['embed_ms_per_call']} |"
            )
    lines += ["", "Every round, indexed p50 / p99 ms (the spread is the machine's other work):", ""]
    for run in runs:
        for rate in sorted({p["offered_per_s"] for p in run["phases"]}):
            rounds = [p for p in run["phases"] if p["offered_per_s"] == rate]
            spread = ", ".join(_two(p.get("indexed")) for p in rounds)
            lines.append(f"- {_label(run)} at {rate}/s: {spread}")
    lines += [
        "",
        "CPU seconds per update (per process, during the phase; bench = this load generator "
        "and watcher):",
        "",
        "| embedder | offered/s | catalog | indexer | assistant | chroma | bench |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for run in runs:
        for p in run["by_rate"]:
            cpu = p["cpu_s_per_update"]
            lines.append(
                f"| {_label(run)} | {p['offered_per_s']} | {cpu['catalog']} "
                f"| {cpu['indexer']} | {cpu['assistant']} | {cpu['chroma']} | {cpu['bench']} |"
            )
    lines += ["", "Before the phases, with nothing to do:", ""]
    for run in runs:
        idle = ", ".join(f"{name} {cores}" for name, cores in run["idle_cpu_cores"].items())
        calls = "; ".join(
            f"{name}: p50 {c['p50_ms']} ms, p99 {c['p99_ms']} ms, {c['chroma_cpu_ms']} ms Chroma CPU"
            for name, c in run["chroma_calls"].items()
        )
        lines.append(f"- {_label(run)}: CPU cores used while idle: {idle}. Chroma calls: {calls}.")
    return lines


def scaleout(result: dict[str, Any]) -> list[str]:
    rounds = len(result["rounds"])
    lines = [
        "",
        f"## Scale-out: {result['backlog']} product events, 1-3 indexer processes (hash)",
        "",
        f"Medians of {rounds} round(s); ratios are per round, then the median.",
        "",
        "| indexers | consumed events/s | x vs 1 | indexed docs/s | x vs 1 "
        "| CPU ms/event: indexers | postgres | chroma | cores busy |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in result["medians"]:
        n = row["replicas"]
        ratio = result["ratios_vs_1"].get(str(n), {"consumed_per_s": 1.0, "indexed_per_s": 1.0})
        cpu = row["cpu_ms_per_event"]
        lines.append(
            f"| {n} | {row['consumed_per_s']} | {ratio['consumed_per_s']} "
            f"| {row['indexed_per_s']} | {ratio['indexed_per_s']} "
            f"| {cpu['indexers']} | {cpu['postgres']} | {cpu['chroma']} | {row['cores_busy']} |"
        )
    lines += [
        "",
        "Cores busy: CPU seconds of the indexers, their PostgreSQL backends and Chroma per "
        "second of the run (Redis and the bench process not counted).",
        "",
        "Per replica (last round): events consumed (events per batch transaction), "
        "documents synced (documents per sync batch):",
        "",
    ]
    for row in result["rounds"][-1]:
        parts = [
            f"{r['consumed']} ({r['events_per_batch']}), {r['synced']} "
            f"({r['documents_per_sync_batch']})"
            for r in row["per_replica"]
        ]
        lines.append(f"- {row['replicas']} indexer(s): " + "; ".join(parts))
    return lines


def rebuild(rows: list[dict[str, Any]]) -> list[str]:
    lines = [
        "",
        "## Rebuild by replay vs the raw embed+upsert ceiling (hash)",
        "",
        "Target: rebuild >= 0.8 of the ceiling. Search: the assistant's hybrid search, open "
        "loop, idle vs during a second rebuild (a `reindex` process); that rebuild's "
        "throughput under the search load.",
        "",
        "| products | ceiling docs/s | rebuild docs/s | rebuild s | ratio "
        "| search/s | search p50 / p99 ms idle | during rebuild | x p50 / x p99 "
        "| rebuild docs/s under search |",
        "|---:|---:|---:|---:|---:|---:|---|---|---|---:|",
    ]
    for r in rows:
        idle, during = r.get("search_idle"), r.get("search_during_rebuild")
        lines.append(
            f"| {r['products']} | {r['ceiling_docs_per_s']} | {r['rebuild_docs_per_s']} "
            f"| {r['rebuild_seconds']} | {r['ratio']} | {r.get('search_rate_per_s', '-')} "
            f"| {_two(idle if idle and 'p50_ms' in idle else None)} "
            f"| {_two(during if during and 'p50_ms' in during else None)} "
            f"| {r.get('search_p50_ratio', '-')} / {r.get('search_p99_ratio', '-')} "
            f"| {r.get('rebuild_under_search_docs_per_s', '-')} |"
        )
    return lines


def _label(run: dict[str, Any]) -> str:
    """The embedder, and the torch threads when the run set them."""
    threads = run.get("torch_threads", "default")
    suffix = "" if threads == "default" else f" (EMBEDDER_THREADS={threads})"
    return f"{run['collection_embedder']}{suffix}"


def _three(s: dict[str, float] | None) -> str:
    return "-" if s is None else f"{s['p50_ms']:.0f} / {s['p95_ms']:.0f} / {s['p99_ms']:.0f}"


def _two(s: dict[str, float] | None) -> str:
    return "-" if s is None else f"{s['p50_ms']:.0f} / {s['p99_ms']:.0f}"
