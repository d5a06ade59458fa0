"""What the index benchmarks share: percentiles, the machine; service processes and
throwaway databases come from bench/services.py (shared by every bench)."""

from __future__ import annotations

import math
import os
import statistics
from typing import Any

from bench import machine as recorder
from bench.machine import RESULTS, ROOT
from bench.services import (
    SECRET,
    ServiceProcess,
    delete_keys,
    free_port,
    fresh_database,
    processes,
    service_env,
    sqlalchemy_url,
    wait_until,
)

__all__ = [
    "RESULTS",
    "ROOT",
    "SECRET",
    "ServiceProcess",
    "delete_keys",
    "free_port",
    "fresh_database",
    "load_average",
    "machine",
    "percentile",
    "processes",
    "service_env",
    "sqlalchemy_url",
    "summary_ms",
    "wait_until",
]
PACKAGES = ("chromadb", "sentence-transformers", "torch")


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..1) of a non-empty sample."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), math.ceil(q * len(ordered))))
    return ordered[rank - 1]


def summary_ms(seconds: list[float]) -> dict[str, float]:
    ms = [s * 1000 for s in seconds]
    return {
        "p50_ms": round(percentile(ms, 0.50), 1),
        "p95_ms": round(percentile(ms, 0.95), 1),
        "p99_ms": round(percentile(ms, 0.99), 1),
        "max_ms": round(max(ms), 1),
        "mean_ms": round(statistics.fmean(ms), 1),
    }


def machine(database_url: str) -> dict[str, Any]:
    return recorder.machine(sqlalchemy_url(database_url), packages=PACKAGES)


def load_average() -> list[float]:
    """Other work on the machine (other engineers' tests share these cores)."""
    return [round(x, 2) for x in os.getloadavg()]
