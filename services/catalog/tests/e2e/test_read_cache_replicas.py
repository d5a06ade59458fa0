"""Two catalog replicas as processes, each with its read cache: a write on A is read on B
with its token every time; without one B converges; B's follower connection killed in
PostgreSQL makes B bypass its cache until it has resynced, never answering stale."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import psycopg
import pytest

from marcus_eventstore import libpq_dsn
from tests.support.processes import ServiceProcess
from tests.support.servers import wait_for

TOKEN = "Marcus-Consistency-Token"
OUTCOME = "Marcus-Read-Cache"
ROUNDS = 40


@dataclass
class Replica:
    process: ServiceProcess
    client: httpx.AsyncClient

    @property
    def pid(self) -> int:
        assert self.process.proc is not None
        return self.process.proc.pid

    async def metric(self, name: str) -> float:
        text = (await self.client.get("/metrics")).text
        for line in text.splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
        raise AssertionError(f"{name} missing")

    async def following(self) -> bool:
        return await self.metric("catalog_read_cache_follower_up") == 1.0


@pytest.fixture
async def replicas(catalog_processes) -> AsyncIterator[tuple[Replica, Replica]]:
    """Two catalog processes (no consumer). B only reads, so its client never holds a
    token cookie: only tokens passed count."""
    started = [
        catalog_processes(CONSUMER_ENABLED="false", READ_CACHE_POLL_INTERVAL="0.2")
        for _ in range(2)
    ]
    clients = [httpx.AsyncClient(base_url=process.url) for process in started]
    a, b = (Replica(p, c) for p, c in zip(started, clients, strict=True))
    try:
        for replica in (a, b):
            await replica.process.ready(within=60)
            await wait_for(replica.following, within=60, what="replica follows")
        yield a, b
    finally:
        for client in clients:
            await client.aclose()


async def _product(replica: Replica, admin: dict[str, str]) -> str:
    category = await replica.client.post(
        "/api/v1/categories", json={"slug": "bikes", "name": "Bikes"}, headers=admin
    )
    created = await replica.client.post(
        "/api/v1/products",
        json={"sku": "R-1", "name": "v0", "price": "10.00", "category_id": category.json()["id"]},
        headers=admin,
    )
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


async def _write(replica: Replica, path: str, name: str, admin: dict[str, str]) -> tuple[int, int]:
    """PATCH the name on `replica`; (the new version, the token)."""
    patched = await replica.client.patch(path, json={"name": name}, headers=admin)
    assert patched.status_code == 200, patched.text
    return patched.json()["version"], int(patched.headers[TOKEN])


async def test_a_write_on_one_replica_is_read_with_its_token_on_the_other(
    replicas, admin_headers
) -> None:
    a, b = replicas
    admin = admin_headers
    path = f"/api/v1/products/{await _product(a, admin)}"
    outcomes = []
    for i in range(ROUNDS):
        await b.client.get(path)  # B caches the current version (when it may)
        version, token = await _write(a, path, f"v{i + 1}", admin)
        read = await b.client.get(path, headers={TOKEN: str(token)})
        assert (read.json()["name"], read.json()["version"]) == (f"v{i + 1}", version)
        outcomes.append(read.headers[OUTCOME])
    assert set(outcomes) <= {"hit", "miss", "bypass"}

    # Without a token, B converges on the last write; then serves it from its cache.
    version, _ = await _write(a, path, "last", admin)

    async def converged() -> bool:
        read = await b.client.get(path)
        return read.json()["version"] == version and read.headers[OUTCOME] == "hit"

    await wait_for(converged, within=30, what="B serves the last write from its cache")


async def test_a_killed_follower_connection_bypasses_then_resyncs(
    replicas, admin_headers, catalog_database: str
) -> None:
    a, b = replicas
    admin = admin_headers
    path = f"/api/v1/products/{await _product(a, admin)}"
    await b.client.get(path)
    name = f"catalog-read-cache-{b.pid}"
    kills = 0
    for i in range(ROUNDS):
        if i % 10 == 0:
            async with await psycopg.AsyncConnection.connect(
                libpq_dsn(catalog_database), autocommit=True
            ) as admin_conn:
                killed = await (
                    await admin_conn.execute(
                        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                        " WHERE application_name = %s AND datname = current_database()",
                        [name],
                    )
                ).fetchone()
            kills += killed[0] if killed else 0
        version, token = await _write(a, path, f"k{i}", admin)
        read = await b.client.get(path, headers={TOKEN: str(token)})
        assert (read.json()["name"], read.json()["version"]) == (f"k{i}", version)
        # Without a token B may lag, but never goes back past a version it has shown.
        plain = (await b.client.get(path)).json()["version"]
        assert plain >= version - 1
    assert kills >= 1
    await wait_for(b.following, within=30, what="B's follower reconnected")
    version, _ = await _write(a, path, "settled", admin)

    async def settled() -> bool:
        read = await b.client.get(path)
        return read.json()["name"] == "settled" and read.headers[OUTCOME] == "hit"

    await wait_for(settled, within=30, what="B resynced and caches again")
