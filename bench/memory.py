"""Peak RSS of each service while a benchmark loads it (issue 9, part 7).

A sampler thread walks a process tree every `interval` (100 ms) and records each
process' resident set size under a label taken from its command line (`python -m
catalog serve` -> catalog, `chroma run` -> chroma, wrk -> wrk). Benches start their
services as child processes, so sampling the tree of a bench's process sees every
service it loaded, replicas included, without the bench knowing about the sampler.

`python -m bench.memory [--out FILE] -- <command...>` runs any command that way (e.g.
`python -m bench.memory -- python -m bench.orders`) and prints the peaks.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

MIB = 1024 * 1024


def label(cmdline: Sequence[str]) -> str:
    """What a process is, from its argv: the `-m` module's first part (its service),
    else the program's name (chroma, wrk, celery, postgres...)."""
    if "-m" in cmdline:
        index = cmdline.index("-m")
        if index + 1 < len(cmdline):
            module = cmdline[index + 1]
            if module == "scripts.mailcatcher":
                return "mailcatcher"
            if module == "bench.ceiling":
                return "ceiling"
            if module.startswith("bench"):
                return module  # a bench's own driver process
            return module.split(".")[0]
    if not cmdline:
        return "unknown"
    program = Path(cmdline[0]).name
    if program.startswith("python") and len(cmdline) > 1 and not cmdline[1].startswith("-"):
        return Path(cmdline[1]).stem
    return program


@dataclass
class Peak:
    """One label's peaks: the largest single process, and the largest sum over the
    label's processes at one sample (replicas of a service, workers of a server)."""

    process_mib: float = 0.0
    total_mib: float = 0.0
    processes: set[int] = field(default_factory=set)

    def as_dict(self) -> dict[str, Any]:
        return {
            "peak_rss_mib": round(self.process_mib, 1),
            "peak_total_rss_mib": round(self.total_mib, 1),
            "processes": len(self.processes),
        }


class RssSampler:
    """Samples the RSS of `root` and its descendants in a thread until `stop()`."""

    def __init__(self, root: int, interval: float = 0.1, include_root: bool = True) -> None:
        self.root = root
        self.interval = interval
        self.include_root = include_root
        self.peaks: dict[str, Peak] = {}
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)
        self._labels: dict[int, str] = {}

    def __enter__(self) -> RssSampler:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> dict[str, dict[str, Any]]:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(5)
        return self.result()

    def result(self) -> dict[str, dict[str, Any]]:
        return {name: peak.as_dict() for name, peak in sorted(self.peaks.items())}

    def _label(self, proc: psutil.Process) -> str:
        if proc.pid not in self._labels:
            self._labels[proc.pid] = label(proc.cmdline())
        return self._labels[proc.pid]

    def sample(self) -> None:
        try:
            root = psutil.Process(self.root)
            tree = root.children(recursive=True)
        except psutil.Error:
            return
        if self.include_root:
            tree.append(root)
        totals: dict[str, float] = {}
        for proc in tree:
            try:
                name = self._label(proc)
                rss = proc.memory_info().rss / MIB
            except psutil.Error:  # gone between the listing and the read
                continue
            peak = self.peaks.setdefault(name, Peak())
            peak.process_mib = max(peak.process_mib, rss)
            peak.processes.add(proc.pid)
            totals[name] = totals.get(name, 0.0) + rss
        for name, total in totals.items():
            self.peaks[name].total_mib = max(self.peaks[name].total_mib, total)
        self.samples += 1

    def _run(self) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            self.sample()
            self._stop.wait(max(0.0, self.interval - (time.monotonic() - started)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.memory", description=__doc__)
    parser.add_argument("--interval", type=float, default=0.1, help="seconds between samples")
    parser.add_argument("--out", type=Path, help="write the peaks as JSON here")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- command to run")
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("give the command to run after --")
    proc = subprocess.Popen(command)
    with RssSampler(proc.pid, args.interval) as sampler:
        code = proc.wait()
    peaks = sampler.result()
    for name, peak in peaks.items():
        print(
            f"{name:<16} peak RSS {peak['peak_rss_mib']:>8.1f} MiB"
            f"  (all {peak['processes']} process(es) at once: {peak['peak_total_rss_mib']:.1f} MiB)"
        )
    if args.out:
        args.out.write_text(json.dumps({"command": command, "rss": peaks}, indent=2) + "\n")
    return code


if __name__ == "__main__":
    sys.exit(main())
