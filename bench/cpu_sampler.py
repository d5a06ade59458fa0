"""CPU time of processes that come and go, by role, sampled every 20 ms: what bench.bus
(`bench.bus_processes.ServerCpu`: the PostgreSQL and Redis servers) and bench.orders
(`bench.orders.ShopCpu`: every process an order reaches) measure alike."""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Iterable

import psutil

INTERVAL_S = 0.02


class CpuSampler:
    """CPU seconds (user + system) of the processes `_processes` names, by role, over the
    window from `start()` to `stop()`. Processes come and go (a PostgreSQL backend per
    connection), so every one is sampled every 20 ms and its last reading kept: one that
    exits between two samples loses at most those 20 ms; one already running counts from
    the start of the window."""

    def __init__(self) -> None:
        self._first: dict[int, float] = {}
        self._last: dict[int, tuple[str, float]] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _processes(self) -> Iterable[tuple[str, psutil.Process]]:
        """(role, process) of every process to count right now."""
        raise NotImplementedError

    def start(self) -> None:
        self._sample(baseline=True)
        self._thread.start()

    def stop(self) -> dict[str, float]:
        """CPU seconds by role over the window (only roles that had a process)."""
        self._stop.set()
        self._thread.join()
        self._sample()
        totals: dict[str, float] = defaultdict(float)
        for pid, (role, cpu) in self._last.items():
            totals[role] += cpu - self._first.get(pid, 0.0)
        return dict(totals)

    def _run(self) -> None:
        while not self._stop.wait(INTERVAL_S):
            self._sample()

    def _sample(self, baseline: bool = False) -> None:
        for role, process in self._processes():
            try:
                times = process.cpu_times()
            except psutil.Error:
                continue
            cpu = times.user + times.system
            if baseline:
                self._first[process.pid] = cpu
            self._last[process.pid] = (role, cpu)
