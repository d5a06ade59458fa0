"""`python -m <SERVICE> migrate`, one pod at a time (the migrate init container's command).

Every new pod of a Deployment runs this before its service container starts, so a new
version never serves before its schema is at head, and old pods keep serving meanwhile
(migrations are expand/contract: docs/adr/0009-migrations-as-init-containers.md). When
several pods start together (first install, a scale-up during a rollout) they queue on
a PostgreSQL advisory lock named after the service: the first one migrates, the others
then find the schema at head and finish at once. The lock is a session lock: it goes
away with this process's connection, whatever happens to the process.
"""

from __future__ import annotations

import os
import subprocess
import sys

import psycopg

from marcus_eventstore.migrations import libpq_dsn


def main() -> int:
    service = os.environ["SERVICE"]
    with psycopg.connect(libpq_dsn(os.environ["DATABASE_URL"]), autocommit=True) as lock:
        lock.execute("SELECT pg_advisory_lock(hashtext(%s))", (f"marcus-migrate:{service}",))
        print(f"migrate {service}: lock held, migrating", flush=True)
        return subprocess.call([sys.executable, "-m", service, "migrate"])


if __name__ == "__main__":
    sys.exit(main())
