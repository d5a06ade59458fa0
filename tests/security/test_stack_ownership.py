"""`make up` runs every service as its own PostgreSQL role and Redis ACL user (issue 18,
part 3), and the shop still works end to end under them.

The whole Procfile (six services, the SMTP catcher, both Chroma servers) on free ports,
against the tests' PostgreSQL and Redis (7: ACL selectors), its state in a temporary
folder. A product is created, found by search (indexer -> alias -> assistant), ordered
(orders -> the catalog's stock saga -> orders) and e-mailed (notifier): every consumer
group reads and acknowledges through its ACL user, every service writes only its own
schema. The indexer and the assistant are given the `chroma-alt` server (ADR 0035).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
import redis

from marcus_eventstore.migrations import libpq_dsn
from marcus_web import ownership
from marcus_web.auth import mint_token
from marcus_web.settings import DEV_JWT_SECRET
from tests.support import infra
from tests.support.servers import free_port

ROOT = Path(__file__).resolve().parents[2]
PORTS = (
    "catalog",
    "orders",
    "assistant",
    "indexer",
    "scheduler",
    "notifier",
    "mail",
    "chroma",
    "chroma-alt",
)

pytestmark = [pytest.mark.timeout(1200)]


def request(method: str, url: str, body: Any = None, token: str = "", **headers: str) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method)
    req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    for name, value in headers.items():
        req.add_header(name.replace("_", "-"), value)
    try:
        with urllib.request.urlopen(req, timeout=15) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(errors="replace")


def eventually(check: Any, within: float, what: str) -> Any:
    deadline = time.monotonic() + within
    while True:
        result = check()
        if result:
            return result
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(1)


@pytest.fixture
def stack(postgres_server_url: str, redis_url: str, tmp_path: Path) -> Iterator[dict[str, Any]]:
    if why := ownership.can_bootstrap_acl(redis_url):
        pytest.skip(why)
    ports = {name: free_port() for name in PORTS}
    procfile = tmp_path / "Procfile"
    procfile.write_text(
        "".join(
            f"{name}: python -m {name} serve --port {ports[name]}\n"
            for name in PORTS
            if name not in ("mail", "chroma", "chroma-alt")
        )
        + f"mail: python -m scripts.mailcatcher serve --port {ports['mail']}"
        f" --dir {tmp_path / 'mail'}\n"
        + "".join(
            f"{name}: chroma run --host 127.0.0.1 --port {ports[name]} --path {tmp_path / name}\n"
            for name in ("chroma", "chroma-alt")
        )
    )
    prefix = f"owned-{uuid.uuid4().hex[:8]}:"
    with infra.fresh_database(postgres_server_url) as database_url:
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(
                (
                    "VIRTUAL_ENV",
                    "TEST_",
                    "DATABASE_URL",
                    "REDIS_URL",
                    "JWT_",
                    "DEPLOYMENT",
                    "CHROMA_ALT_URL",
                )
            )
        }
        env |= {
            "DATABASE_URL": database_url,
            "REDIS_URL": redis_url,
            "STREAM_PREFIX": prefix,
            "STACK_DATA_DIR": str(tmp_path / "data"),
            "STACK_PROCFILE": str(procfile),
            "STACK_GATEWAY": "0",
            "STACK_READY_TIMEOUT": "600",
            "EMBEDDER": "hash",
            "CHROMA_URL": f"http://127.0.0.1:{ports['chroma']}",
            "CATALOG_URL": f"http://127.0.0.1:{ports['catalog']}",
            "ORDERS_URL": f"http://127.0.0.1:{ports['orders']}",
            "SMTP_PORT": str(ports["mail"]),
            "LOG_FORMAT": "text",
        }
        try:
            yield {
                "env": env,
                "ports": ports,
                "prefix": prefix,
                "database_url": database_url,
                "redis_url": redis_url,
                "mail": tmp_path / "mail",
                "data": tmp_path / "data",
            }
        finally:
            subprocess.run(["make", "down"], cwd=ROOT, env=env, capture_output=True, timeout=120)
            for service in ownership.CONSUMES:
                ownership.drop_acl_user(redis_url, service, prefix)
                ownership.drop_role(database_url, service)
            admin = redis.Redis.from_url(redis_url)
            keys = list(admin.scan_iter(match=f"{prefix}*", count=500))
            if keys:
                admin.delete(*keys)
            admin.close()


def test_make_up_runs_each_service_as_its_own_role_and_acl_user(stack: dict[str, Any]) -> None:
    env, ports, prefix = stack["env"], stack["ports"], stack["prefix"]
    up = subprocess.run(
        ["make", "up"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=900
    )
    assert up.returncode == 0 and "Marcus is up" in up.stdout, up.stdout + up.stderr
    assert "each service connects as its own role / ACL user: assistant, catalog" in up.stdout
    assert "roles skipped" not in up.stdout and "users skipped" not in up.stdout, up.stdout

    config = (stack["data"] / "supervisord.conf").read_text()
    database = stack["database_url"].rsplit("/", 1)[1]
    for service in ownership.CONSUMES:
        role, user = ownership.role_name(database, service), ownership.redis_user(service, prefix)
        assert f"//{role}:" in config and f"//{user}:" in config, service
    # the indexer and the assistant, and only they, get the Procfile's chroma-alt (ADR 0035)
    programs = dict(re.findall(r"^\[program:([\w-]+)\]\n(.*?)(?=^\[|\Z)", config, re.M | re.S))
    alt = f'CHROMA_ALT_URL="http://127.0.0.1:{ports["chroma-alt"]}"'
    for name, section in programs.items():
        assert (alt in section) is (name in ("indexer", "assistant")), name

    # every table of a schema belongs to that service's role (its migrations ran as it)
    with psycopg.connect(libpq_dsn(stack["database_url"])) as conn:
        owners = conn.execute(
            """SELECT DISTINCT n.nspname, pg_get_userbyid(c.relowner) FROM pg_class c
               JOIN pg_namespace n ON n.oid = c.relnamespace
               WHERE n.nspname = ANY(%s) AND c.relkind IN ('r', 'p', 'm', 'v')""",
            (list(ownership.CONSUMES),),
        ).fetchall()
    assert sorted(owners) == sorted(
        (service, ownership.role_name(database, service)) for service in ownership.CONSUMES
    )

    url = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
    admin = mint_token("ops", ["admin"], secret=DEV_JWT_SECRET)
    customer = mint_token("alice", [], secret=DEV_JWT_SECRET, email="alice@example.com")
    status, category = request(
        "POST", f"{url['catalog']}/api/v1/categories", {"slug": "kettles", "name": "Kettles"}, admin
    )
    assert status == 201, category
    status, product = request(
        "POST",
        f"{url['catalog']}/api/v1/products",
        {
            "sku": "KET-OWN",
            "name": "Owned steel kettle",
            "price": "12.50",
            "currency": "EUR",
            "category_id": category["id"],
            "stock": 5,
        },
        admin,
    )
    assert status == 201, product

    def found() -> bool:  # indexer (events.catalog, index:active) -> assistant (alias)
        code, page = request("GET", f"{url['assistant']}/api/v1/search?q=steel+kettle&k=5")
        return code == 200 and any(h["product_id"] == product["id"] for h in page["results"])

    eventually(found, 180, "the product in search")

    def placed() -> Any:  # orders' read model follows events.catalog
        code, order = request(
            "POST",
            f"{url['orders']}/api/v1/orders",
            {"email": "alice@example.com", "lines": [{"product_id": product["id"], "quantity": 2}]},
            customer,
            Idempotency_Key="owned-1",
        )
        return order if code == 201 else None

    order = eventually(placed, 120, "the order placed")

    def confirmed() -> bool:  # the catalog's saga (events.orders) -> orders (events.catalog)
        code, body = request("GET", f"{url['orders']}/api/v1/orders/{order['id']}", token=customer)
        return code == 200 and body["status"] == "confirmed"

    eventually(confirmed, 180, "the order confirmed")
    # the notifier (events.orders) sends the confirmation
    eventually(lambda: any(stack["mail"].glob("**/*.eml")), 180, "the confirmation e-mail")

    logs = "\n".join(
        path.read_text(errors="replace") for path in (stack["data"] / "logs").glob("*.log")
    )
    assert "NOPERM" not in logs
    assert "permission denied" not in logs
