"""Reading a process's own numbers: Prometheus counters at /metrics, CPU time in /proc."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

import httpx


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc/<pid>/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def parse(text: str, names: Iterable[str]) -> dict[str, float]:
    """Samples of the named metrics, summed over their labels."""
    wanted = set(names)
    totals = dict.fromkeys(wanted, 0.0)
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        series, _, value = line.rpartition(" ")
        name = series.split("{", 1)[0]
        if name in wanted:
            totals[name] += float(value)
    return totals


async def scrape(client: httpx.AsyncClient, names: Iterable[str]) -> dict[str, float]:
    """The named metrics of the service `client` points at."""
    response = await client.get("/metrics")
    response.raise_for_status()
    return parse(response.text, names)
