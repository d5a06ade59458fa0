"""The processes of the stack: the Procfile's entries, and which of them are Marcus
services (`python -m <package> serve`, migrated and probed on /readyz)."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from scripts.stack.config import HOST, ROOT

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
