"""The nginx gateway for test suites, set up once: nginx rendered from the same template
`make up` renders (scripts/stack/gateway.py), the API documents it serves, and the service
processes behind it. Each suite passes its own differences (rate limits, ports, folders).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from scripts.stack import gateway as stack_gateway
from scripts.stack.procfile import Process
from tests.support.servers import free_port

SKIP_REASON = "nginx is not installed (apt-get install nginx-light); .ci/run installs it"


def find_nginx() -> str | None:
    """nginx's path, also where Debian puts it outside a normal user's PATH."""
    return shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/usr/local/sbin")


def nginx_binary() -> str:
    """nginx's path, or the calling test is skipped: CI installs it, a laptop may not."""
    found = find_nginx()
    if not found:
        pytest.skip(SKIP_REASON)
    return found


def rates(rate: str, search_burst: int, chat_burst: int) -> dict[str, str]:
    """The gateway's rate-limit overrides: low to test 429s, high to never meet them."""
    return {
        "GATEWAY_SEARCH_RATE": rate,
        "GATEWAY_SEARCH_BURST": str(search_burst),
        "GATEWAY_CHAT_RATE": rate,
        "GATEWAY_CHAT_BURST": str(chat_burst),
    }


@contextmanager
def built_api_docs(prefix: str) -> Iterator[Path]:
    """The API documents of this checkout in a temporary folder, built as `make up` does."""
    from scripts import api_docs as builder

    target = Path(tempfile.mkdtemp(prefix=prefix))
    target.chmod(0o755)  # nginx workers run as an unprivileged user when started by root
    assert builder.main(["build", "--dir", str(target)]) == 0
    try:
        yield target
    finally:
        shutil.rmtree(target, ignore_errors=True)


def gateway_command(
    nginx: str,
    folder: Path,
    ports: Mapping[str, int],
    gateway_port: int,
    docs: Path,
    overrides: Mapping[str, str],
) -> list[str]:
    """nginx's command line for the config rendered into `folder`/nginx, checked with `-t`
    so a bad render fails here with nginx's own message rather than as a timeout."""
    routed = re.findall(r"\$\{(\w+)_UPSTREAM\}", stack_gateway.GATEWAY_TEMPLATE.read_text())
    # A routed process the suite does not run gets a port nothing listens on: its
    # routes answer 503 (problem+json), the rest of the gateway works.
    unrun = {name.lower(): free_port() for name in routed if name.lower() not in ports}
    processes = [
        Process(name, f"python -m {name} serve", port, name)
        for name, port in {**ports, **unrun}.items()
    ]
    config = stack_gateway.render_gateway(
        processes,
        overrides={**overrides, "GATEWAY_DOCS_ROOT": str(docs)},
        folder=folder / "nginx",
        port=gateway_port,
    )
    command = [nginx, "-p", str(folder / "nginx"), "-e", "stderr", "-c", str(config)]
    checked = subprocess.run([*command, "-t", "-q"], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stderr
    return command


def start_process(
    command: list[str], log_path: Path, env: Mapping[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """A process of its own session (stopped with its children), its output in `log_path`."""
    with open(log_path, "wb") as log:
        return subprocess.Popen(
            command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )


def start_service(
    name: str, port: int, logs: Path, env: Mapping[str, str]
) -> subprocess.Popen[bytes]:
    """`python -m <name> serve --port <port>`, its output in `<logs>/<name>.log`."""
    command = [sys.executable, "-m", name, "serve", "--port", str(port)]
    return start_process(command, logs / f"{name}.log", env)


def start_gateway(command: list[str], log_path: Path) -> subprocess.Popen[bytes]:
    """nginx in the foreground, so the test owns (and stops) the process."""
    return start_process([*command, "-g", "daemon off;"], log_path)


async def answers(url: str) -> bool:
    """Whether `url` answers 200 now; a refused connection is a no, not an error."""
    try:
        async with httpx.AsyncClient() as client:
            return (await client.get(url)).status_code == 200
    except httpx.TransportError:
        return False
