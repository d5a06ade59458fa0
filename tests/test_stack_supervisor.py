"""Issue 19, finding 7: under `make up`, one process dying does not take the stack down.

`make up` runs the stack under supervisord. Here it runs a small Procfile (the catalog,
the notifier and the SMTP catcher, on free ports, against the tests' PostgreSQL and
Redis, with its state in a temporary folder); the notifier is SIGKILLed; the catalog
keeps answering throughout, supervisord starts the notifier again, and `make status`
shows the restart. `make down` leaves nothing behind.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import infra
from tests.support.servers import free_port

ROOT = Path(__file__).resolve().parent.parent

pytestmark = [pytest.mark.fault, pytest.mark.timeout(900)]


def status_code(url: str) -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return None


def make(target: str, env: dict[str, str], timeout: float = 600) -> str:
    result = subprocess.run(
        ["make", target], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, f"make {target} failed ({result.returncode}):\n{output}"
    return output


def supervised_pid(status: str, name: str) -> int:
    match = re.search(rf"^\s+{name}\s.*RUNNING pid (\d+)", status, re.MULTILINE)
    assert match, status
    return int(match.group(1))


@pytest.fixture
def stack_env(postgres_server_url: str, redis_url: str, tmp_path: Path) -> Iterator[dict[str, str]]:
    catalog, notifier, mail = free_port(), free_port(), free_port()
    procfile = tmp_path / "Procfile"
    procfile.write_text(
        f"catalog: python -m catalog serve --port {catalog}\n"
        f"notifier: python -m notifier serve --port {notifier}\n"
        f"mail: python -m scripts.mailcatcher serve --port {mail} --dir {tmp_path / 'mail'}\n"
    )
    with infra.fresh_database(postgres_server_url) as database_url:
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(
                ("VIRTUAL_ENV", "TEST_", "DATABASE_URL", "REDIS_URL", "CHROMA_ALT_URL")
            )
        }
        env |= {
            "DATABASE_URL": database_url,
            "REDIS_URL": redis_url,
            "STREAM_PREFIX": f"supervised-{uuid.uuid4().hex[:8]}:",
            "SMTP_PORT": str(mail),
            "STACK_DATA_DIR": str(tmp_path / "data"),
            "STACK_PROCFILE": str(procfile),
            "STACK_GATEWAY": "0",
            "EMBEDDER": "hash",
            "CATALOG_PORT_FOR_TEST": str(catalog),
            "NOTIFIER_PORT_FOR_TEST": str(notifier),
        }
        try:
            yield env
        finally:
            subprocess.run(["make", "down"], cwd=ROOT, env=env, capture_output=True, timeout=120)


def test_finding_7_a_killed_service_is_restarted_and_the_others_keep_serving(
    stack_env: dict[str, str],
) -> None:
    catalog = f"http://127.0.0.1:{stack_env['CATALOG_PORT_FOR_TEST']}"
    notifier = f"http://127.0.0.1:{stack_env['NOTIFIER_PORT_FOR_TEST']}"
    up = make("up", stack_env)
    assert "Marcus is up" in up, up
    # no `chroma-alt` in this Procfile: no process is given an alternate Chroma server
    config = (Path(stack_env["STACK_DATA_DIR"]) / "supervisord.conf").read_text()
    assert "CHROMA_ALT_URL" not in config
    status = make("status", stack_env)
    assert re.search(r"notifier\s.*ready\s+RUNNING pid \d+, up [\d:]+, restarts 0", status), status
    killed = supervised_pid(status, "notifier")

    os.kill(killed, signal.SIGKILL)
    answers: list[int | None] = []
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        answers.append(status_code(f"{catalog}/api/v1/categories"))
        if status_code(f"{notifier}/readyz") == 200:
            status = make("status", stack_env)
            if re.search(r"notifier\s.*RUNNING pid \d+, up [\d:]+, restarts 1", status):
                break
        time.sleep(0.5)
    else:
        raise AssertionError(f"the notifier did not come back:\n{status}")
    assert supervised_pid(status, "notifier") != killed
    assert set(answers) == {200}, answers  # the catalog kept serving, no 5xx, no refusal
    assert re.search(r"catalog\s.*ready\s+RUNNING pid \d+, up [\d:]+, restarts 0", status), status

    down = make("down", stack_env, timeout=120)
    assert "Stack stopped." in down, down
    assert status_code(f"{catalog}/readyz") is None and status_code(f"{notifier}/readyz") is None
