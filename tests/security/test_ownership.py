"""Ownership the servers enforce (issue 18, part 3), on the local PostgreSQL and Redis:
a service's PostgreSQL role owns its schema and cannot read another's, and its Redis ACL
user writes only its own stream while it reads (and acknowledges) what it consumes."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
import redis
from redis.exceptions import NoPermissionError
from sqlalchemy.engine import make_url

from marcus_eventstore.migrations import libpq_dsn, upgrade
from marcus_web import ownership
from marcus_web.ownership import Credentials
from tests.support import infra
from tests.support.servers import free_port

SERVICES = ("catalog", "orders", "notifier")


@pytest.fixture(scope="module")
def owned_database(postgres_server_url: str) -> Iterator[str]:
    """A database of this module's own (its roles are named after it), roles dropped after."""
    with infra.fresh_database(postgres_server_url) as url:
        try:
            yield url
        finally:
            for service in SERVICES:
                ownership.drop_role(url, service)


@pytest.fixture(scope="module")
def credentials() -> Credentials:
    return Credentials()


@pytest.fixture(scope="module")
def role_urls(owned_database: str, credentials: Credentials) -> dict[str, str]:
    """catalog and orders: roles first, then their migrations run as those roles."""
    if why := ownership.can_bootstrap_roles(owned_database):
        pytest.skip(why)
    database = make_url(owned_database).database or ""
    urls = {}
    for service in ("catalog", "orders"):
        role = ownership.bootstrap_role(
            owned_database,
            service,
            credentials.postgres_password(ownership.role_name(database, service)),
        )
        urls[service] = ownership.service_database_url(
            owned_database, role, credentials.postgres_password(role)
        )
        upgrade(service, urls[service])
    return urls


def test_the_catalog_role_cannot_read_the_orders_schema(role_urls: dict[str, str]) -> None:
    with psycopg.connect(libpq_dsn(role_urls["catalog"])) as conn:
        assert conn.execute("SELECT count(*) FROM catalog.events").fetchone() == (0,)
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="schema orders"):
            conn.execute("SELECT * FROM orders.orders LIMIT 1")
    with psycopg.connect(libpq_dsn(role_urls["orders"])) as conn:
        assert conn.execute("SELECT count(*) FROM orders.events").fetchone() == (0,)
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="schema catalog"):
            conn.execute("SELECT * FROM catalog.events LIMIT 1")


def test_a_role_owns_its_schema_and_nothing_else(
    owned_database: str, role_urls: dict[str, str]
) -> None:
    database = make_url(owned_database).database or ""
    role = ownership.role_name(database, "catalog")
    with psycopg.connect(libpq_dsn(owned_database)) as conn:
        owners = conn.execute(
            """SELECT DISTINCT pg_get_userbyid(c.relowner) FROM pg_class c
               JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'catalog'"""
        ).fetchall()
        assert owners == [(role,)], "the migrations ran as the role: it owns every table"
        flags = conn.execute(
            "SELECT rolsuper, rolcreatedb, rolcreaterole FROM pg_roles WHERE rolname = %s",
            (role,),
        ).fetchone()
        assert flags == (False, False, False)
    with psycopg.connect(libpq_dsn(role_urls["catalog"]), autocommit=True) as conn:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("CREATE SCHEMA intruder")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("CREATE TABLE public.intruder (id int)")


def test_a_schema_migrated_before_its_role_is_handed_over(
    owned_database: str, credentials: Credentials
) -> None:
    """An existing installation: tables created by the superuser become the role's."""
    if why := ownership.can_bootstrap_roles(owned_database):
        pytest.skip(why)
    upgrade("notifier", owned_database)  # as the superuser, as before roles
    database = make_url(owned_database).database or ""
    role = ownership.role_name(database, "notifier")
    ownership.bootstrap_role(owned_database, "notifier", credentials.postgres_password(role))
    ownership.bootstrap_role(owned_database, "notifier", credentials.postgres_password(role))
    url = ownership.service_database_url(owned_database, role, credentials.postgres_password(role))
    upgrade("notifier", url)  # at head already: runs as the role without CREATE on the db
    with psycopg.connect(libpq_dsn(owned_database)) as conn:
        owners = conn.execute(
            """SELECT DISTINCT pg_get_userbyid(c.relowner) FROM pg_class c
               JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'notifier'"""
        ).fetchall()
        assert owners == [(role,)]
    with psycopg.connect(libpq_dsn(url)) as conn:
        conn.execute("SELECT count(*) FROM notifier.events")
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="schema catalog"):
            conn.execute("SELECT * FROM catalog.events LIMIT 1")


# ------------------------------------------------------------------------- Redis
@pytest.fixture
def acl_prefix(redis_url: str) -> Iterator[str]:
    if why := ownership.can_bootstrap_acl(redis_url):
        pytest.skip(why)
    prefix = f"acl-{uuid.uuid4().hex[:8]}:"
    yield prefix
    admin = redis.Redis.from_url(redis_url)
    keys = list(admin.scan_iter(match=f"{prefix}*", count=500))
    if keys:
        admin.delete(*keys)
    admin.close()
    for service in ("notifier", "assistant", "indexer", "scheduler"):
        ownership.drop_acl_user(redis_url, service, prefix)


def user_client(redis_url: str, service: str, prefix: str, creds: Credentials) -> redis.Redis:
    user = ownership.bootstrap_acl_user(
        redis_url, service, creds.redis_password(ownership.redis_user(service, prefix)), prefix
    )
    url = ownership.service_redis_url(redis_url, user, creds.redis_password(user))
    return redis.Redis.from_url(url)


def test_the_notifier_cannot_write_events_catalog_but_reads_what_it_consumes(
    redis_url: str, acl_prefix: str
) -> None:
    p, creds = acl_prefix, Credentials()
    admin = redis.Redis.from_url(redis_url)
    notifier = user_client(redis_url, "notifier", p, creds)
    try:
        assert (
            notifier.execute_command("ACL", "WHOAMI")
            == ownership.redis_user("notifier", p).encode()
        )
        with pytest.raises(NoPermissionError):
            notifier.xadd(f"{p}events.catalog", {"event": "{}"})
        with pytest.raises(NoPermissionError):  # consumed: read and acknowledged, not written
            notifier.xadd(f"{p}events.orders", {"event": "{}"})
        with pytest.raises(NoPermissionError):
            notifier.delete(f"{p}events.orders")
        with pytest.raises(NoPermissionError):
            notifier.xrange(f"{p}events.catalog")
        with pytest.raises(NoPermissionError):
            notifier.keys("*")

        entry = admin.xadd(f"{p}events.orders", {"event": '{"id": 1}'})
        notifier.xgroup_create(f"{p}events.orders", "notifier", id="0", mkstream=True)
        read: Any = notifier.xreadgroup("notifier", "n-1", {f"{p}events.orders": ">"}, count=10)
        assert read[0][1][0][0] == entry
        assert notifier.xrange(f"{p}events.orders") != []
        assert notifier.xpending(f"{p}events.orders", "notifier")["pending"] == 1
        assert notifier.xack(f"{p}events.orders", "notifier", entry) == 1
        # the idle-consumer script of marcus_messaging.groups runs on a consumed stream
        from marcus_messaging.groups import _DELETE_IF_NOTHING_PENDING as script

        assert notifier.eval(script, 1, f"{p}events.orders", "notifier", "n-1") == 0  # deleted

        # its own stream and dead letters: written
        assert notifier.xadd(f"{p}events.notifier", {"event": "{}"})
        with notifier.pipeline(transaction=True) as pipe:  # the DLQ's MULTI: XADD + XACK
            pipe.xadd(f"{p}dlq.notifier", {"event": "{}"})
            pipe.xack(f"{p}events.orders", "notifier", entry)
            pipe.execute()
        assert notifier.ping()
    finally:
        notifier.close()
        admin.close()


def test_the_alias_is_the_indexers_and_only_read_by_the_assistant(
    redis_url: str, acl_prefix: str
) -> None:
    p, creds = acl_prefix, Credentials()
    indexer = user_client(redis_url, "indexer", p, creds)
    assistant = user_client(redis_url, "assistant", p, creds)
    notifier = user_client(redis_url, "notifier", p, creds)
    try:
        assert indexer.set(f"{p}index:active", "{}")
        assert assistant.get(f"{p}index:active") == b"{}"
        with pytest.raises(NoPermissionError):
            assistant.set(f"{p}index:active", "{}")
        with pytest.raises(NoPermissionError):
            notifier.get(f"{p}index:active")
        # the indexer replays events.catalog for a rebuild, never writes it
        assert indexer.xrange(f"{p}events.catalog") == []
        with pytest.raises(NoPermissionError):
            indexer.xadd(f"{p}events.catalog", {"event": "{}"})
    finally:
        for client in (indexer, assistant, notifier):
            client.close()


async def test_the_scheduler_trims_other_services_streams_but_never_writes_them(
    redis_url: str, acl_prefix: str
) -> None:
    """Its stream-retention job: read positions and sizes, XTRIM; no XADD, XDEL, DEL."""
    import redis.asyncio as aioredis

    from marcus_eventstore.retention import (
        RetentionPolicy,
        apply_retention,
        retention_streams,
        stream_stats,
    )

    p, creds = acl_prefix, Credentials()
    admin = redis.Redis.from_url(redis_url)
    scheduler = user_client(redis_url, "scheduler", p, creds)
    events, dlq = f"{p}events.catalog", f"{p}dlq.orders"
    try:
        old = [admin.xadd(events, {"event": "{}"}, id=f"{ms}-0") for ms in (1000, 2000, 3000)]
        admin.xadd(dlq, {"event": "{}"}, id="1000-0")
        admin.xgroup_create(events, "indexer", id="0")
        admin.xreadgroup("indexer", "i-1", {events: ">"}, count=2)
        admin.xack(events, "indexer", old[0])  # old[1] pending

        for stream in (events, dlq):
            with pytest.raises(NoPermissionError):
                scheduler.xadd(stream, {"event": "{}"})
            with pytest.raises(NoPermissionError):
                scheduler.delete(stream)
            with pytest.raises(NoPermissionError):
                scheduler.xdel(stream, "1000-0")
        with pytest.raises(NoPermissionError):
            scheduler.xgroup_create(events, "intruder", id="0")
        with pytest.raises(NoPermissionError):
            scheduler.xreadgroup("indexer", "s-1", {events: ">"})
        assert scheduler.xadd(f"{p}events.scheduler", {"event": "{}"}), "its own stream"

        url = ownership.service_redis_url(
            redis_url,
            ownership.redis_user("scheduler", p),
            creds.redis_password(ownership.redis_user("scheduler", p)),
        )
        client = aioredis.from_url(url)
        try:
            assert {events, dlq} <= set(await retention_streams(client, p)), "SCAN finds them"
            outcome = await apply_retention(client, events, RetentionPolicy(max_age_s=1), now=10)
            assert (outcome.removed, outcome.held_by) == (
                1,
                f"group indexer pending since {old[1].decode()}",
            )
            gone = await apply_retention(client, dlq, RetentionPolicy(max_age_s=1), now=10)
            assert gone.removed == 1
            stats = await stream_stats(client, events, now=10)
            assert stats.length == 2 and stats.memory_bytes
        finally:
            await client.aclose()
        assert scheduler.xtrim(events, minid="3000-0", approximate=False) == 1
        assert admin.xlen(events) == 1
    finally:
        scheduler.close()
        admin.close()


def test_the_consumed_streams_are_the_ones_the_services_consume() -> None:
    """`ownership.CONSUMES` is what the services' registered handlers really read."""
    from scripts.api_docs import consumer_groups

    built = {group.name: group.sources for group in consumer_groups()}
    assert built == {k: sorted(v) for k, v in ownership.CONSUMES.items()}


# ------------------------------------------------------------------ a real service
def test_the_notifier_serves_and_consumes_as_its_own_role_and_user(
    owned_database: str, redis_url: str, acl_prefix: str, tmp_path: Path
) -> None:
    creds = Credentials()
    done = ownership.bootstrap(
        owned_database, redis_url, ["notifier"], prefix=acl_prefix, credentials=creds
    )
    assert set(done.env["notifier"]) == {"DATABASE_URL", "REDIS_URL"}, done.notes
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JWT_", "JWKS_", "DEPLOYMENT"))}
    env |= done.env["notifier"] | {
        "STREAM_PREFIX": acl_prefix,
        "JWT_SECRET": "ownership-tests-secret-0123456789abcdef",
        "LOG_LEVEL": "warning",
        "SMTP_PORT": str(free_port()),
    }
    migrated = subprocess.run(
        [sys.executable, "-m", "notifier", "migrate"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert migrated.returncode == 0, migrated.stderr
    port = free_port()
    log = (tmp_path / "notifier.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "notifier", "serve", "--port", str(port)],
        env=env,
        cwd=tmp_path,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    admin = redis.Redis.from_url(redis_url)
    try:
        deadline = time.monotonic() + 120
        while True:
            assert proc.poll() is None, (tmp_path / "notifier.log").read_text()
            try:
                ready = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200
            except httpx.TransportError:
                ready = False
            groups = []
            if ready and admin.exists(f"{acl_prefix}events.orders"):
                groups = [g["name"] for g in admin.xinfo_groups(f"{acl_prefix}events.orders")]
            if b"notifier" in groups or "notifier" in groups:
                break  # ready, and its consumer created its group through its ACL user
            assert time.monotonic() < deadline, (tmp_path / "notifier.log").read_text()
            time.sleep(0.5)
        log_text = (tmp_path / "notifier.log").read_text()
        assert "NOPERM" not in log_text and "permission denied" not in log_text, log_text
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, 15)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)
            proc.wait()
        log.close()
        admin.close()
