"""What every benchmark records beside its numbers: the machine, versions, the command.

One place, so every result file (and `make bench`'s combined one) can be compared with
another: a figure without the cores, memory, load and versions it was measured on says
little on a shared machine. Also where a bench's result file goes (`--out`).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shlex
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from importlib import metadata as pkg_metadata
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
PACKAGES = (
    "fastapi",
    "uvicorn",
    "uvloop",
    "httptools",
    "pydantic",
    "sqlalchemy",
    "psycopg",
    "redis",
    "faststream",
    "chromadb",
)
"""Versions recorded for every bench; each adds the ones its figures depend on."""


def memory_mib() -> int:
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal"):
                return int(line.split()[1]) // 1024
    return 0


def versions(packages: Sequence[str] = ()) -> dict[str, str | None]:
    found: dict[str, str | None] = {}
    for package in dict.fromkeys([*PACKAGES, *packages]):
        try:
            found[package] = pkg_metadata.version(package)
        except pkg_metadata.PackageNotFoundError:
            found[package] = None
    return found


def postgres_version(database_url: str) -> str | None:
    import psycopg

    from marcus_eventstore.migrations import libpq_dsn

    try:
        with psycopg.connect(libpq_dsn(database_url), connect_timeout=5) as conn:
            row = conn.execute("SHOW server_version").fetchone()
    except psycopg.Error:
        return None
    return str(row[0]) if row else None


def redis_version(redis_url: str) -> str | None:
    import redis

    try:
        client = redis.Redis.from_url(redis_url, socket_connect_timeout=5)
        try:
            return str(client.info("server").get("redis_version"))
        finally:
            client.close()
    except redis.RedisError:
        return None


def git_commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=5,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() or None


def machine(
    database_url: str | None = None,
    redis_url: str | None = None,
    packages: Sequence[str] = (),
) -> dict[str, Any]:
    """Cores, memory, load, OS, Python, server and package versions, the tree's commit."""
    return {
        "cores": os.cpu_count(),
        "memory_mib": memory_mib(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "python": platform.python_version(),
        "postgresql": postgres_version(database_url) if database_url else None,
        "redis": redis_version(redis_url) if redis_url else None,
        "packages": versions(packages),
        "commit": git_commit(),
    }


def command(module: str, argv: Sequence[str] | None = None) -> str:
    """The exact command that ran, as one would type it again."""
    args = list(sys.argv[1:] if argv is None else argv)
    return shlex.join(["python", "-m", module, *args])


def add_out_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--out",
        type=Path,
        help="write the result JSON here (a .md beside it, if the bench writes one); "
        "default: bench/results/<bench>-<timestamp>.json",
    )


def add_server_arguments(parser: argparse.ArgumentParser, database: str = "postgres") -> None:
    """--database-url, --redis-url (BENCH_DATABASE_URL / BENCH_REDIS_URL) and --out.

    A bench creates its own databases or schemas on that server, named after itself, so
    `database` only says where to connect first.
    """
    parser.add_argument(
        "--database-url",
        default=os.environ.get(
            "BENCH_DATABASE_URL", f"postgresql+psycopg://postgres@127.0.0.1:5432/{database}"
        ),
        help="a database on the server; the bench creates its own beside it",
    )
    parser.add_argument(
        "--redis-url", default=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
    )
    add_out_argument(parser)


def result_path(name: str, out: Path | None = None) -> Path:
    """`out`, else bench/results/<name>-<UTC timestamp>.json; its folder exists."""
    path = out or RESULTS / f"{name}-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def write_result(name: str, out: Path | None, result: dict[str, Any], markdown: str) -> Path:
    """The result JSON at `result_path(name, out)`, its markdown beside it (also printed)."""
    path = result_path(name, out)
    path.write_text(json.dumps(result, indent=2) + "\n")
    path.with_suffix(".md").write_text(markdown)
    print(markdown)
    print(f"written to {path} and {path.with_suffix('.md')}")
    return path


@contextlib.contextmanager
def service_logs(bench: str) -> Iterator[Path]:
    """A temporary folder for the logs of the services a bench starts: removed when the
    bench succeeds, kept (and named on stderr) when it fails."""
    folder = Path(tempfile.mkdtemp(prefix=f"marcus-bench-{bench}-"))
    try:
        yield folder
    except BaseException:
        print(f"service logs kept in {folder}", file=sys.stderr)
        raise
    shutil.rmtree(folder, ignore_errors=True)


def backend_pids(database_url: str) -> list[int]:
    """PostgreSQL backends serving the bench's database (the services' pools), for
    their CPU time."""
    import psycopg

    from marcus_eventstore.migrations import libpq_dsn

    with psycopg.connect(libpq_dsn(database_url)) as conn:
        rows = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
            " AND pid <> pg_backend_pid()"
        ).fetchall()
    return [row[0] for row in rows]
