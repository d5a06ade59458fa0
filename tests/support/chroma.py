"""A real Chroma server for tests: `chroma run` from the chromadb package, on a free
port, with its data in a temporary folder (never the stack's)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from tests.support.servers import free_port


def chroma_binary() -> str:
    """The `chroma` CLI installed beside this interpreter (else the one on PATH)."""
    beside = Path(sys.executable).with_name("chroma")
    if beside.exists():
        return str(beside)
    found = shutil.which("chroma")
    if not found:
        raise RuntimeError("the chroma CLI (package chromadb) is not installed")
    return found


class ChromaProcess:
    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.dir = tempfile.mkdtemp(prefix="marcus-chroma-")
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = Path(self.dir) / "chroma.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, within: float = 60.0) -> None:
        env = {**os.environ, "ANONYMIZED_TELEMETRY": "False"}
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [
                    chroma_binary(),
                    "run",
                    "--path",
                    str(Path(self.dir) / "data"),
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(self.port),
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,
            )
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"chroma exited: {self.log.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(f"{self.url}/api/v2/heartbeat", timeout=1) as reply:
                    if reply.status == 200:
                        return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("chroma did not answer its heartbeat")

    def stop(self) -> None:
        if self.proc is not None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)
            self.proc = None

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


def chroma_fixture():  # type: ignore[no-untyped-def]
    """A session-scoped pytest fixture yielding the URL of a fresh Chroma server;
    a conftest exposes it with `chroma_url = chroma_fixture()`."""
    import pytest

    @pytest.fixture(scope="session")
    def chroma_url():  # type: ignore[no-untyped-def]
        server = ChromaProcess()
        server.start()
        try:
            yield server.url
        finally:
            server.remove()

    return chroma_url
