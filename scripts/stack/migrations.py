"""Before the processes start: each service's own PostgreSQL role and Redis ACL user
(ADR 0012), then every service's `migrate` command."""

from __future__ import annotations

import subprocess
import sys

from scripts.stack.config import (
    DATA,
    DEFAULT_DATABASE_URL,
    DEFAULT_REDIS_URL,
    ROOT,
    StackError,
    child_env,
    setting,
)
from scripts.stack.infrastructure import ensure_database
from scripts.stack.procfile import Process, procfile_env, services

SERVICE_ENV: dict[str, dict[str, str]] = {}
"""Per service package: the DATABASE_URL / REDIS_URL of its own role and ACL user."""


def bootstrap_ownership(processes: list[Process]) -> None:
    """A PostgreSQL role and a Redis ACL user per service (marcus_web.ownership; ADR 0012)
    when the servers allow it; STACK_OWNERSHIP=0 keeps the configured users for all."""
    from marcus_contracts import SERVICES as WITH_SCHEMA
    from marcus_web.ownership import bootstrap_local

    if setting("STACK_OWNERSHIP", "1") == "0":
        print("  roles and ACL users: off (STACK_OWNERSHIP=0)")
        return
    done = bootstrap_local(
        setting("DATABASE_URL", DEFAULT_DATABASE_URL),
        setting("REDIS_URL", DEFAULT_REDIS_URL),
        # The storefront has no schema and no stream: nothing to own.
        [str(p.package) for p in services(processes) if p.package in WITH_SCHEMA],
        prefix=setting("STREAM_PREFIX", ""),
        state=DATA / "credentials.json",
    )
    SERVICE_ENV.update(done.env)
    owned = sorted(name for name, env in done.env.items() if env)
    print(f"  each service connects as its own role / ACL user: {', '.join(owned) or 'none'}")
    for note in done.notes:
        print(f"    {note}")


def migrate(processes: list[Process]) -> None:
    """Ensure the database exists, then run every service's `migrate` command."""
    print("Database")
    ensure_database(setting("DATABASE_URL", DEFAULT_DATABASE_URL))
    bootstrap_ownership(processes)
    implied = procfile_env(processes)
    for service in services(processes):
        print(f"  migrating {service.name} ...", flush=True)
        result = subprocess.run(
            [sys.executable, "-m", str(service.package), "migrate"],
            cwd=ROOT,
            env=child_env()
            | SERVICE_ENV.get(str(service.package), {})
            | implied.get(str(service.package), {}),
            capture_output=True,
            text=True,
        )
        if result.returncode != 0:
            output = (result.stdout + result.stderr).strip().splitlines()
            raise StackError(
                f"migration of {service.name} failed (exit {result.returncode}):\n"
                + "\n".join(f"    {line}" for line in output[-25:])
            )
