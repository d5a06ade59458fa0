"""`make bench`'s harness: RSS sampling of a process tree, a failing bench recorded
without stopping the run, and the figures, markdown and plots read from real results.

The benchmarks themselves are not run here (minutes of CPU each); `make bench
BENCH_ARGS="--profile quick"` checks them end to end.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bench import plots, report
from bench.memory import RssSampler, label
from tests.support.servers import free_port

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "bench" / "results"


def test_labels_name_services_by_their_module() -> None:
    assert label(["/venv/bin/python", "-m", "catalog", "serve", "--port", "1"]) == "catalog"
    assert label(["python", "-m", "scripts.mailcatcher", "serve"]) == "mailcatcher"
    assert label(["python", "-m", "bench.ceiling", "serve"]) == "ceiling"
    assert label(["python", "-m", "bench.http", "--out", "x.json"]) == "bench.http"
    assert label(["/venv/bin/chroma", "run", "--path", "x"]) == "chroma"
    assert label(["/usr/bin/wrk", "-t2", "http://x"]) == "wrk"


def test_sampler_sees_the_peak_of_a_child_process() -> None:
    """A child that holds 64 MiB, then exits: its peak is kept after it is gone."""
    script = "import sys, time; b = bytearray(64 << 20); sys.stdout.write('x'); sys.stdout.flush(); sys.stdin.read()"
    parent = subprocess.Popen(
        [sys.executable, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    try:
        assert parent.stdout is not None and parent.stdout.read(1) == b"x"
        sampler = RssSampler(os.getpid(), interval=0.05, include_root=False)
        sampler.sample()
    finally:
        parent.communicate(b"")
    peaks = sampler.result()
    assert peaks["python"]["peak_rss_mib"] >= 64
    assert peaks["python"]["processes"] >= 1


def test_a_failing_bench_is_recorded_and_the_run_still_writes(tmp_path: Path) -> None:
    """The configurator bench pointed at a PostgreSQL that is not there: it fails, and
    the combined result, markdown and exit status say so."""
    env = {
        **os.environ,
        "BENCH_DATABASE_URL": f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/none",
    }
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench",
            "configurator",
            "--profile",
            "quick",
            "--results",
            str(tmp_path),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    (result_file,) = tmp_path.glob("*.json")
    combined = json.loads(result_file.read_text())
    entry = combined["benches"]["configurator"]
    assert entry["exit_code"] not in (0, None)
    assert "no result written" in entry["error"]
    assert "OperationalError" in entry["log_tail"] or "connect" in entry["log_tail"]
    assert combined["machine"]["cores"] == os.cpu_count()
    assert combined["command"].startswith("python -m bench configurator")
    summary = result_file.with_suffix(".md").read_text()
    assert "| configurator: FAILED |" in summary


def test_figures_and_plots_from_recorded_results(tmp_path: Path) -> None:
    """The index and orders results kept in bench/results: targets judged, plots drawn."""
    index = json.loads((RESULTS / "index-20261128T162241Z.json").read_text())
    orders = json.loads((RESULTS / "orders-20261128T144737Z.json").read_text())
    benches = {
        "freshness": {"result": index, "rss": {"indexer": _peak(150)}},
        "rebuild": {"result": index, "rss": {}},
        "scaleout": {"result": index, "rss": {"indexer": _peak(180)}},
        "orders": {"result": orders, "rss": {"catalog": _peak(120), "wrk": _peak(6)}},
    }
    rows = report.figures(benches)
    by_figure = {row["figure"]: row for row in rows}
    at_50 = by_figure["freshness p99 (hash) at 50 writes/s: PATCH -> in the index"]
    assert at_50["value"] == 464.6 and at_50["met"] is False
    rebuild = by_figure["rebuild of 100,000 products (ref: raw embed+upsert)"]
    assert rebuild["ratio"] == 0.821 and rebuild["met"] is True
    assert by_figure["peak RSS of one indexer process"]["value"] == 180
    assert by_figure["peak RSS of one indexer process"]["note"].startswith("under scaleout")
    assert not any(row["figure"].endswith("FAILED") for row in rows)

    combined: dict[str, Any] = {
        "benches": benches,
        "rss_peaks": report.rss_peaks(benches),
        "figures": rows,
        "machine": {
            "cores": 2,
            "memory_mib": 1,
            "load_average": [0],
            "platform": "p",
            "python": "3",
            "packages": {},
        },
        "profile": "full",
        "when": "now",
        "command": "python -m bench",
    }
    combined["plots"] = plots.write_all(combined, tmp_path / "run")
    assert set(combined["plots"]) == {"freshness", "scaleout", "rss"}
    for name in combined["plots"].values():
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    summary = report.markdown(combined)
    assert "| rebuild of 100,000 products (ref: raw embed+upsert) | 587 |" in summary
    assert "![rss](run-rss.png)" in summary


def _peak(mib: float) -> dict[str, float]:
    return {"peak_rss_mib": mib, "peak_total_rss_mib": mib, "processes": 1}


def test_full_only_benches_stay_out_of_the_quick_profile() -> None:
    """The MiniLM benches run in the full profile (and when named), so quick stays short."""
    from bench.__main__ import parse

    quick = parse(["--profile", "quick"]).selected
    full = parse([]).selected
    assert "search-minilm" in full and "freshness-minilm" in full
    assert "search-minilm" not in quick and "freshness-minilm" not in quick
    assert "search-minilm" in parse(["--profile", "quick", "search-minilm"]).selected


def test_minilm_search_result_is_judged_against_its_target() -> None:
    """bench.search's recorded result: the batched/unbatched gain against >= 4x."""
    search = json.loads((RESULTS / "search-20261207T085400Z.json").read_text())
    rows = report.figures({"search-minilm": {"result": search, "rss": {}}})
    by_figure = {row["figure"]: row for row in rows}
    gain = by_figure["search with MiniLM: batched over a call per request (req/s)"]
    assert gain["value"] == search["results"]["batched_over_unbatched"]
    assert gain["met"] is (gain["value"] >= 4)
    assert not any("not readable" in row["figure"] for row in rows)


def test_settle_waits_for_quiet_cores_and_gives_up_after_its_limit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import bench.__main__ as suite

    readings = iter([90.0, 10.0, 10.0, 80.0, 5.0, 5.0, 5.0])
    monkeypatch.setattr(suite.psutil, "cpu_percent", lambda interval=None: next(readings, 5.0))
    monkeypatch.setattr(suite.os, "sync", lambda: None)
    settled = suite.settle()
    assert settled["cpu_busy_percent"] == 5.0
    assert next(readings, None) is None, "three quiet readings in a row after the busy one"

    monkeypatch.setattr(suite.psutil, "cpu_percent", lambda interval=None: 99.0)
    monkeypatch.setattr(suite, "SETTLE_MAX_S", 0.05)
    busy = suite.settle()
    assert busy["cpu_busy_percent"] == 99.0 and busy["seconds"] < 5
