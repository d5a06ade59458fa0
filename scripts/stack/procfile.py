"""The processes of the stack: the Procfile's entries, which of them are Marcus
services (`python -m <package> serve`, migrated and probed on /readyz), and the settings
the Procfile implies for them (the alternate Chroma server's URL)."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from scripts.stack.config import HOST, ROOT, configured

PROCFILE = Path(os.environ.get("STACK_PROCFILE", ROOT / "Procfile"))


@dataclass(frozen=True)
class Process:
    """One Procfile entry."""

    name: str
    command: str
    port: int | None
    package: str | None
    """Python package when the command is `python -m <package> serve`: a Marcus service."""

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.port}"


def parse_procfile(path: Path = PROCFILE) -> list[Process]:
    """The processes of a Procfile (`name: command`, `#` comments ignored)."""
    processes = []
    for line in path.read_text().splitlines():
        match = re.match(r"^([A-Za-z0-9_-]+):\s*(.+)$", line)
        if not match:
            continue
        name, command = match.groups()
        port = re.search(r"--port[ =](\d+)", command)
        package = re.search(r"python3? -m ([A-Za-z_][A-Za-z0-9_]*) serve\b", command)
        processes.append(
            Process(
                name=name,
                command=command,
                port=int(port.group(1)) if port else None,
                package=package.group(1) if package else None,
            )
        )
    return processes


def services(processes: Iterable[Process]) -> list[Process]:
    """The Marcus services among the processes (the ones to migrate and probe /readyz)."""
    return [p for p in processes if p.package]


CHROMA_ALT = "chroma-alt"
"""The Procfile entry of the alternate Chroma server (ADR 0035)."""
CHROMA_CLIENTS = ("indexer", "assistant")
"""The services that read Chroma: both must name the same alternate server."""


def chroma_alt_url(processes: Iterable[Process]) -> str | None:
    """CHROMA_ALT_URL for the indexer and the assistant: the environment's or `.env`'s
    when set there (empty: no alternate server), else the Procfile's `chroma-alt`
    process; None when neither gives one."""
    given = configured("CHROMA_ALT_URL")
    if given is not None:
        return given
    alt = next((p for p in processes if p.name == CHROMA_ALT and p.port), None)
    return alt.base_url if alt else None


def procfile_env(processes: Iterable[Process]) -> dict[str, dict[str, str]]:
    """Per service package: the settings the Procfile gives it beyond the shared
    environment (CHROMA_ALT_URL for the indexer and the assistant)."""
    listed = list(processes)
    alt = chroma_alt_url(listed)
    if alt is None:
        return {}
    present = {p.package for p in listed}
    return {name: {"CHROMA_ALT_URL": alt} for name in CHROMA_CLIENTS if name in present}
