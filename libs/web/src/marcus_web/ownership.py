"""Ownership the servers enforce: a PostgreSQL role and a Redis ACL user per service.

Each service owns its schema and its stream; by convention alone, any service could read
another's tables or write another's stream. This module creates what makes the servers
refuse it (docs/adr/0012-service-roles-and-acl-users.md):

- **PostgreSQL**: one LOGIN role per service (`<database>_<service>`: roles are global to
  a cluster, databases are not), neither superuser nor able to create databases or
  roles, owning its schema and everything in it. No other role is granted anything on
  the schema, so another service's role gets "permission denied for schema". The
  service connects as its role (its own DATABASE_URL), and its migrations run as that
  role too, so what they create is the role's.
- **Redis** (7+, ACL selectors): one user per service (`marcus-<service>`, or
  `marcus-<prefix>-<service>` under a STREAM_PREFIX). Any command but `@dangerous` ones
  on its own keys (`events.<service>`, `dlq.<service>`, and the extra keys it owns, e.g.
  the indexer's `index:active`); read-only keys it reads (the assistant reads
  `index:active`); and, in a selector, only the consumer-group commands and reads on the
  streams it consumes: it can read and acknowledge them, never XADD to them. The
  scheduler's user has one more selector: on every `events.*` and `dlq.*` stream, only
  what its `stream-retention` job needs (`RETENTION_COMMANDS`: read groups and lengths,
  XTRIM), never XADD or DEL (ADR 0013).

Bootstrapping needs a superuser connection (PostgreSQL) and a user allowed `ACL SETUSER`
(Redis). It is idempotent: roles and users are created or updated, the schema and
anything in it handed to the role. `make up` / `make migrate` run it (scripts/stack/);
production runs `python -m marcus_web.ownership bootstrap` once per environment with
the passwords of its Secrets (docs/runbook.md, "Roles and ACL users").
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

from marcus_contracts import SERVICES, StreamNames

CONSUMES: Mapping[str, tuple[str, ...]] = {
    "catalog": ("orders", "indexer"),
    "orders": ("catalog", "scheduler"),
    "assistant": ("catalog", "orders", "scheduler"),
    "indexer": ("catalog", "scheduler"),
    "scheduler": ("indexer",),
    "notifier": ("orders",),
}
"""The streams (by producing service) each service's consumer group reads; a test keeps
this equal to the consumers the services build."""

OWN_KEYS: Mapping[str, tuple[str, ...]] = {
    "indexer": ("index:active",),
    "catalog": ("snapshots.catalog.*",),
}
"""Other keys a service writes (under the stream prefix): the indexer's search alias, the
catalog's snapshot streams (`StreamNames.snapshot`)."""

READ_KEYS: Mapping[str, tuple[str, ...]] = {
    "assistant": ("index:active",),
    "indexer": ("snapshots.catalog.*",),
}
"""Other keys a service only reads: the assistant reads the alias the indexer writes, the
indexer the snapshots the catalog writes for it."""

GROUP_COMMANDS = (
    "+@read",
    "-@dangerous",
    "+xreadgroup",
    "+xack",
    "+xclaim",
    "+xautoclaim",
    "+xgroup|create",
    "+xgroup|createconsumer",
    "+xgroup|delconsumer",
    "+eval",
    "+evalsha",
)
"""What a service may do on a stream it consumes: read it (XRANGE, XINFO, XPENDING, XLEN),
consume it with its group (XREADGROUP, XACK, reclaiming), create its group, and run the
one atomic script that deletes idle consumers. Not XADD, XDEL, XTRIM or DEL."""


TRIMS: Mapping[str, tuple[str, ...]] = {"scheduler": ("events.*", "dlq.*")}
"""Streams (patterns under the prefix) a service trims to their retention without writing
them: the scheduler's `stream-retention` job (docs/adr/0013)."""

RETENTION_COMMANDS = (
    "+xinfo|groups",
    "+xinfo|stream",
    "+xpending",
    "+xrange",
    "+xrevrange",
    "+xlen",
    "+memory|usage",
    "+xtrim",
)
"""What retention needs on a stream: each group's position and pending entries, the
length, memory and oldest entry, and XTRIM (MINID below every group's floor). Not XADD,
XDEL, DEL, XGROUP or XREADGROUP."""


# ------------------------------------------------------------------------ names
def role_name(database: str, service: str) -> str:
    """The PostgreSQL role of `service` in `database` (at most 63 bytes)."""
    return f"{database}_{service}"[:63]


def redis_user(service: str, prefix: str = "") -> str:
    """The Redis ACL user of `service` for the streams under `prefix`."""
    scope = prefix.rstrip(":.-_")
    return f"marcus-{scope}-{service}" if scope else f"marcus-{service}"


def acl_rules(service: str, prefix: str = "") -> list[str]:
    """The `ACL SETUSER` rules of `service`'s user, without its password."""
    names = StreamNames(prefix)
    own = [names.events(service), names.dlq(service)]
    own += [f"{prefix}{key}" for key in OWN_KEYS.get(service, ())]
    rules = ["on", "resetkeys", "resetchannels", "clearselectors", "+@all"]
    rules += ["-@dangerous", *(f"~{key}" for key in own)]
    rules += [f"%R~{prefix}{key}" for key in READ_KEYS.get(service, ())]
    consumed = [names.events(source) for source in CONSUMES.get(service, ())]
    if consumed:
        keys = " ".join(f"~{stream}" for stream in consumed)
        rules.append(f"({keys} {' '.join(GROUP_COMMANDS)})")
    trimmed = " ".join(f"~{prefix}{pattern}" for pattern in TRIMS.get(service, ()))
    if trimmed:
        rules.append(f"({trimmed} {' '.join(RETENTION_COMMANDS)})")
    return rules


# ------------------------------------------------------------------- credentials
@dataclass
class Credentials:
    """Passwords of the roles and users, kept between runs (a local stack's `.data/`)."""

    postgres: dict[str, str] = field(default_factory=dict)
    redis: dict[str, str] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path | None) -> Credentials:
        if path is None or not path.exists():
            return cls()
        raw = json.loads(path.read_text())
        return cls(postgres=dict(raw.get("postgres", {})), redis=dict(raw.get("redis", {})))

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600, exist_ok=True)
        path.chmod(0o600)
        path.write_text(json.dumps({"postgres": self.postgres, "redis": self.redis}, indent=2))

    @staticmethod
    def _password(store: dict[str, str], name: str) -> str:
        if name not in store:
            store[name] = secrets.token_hex(24)
        return store[name]

    def postgres_password(self, role: str) -> str:
        return self._password(self.postgres, role)

    def redis_password(self, user: str) -> str:
        return self._password(self.redis, user)


# -------------------------------------------------------------------- PostgreSQL
def _libpq(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def service_database_url(database_url: str, role: str, password: str) -> str:
    """`database_url` (any driver) with `role` and its password as the user."""
    from sqlalchemy.engine import make_url

    url = make_url(database_url).set(username=role, password=password)
    return url.render_as_string(hide_password=False)


def can_bootstrap_roles(admin_url: str) -> str | None:
    """None when `admin_url` connects as a superuser; otherwise why roles are skipped."""
    import psycopg

    try:
        with psycopg.connect(_libpq(admin_url), connect_timeout=5) as conn:
            row = conn.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
            found = row.fetchone()
    except psycopg.Error as exc:
        return f"PostgreSQL does not answer: {str(exc).strip()}"
    if not found or not found[0]:
        return "the configured PostgreSQL user is not a superuser"
    return None


def bootstrap_role(admin_url: str, service: str, password: str) -> str:
    """Create or update `service`'s role in the database of `admin_url` (a superuser's)
    and hand it the schema named like the service and everything in it; returns the
    role's name."""
    import psycopg
    from psycopg import sql

    with psycopg.connect(_libpq(admin_url), autocommit=True, connect_timeout=5) as conn:
        database = conn.execute("SELECT current_database()").fetchone()[0]  # type: ignore[index]
        role = role_name(database, service)
        ident, schema = sql.Identifier(role), sql.Identifier(service)
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(hashtext('marcus.ownership'))")
            exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,))
            verb = "ALTER" if exists.fetchone() else "CREATE"
            conn.execute(
                sql.SQL(
                    verb + " ROLE {} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE "
                    "NOREPLICATION NOBYPASSRLS PASSWORD {}"
                ).format(ident, sql.Literal(password))
            )
            conn.execute(
                sql.SQL("GRANT CONNECT, TEMPORARY ON DATABASE {} TO {}").format(
                    sql.Identifier(database), ident
                )
            )
            conn.execute(
                sql.SQL("CREATE SCHEMA IF NOT EXISTS {} AUTHORIZATION {}").format(schema, ident)
            )
            conn.execute(sql.SQL("ALTER SCHEMA {} OWNER TO {}").format(schema, ident))
            conn.execute(sql.SQL("REVOKE ALL ON SCHEMA {} FROM PUBLIC").format(schema))
            _hand_over_objects(conn, service, role)
    return role


_KINDS = {"r": "TABLE", "p": "TABLE", "f": "FOREIGN TABLE", "v": "VIEW", "m": "MATERIALIZED VIEW"}


def _hand_over_objects(conn: object, schema: str, role: str) -> None:
    """Make `role` the owner of every relation, sequence, function and type in `schema`
    (a schema migrated before the role existed was created by another user)."""
    from psycopg import Connection, sql

    assert isinstance(conn, Connection)
    relations = conn.execute(
        """
        SELECT c.relname, c.relkind FROM pg_class c
        JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = %s AND c.relkind IN ('r', 'p', 'f', 'v', 'm')
          AND pg_get_userbyid(c.relowner) <> %s
        """,
        (schema, role),
    ).fetchall()
    for name, kind in relations:
        conn.execute(
            sql.SQL("ALTER " + _KINDS[kind] + " {}.{} OWNER TO {}").format(
                sql.Identifier(schema), sql.Identifier(name), sql.Identifier(role)
            )
        )
    # sequences a table owns (identity, serial) followed their table; the others:
    sequences = conn.execute(
        """
        SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = %s AND c.relkind = 'S' AND pg_get_userbyid(c.relowner) <> %s
          AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = c.oid
                          AND d.classid = 'pg_class'::regclass AND d.deptype IN ('a', 'i'))
        """,
        (schema, role),
    ).fetchall()
    for (name,) in sequences:
        conn.execute(
            sql.SQL("ALTER SEQUENCE {}.{} OWNER TO {}").format(
                sql.Identifier(schema), sql.Identifier(name), sql.Identifier(role)
            )
        )
    routines = conn.execute(
        """
        SELECT p.oid::regprocedure::text, p.prokind FROM pg_proc p
        JOIN pg_namespace n ON n.oid = p.pronamespace
        WHERE n.nspname = %s AND pg_get_userbyid(p.proowner) <> %s
        """,
        (schema, role),
    ).fetchall()
    for signature, kind in routines:
        what = "PROCEDURE" if kind == "p" else "FUNCTION"
        conn.execute(
            sql.SQL("ALTER " + what + " " + signature + " OWNER TO {}").format(sql.Identifier(role))
        )
    types = conn.execute(
        """
        SELECT t.typname FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
        WHERE n.nspname = %s AND t.typtype IN ('e', 'd', 'c', 'r')
          AND (t.typrelid = 0 OR (SELECT relkind FROM pg_class WHERE oid = t.typrelid) = 'c')
          AND pg_get_userbyid(t.typowner) <> %s
        """,
        (schema, role),
    ).fetchall()
    for (name,) in types:
        conn.execute(
            sql.SQL("ALTER TYPE {}.{} OWNER TO {}").format(
                sql.Identifier(schema), sql.Identifier(name), sql.Identifier(role)
            )
        )


def drop_role(admin_url: str, service: str) -> None:
    """Undo `bootstrap_role` in the database of `admin_url` (tests): the schema goes back
    to the connecting user, then the role is dropped."""
    import psycopg
    from psycopg import sql

    with psycopg.connect(_libpq(admin_url), autocommit=True, connect_timeout=5) as conn:
        database = conn.execute("SELECT current_database()").fetchone()[0]  # type: ignore[index]
        role = role_name(database, service)
        if conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone():
            conn.execute(
                sql.SQL("REASSIGN OWNED BY {} TO CURRENT_USER").format(sql.Identifier(role))
            )
            conn.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(role)))
            conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))


# ------------------------------------------------------------------------- Redis
def can_bootstrap_acl(admin_url: str) -> str | None:
    """None when the Redis of `admin_url` has ACL selectors (7+) and lets this user set
    users; otherwise why ACL users are skipped."""
    import redis

    client = redis.Redis.from_url(admin_url, socket_connect_timeout=5, socket_timeout=5)
    try:
        version = str(client.info("server").get("redis_version", "0"))
        if int(version.split(".")[0]) < 7:
            return f"Redis {version} has no ACL selectors (7.0+)"
        client.execute_command("ACL", "WHOAMI")
        return None
    except redis.RedisError as exc:
        return f"Redis refuses ACL commands: {exc}"
    finally:
        client.close()


def bootstrap_acl_user(admin_url: str, service: str, password: str, prefix: str = "") -> str:
    """Create or update `service`'s ACL user (its password added to the ones it has, so
    two stacks sharing a Redis keep working); returns the user's name."""
    import redis

    user = redis_user(service, prefix)
    client = redis.Redis.from_url(admin_url, socket_connect_timeout=5, socket_timeout=5)
    try:
        client.execute_command("ACL", "SETUSER", user, *acl_rules(service, prefix), f">{password}")
    finally:
        client.close()
    return user


def drop_acl_user(admin_url: str, service: str, prefix: str = "") -> None:
    import redis

    client = redis.Redis.from_url(admin_url, socket_connect_timeout=5, socket_timeout=5)
    try:
        client.execute_command("ACL", "DELUSER", redis_user(service, prefix))
    finally:
        client.close()


def service_redis_url(redis_url: str, user: str, password: str) -> str:
    """`redis_url` with `user` and its password (AUTH user password on connect)."""
    scheme, rest = redis_url.split("://", 1)
    host = rest.rsplit("@", 1)[-1]
    return f"{scheme}://{quote(user, safe='')}:{quote(password, safe='')}@{host}"


# ---------------------------------------------------------------------- together
@dataclass(frozen=True)
class Bootstrapped:
    """Per service, the settings that make it connect as its own role and user."""

    env: dict[str, dict[str, str]]
    notes: list[str]


def bootstrap(
    database_url: str,
    redis_url: str,
    services: Iterable[str] = SERVICES,
    *,
    prefix: str = "",
    credentials: Credentials | None = None,
) -> Bootstrapped:
    """Roles and ACL users for `services`, when the servers allow it (a note says why
    not otherwise; the services then connect as the configured users, as before)."""
    creds = credentials or Credentials()
    wanted: Sequence[str] = list(services)
    env: dict[str, dict[str, str]] = {service: {} for service in wanted}
    notes: list[str] = []
    why_not = can_bootstrap_roles(database_url)
    if why_not:
        notes.append(f"PostgreSQL roles skipped: {why_not}")
    else:
        from sqlalchemy.engine import make_url

        database = make_url(database_url).database or "postgres"
        for service in wanted:
            role = role_name(database, service)
            password = creds.postgres_password(role)
            bootstrap_role(database_url, service, password)
            env[service]["DATABASE_URL"] = service_database_url(database_url, role, password)
    why_not = can_bootstrap_acl(redis_url)
    if why_not:
        notes.append(f"Redis ACL users skipped: {why_not}")
    else:
        for service in wanted:
            user = redis_user(service, prefix)
            password = creds.redis_password(user)
            bootstrap_acl_user(redis_url, service, password, prefix)
            env[service]["REDIS_URL"] = service_redis_url(redis_url, user, password)
    return Bootstrapped(env=env, notes=notes)


def bootstrap_local(
    database_url: str, redis_url: str, services: Iterable[str], *, prefix: str, state: Path
) -> Bootstrapped:
    """`bootstrap` for a local stack, the passwords kept in `state` (mode 0600)."""
    creds = Credentials.load(state)
    done = bootstrap(database_url, redis_url, services, prefix=prefix, credentials=creds)
    creds.save(state)
    return done


def main(argv: list[str] | None = None) -> int:
    from sqlalchemy.engine import make_url

    parser = argparse.ArgumentParser(
        prog="python -m marcus_web.ownership", description=__doc__.split("\n")[0]
    )
    commands = parser.add_subparsers(dest="command", required=True)
    boot = commands.add_parser(
        "bootstrap", help="create or update the roles and ACL users (a superuser's URLs)"
    )
    boot.add_argument("--database-url", required=True, help="a superuser's, in the database")
    boot.add_argument("--redis-url", required=True, help="a user allowed ACL SETUSER")
    boot.add_argument("--prefix", default="", help="STREAM_PREFIX of the services")
    boot.add_argument(
        "--credentials",
        type=Path,
        help="JSON file of the passwords ({'postgres': {role: pw}, 'redis': {user: pw}}); "
        "missing ones are generated and written back. DB_PASSWORD_<SERVICE> and "
        "REDIS_PASSWORD_<SERVICE> in the environment win (compose, a Kubernetes Job)",
    )
    boot.add_argument("services", nargs="*", default=list(SERVICES))
    acl = commands.add_parser("acl", help="print the ACL file lines (passwords as <password>)")
    acl.add_argument("--prefix", default="")
    acl.add_argument("services", nargs="*", default=list(SERVICES))
    args = parser.parse_args(argv)
    if args.command == "acl":
        for service in args.services:
            rules = " ".join(acl_rules(service, args.prefix))
            print(f"user {redis_user(service, args.prefix)} {rules} ><password>")
        return 0
    creds = Credentials.load(args.credentials)
    database = make_url(args.database_url).database or "postgres"
    for service in args.services:
        if db_password := os.environ.get(f"DB_PASSWORD_{service.upper()}"):
            creds.postgres[role_name(database, service)] = db_password
        if redis_password := os.environ.get(f"REDIS_PASSWORD_{service.upper()}"):
            creds.redis[redis_user(service, args.prefix)] = redis_password
    done = bootstrap(
        args.database_url,
        args.redis_url,
        args.services,
        prefix=args.prefix,
        credentials=creds,
    )
    if args.credentials is not None:
        creds.save(args.credentials)
    for note in done.notes:
        print(note, file=sys.stderr)
    for service, values in done.env.items():
        print(f"{service}: {', '.join(sorted(values)) or 'nothing'} for its own role and user")
    return 1 if done.notes else 0


if __name__ == "__main__":
    sys.exit(main())
