"""The benchmarks `make bench` runs, and their arguments in each profile.

`full` is what issue 9's and issue 21's figures are measured with (the whole suite in
about 40 minutes on 2 quiet cores); `quick` checks the harness end to end in about 6
minutes, with numbers too small to quote (docs/benchmarks.md has each part's size and
time in both). Every bench is a `python -m <module>` of its own, so each also runs
alone with the same arguments (the combined result records the exact command).
"""

from __future__ import annotations

from dataclasses import dataclass

PROFILES = ("quick", "full")


@dataclass(frozen=True)
class Bench:
    name: str
    module: str
    figures: str
    """What it measures (issue 9's part)."""
    quick: tuple[str, ...]
    full: tuple[str, ...]
    timeout_s: float = 900.0
    default: bool = True
    """Run by `make bench` unless named; the others only when asked for by name."""
    in_quick: bool = True
    """Run by the quick profile too (False: the full profile's alone, unless named)."""

    def args(self, profile: str) -> list[str]:
        return list(self.quick if profile == "quick" else self.full)


BENCHES: tuple[Bench, ...] = (
    Bench(
        "bus",
        "bench.bus",
        "1. event bus vs raw Redis and vs Celery",
        quick=("--profile", "quick", "--loop", "uvloop"),
        full=("--profile", "full", "--loop", "uvloop"),
        timeout_s=900,
    ),
    Bench(
        "freshness",
        "bench.index",
        "2. index freshness vs offered write rate (hash embedder)",
        quick=("freshness", "--profile", "quick", "--embedders", "hash"),
        full=("freshness", "--profile", "full", "--embedders", "hash"),
    ),
    Bench(
        "freshness-minilm",
        "bench.index",
        "index freshness with MiniLM at 25 writes/s (p99 <= 500 ms)",
        quick=("freshness", "--profile", "quick", "--embedders", "minilm", "--rates", "25"),
        full=("freshness", "--profile", "full", "--embedders", "minilm", "--rates", "25"),
        in_quick=False,
    ),
    Bench(
        "rebuild",
        "bench.index",
        "3. rebuild throughput vs the raw embed+upsert ceiling; search during it",
        quick=("rebuild", "--profile", "quick"),
        full=("rebuild", "--profile", "full"),
        timeout_s=1500,
    ),
    Bench(
        "http",
        "bench.http",
        "4. HTTP req/s and p99 vs a bare uvicorn endpoint; 7. RSS under that load",
        quick=("--profile", "quick"),
        full=("--profile", "full"),
    ),
    Bench(
        "search-minilm",
        "bench.search",
        "search with MiniLM: requests batched vs a call per request, vs bare uvicorn (ADR 0028)",
        quick=("--profile", "quick"),
        full=("--profile", "full"),
        in_quick=False,
    ),
    Bench(
        "orders",
        "bench.orders",
        "5. orders end to end per second (HTTP -> confirmed -> e-mail); 7. RSS",
        quick=("--orders", "40", "--warmup", "10", "--light-orders", "10", "--replicas", "1"),
        full=("--orders", "300", "--light-orders", "60", "--replicas", "1", "2"),
    ),
    Bench(
        "scaleout",
        "bench.index",
        "6. scale-out: indexer throughput with 1, 2, 3 consumers",
        quick=("scaleout", "--profile", "quick"),
        full=("scaleout", "--profile", "full"),
    ),
    Bench(
        "notifier",
        "bench.notifier",
        "6. scale-out: notifier e-mails/s with 1, 2, 3 consumers",
        quick=("--profile", "quick"),
        full=("--profile", "full"),
    ),
    Bench(
        "grounding",
        "bench.grounding",
        "grounding rate of chat replies: errors caught, correct left untouched (issue 23)",
        quick=(),
        full=(),
        timeout_s=120,
    ),
    Bench(
        "relevance",
        "bench.relevance",
        "ranking quality: recall@5 and MRR per mode and embedder (issue 17)",
        quick=("--embedders", "hash"),
        full=("--embedders", "hash", "minilm"),
        timeout_s=600,
    ),
    Bench(
        "growth",
        "bench.growth",
        "history growth (issue 24): rebuild vs history length, replay and snapshot; Redis"
        " memory over 30 days with 7-day retention; stock-events numbers",
        quick=("--profile", "quick", "--days", "10", "--rounds", "1"),
        full=("--profile", "full"),
        timeout_s=2400,
    ),
    Bench(
        "observability",
        "bench.observability",
        "cost of tracing and JSON logs (not an issue 9 figure)",
        quick=("--rounds", "1", "--calls", "2000", "--requests", "300"),
        full=(),
        default=False,
    ),
    Bench(
        "configurator",
        "bench.configurator",
        "cost of checking and pricing configurations (not an issue 9 figure)",
        quick=("--requests", "50", "--orders", "30"),
        full=(),
        default=False,
    ),
)


def by_name() -> dict[str, Bench]:
    return {bench.name: bench for bench in BENCHES}
