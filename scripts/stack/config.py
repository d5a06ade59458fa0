"""Where the local stack keeps its state and how it reads its settings: the paths under
`.data/` (STACK_DATA_DIR elsewhere, for tests), `.env` beside the environment, and the
environment every process it starts gets."""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DATA = Path(os.environ.get("STACK_DATA_DIR", ROOT / ".data"))
"""Where the stack keeps its state, logs and embedded servers (tests point it elsewhere)."""
LOG_DIR = DATA / "logs"
LOG_FILE = LOG_DIR / "supervisord.log"
PID_FILE = DATA / "stack.pid"
HOST = "127.0.0.1"
STOP_TIMEOUT = float(os.environ.get("STACK_STOP_TIMEOUT", "15"))
MARKER = "MARCUS_STACK_ID"
DEFAULT_DATABASE_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/marcus"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"


def shown(path: Path) -> str:
    """`path` relative to the repository when it is inside it (STACK_DATA_DIR may not be)."""
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


class StackError(Exception):
    """A failure to report in one line (plus hints) and exit 1."""


def read_dotenv(path: Path = ROOT / ".env") -> dict[str, str]:
    """KEY=VALUE lines of `.env` (quotes stripped, comments and `export ` ignored)."""
    values: dict[str, str] = {}
    if not path.exists():
        return values
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, value = line.removeprefix("export ").split("=", 1)
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[key.strip()] = value
    return values


def setting(name: str, default: str) -> str:
    """An environment variable, else its `.env` value, else the default (as the services do)."""
    return os.environ.get(name) or read_dotenv().get(name) or default


def configured(name: str) -> str | None:
    """An environment variable, else its `.env` value, empty ones included; None when
    neither sets it (an empty value can then mean "off" rather than "the default")."""
    if name in os.environ:
        return os.environ[name]
    return read_dotenv().get(name)


def child_env(stack_id: str | None = None) -> dict[str, str]:
    """Environment of everything the stack starts: this venv first on PATH, unbuffered."""
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env["PYTHONUNBUFFERED"] = "1"
    # A local stack is a development one, said explicitly: services refuse the built-in
    # JWT secret otherwise (issue 18). DEPLOYMENT in the environment or .env wins.
    env["DEPLOYMENT"] = setting("DEPLOYMENT", "development")
    if stack_id:
        env[MARKER] = stack_id
    return env
