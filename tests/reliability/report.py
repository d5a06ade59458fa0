"""The suite's report: one row per fault over its rounds (JSON and a markdown table),
written to `.data/reliability/report-<timestamp>.{json,md}` (`RELIABILITY_REPORT_DIR`)."""

from __future__ import annotations

import json
import os
import statistics
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
WRITTEN: list[Path] = []
"""Reports written by this run (the terminal summary prints them)."""


@dataclass
class RoundResult:
    fault: str
    round: int
    events: int
    lost: int
    duplicated: int
    recovery_seconds: float
    invariants: dict[str, dict[str, int]]
    details: str = ""


@dataclass
class Report:
    profile: str
    rounds: list[RoundResult] = field(default_factory=list)
    traffic: dict[str, dict[str, int]] = field(default_factory=dict)

    def rows(self) -> list[dict[str, object]]:
        faults: dict[str, list[RoundResult]] = {}
        for result in self.rounds:
            faults.setdefault(result.fault, []).append(result)
        rows = []
        for fault, results in faults.items():
            recovery = [r.recovery_seconds for r in results]
            rows.append(
                {
                    "fault": fault,
                    "rounds": len(results),
                    "events": sum(r.events for r in results),
                    "lost": sum(r.lost for r in results),
                    "duplicated": sum(r.duplicated for r in results),
                    "recovery_max_s": round(max(recovery), 1),
                    "recovery_median_s": round(statistics.median(recovery), 1),
                    "invariants_held": all(r.lost == 0 and r.duplicated == 0 for r in results),
                }
            )
        return rows

    def markdown(self) -> str:
        lines = [
            f"Reliability report, profile `{self.profile}`",
            "",
            "| fault | rounds | events | lost | duplicated | recovery s (max / median) "
            "| invariants |",
            "|---|---:|---:|---:|---:|---:|---|",
        ]
        for row in self.rows():
            held = "all hold" if row["invariants_held"] else "VIOLATED"
            lines.append(
                f"| {row['fault']} | {row['rounds']} | {row['events']} | {row['lost']} "
                f"| {row['duplicated']} | {row['recovery_max_s']} / {row['recovery_median_s']} "
                f"| {held} |"
            )
        names = sorted({name for r in self.rounds for name in r.invariants})
        if names:
            lines += ["", "Invariants (lost / duplicated, summed over every round):", ""]
            for name in names:
                lost = sum(r.invariants.get(name, {}).get("lost", 0) for r in self.rounds)
                dup = sum(r.invariants.get(name, {}).get("duplicated", 0) for r in self.rounds)
                lines.append(f"- {name}: {lost} / {dup}")
        if self.traffic:
            lines += [
                "",
                "Workload: HTTP answers to searches and chat (0 = no answer), orders by final"
                " status, stock sets applied:",
                "",
            ]
            for client, codes in self.traffic.items():
                shown = ", ".join(f"{code}: {n}" for code, n in sorted(codes.items()))
                lines.append(f"- {client}: {shown}")
        return "\n".join(lines) + "\n"

    def write(self) -> Path:
        folder = Path(os.environ.get("RELIABILITY_REPORT_DIR") or ROOT / ".data" / "reliability")
        folder.mkdir(parents=True, exist_ok=True)
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        document = {
            "profile": self.profile,
            "faults": self.rows(),
            "rounds": [asdict(r) for r in self.rounds],
            "traffic": self.traffic,
        }
        (folder / f"report-{stamp}.json").write_text(json.dumps(document, indent=2) + "\n")
        path = folder / f"report-{stamp}.md"
        path.write_text(self.markdown())
        return path
