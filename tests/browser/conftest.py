"""Browser tests: the storefront in Debian's Chromium (Playwright), in front of the whole
stack as processes behind the real nginx gateway.

Fixtures (for every test in this folder):

- `shop` (package scope): catalog, orders, assistant, indexer, scheduler, notifier and the
  storefront as `python -m <service> serve` processes on one fresh database and Redis
  prefix, a Chroma server, the SMTP mail catcher (`scripts.mailcatcher`, the one `make
  up` runs) and the local OpenAI-compatible fake (services/assistant/tests/fake_openai.py:
  a test scripts the model with `shop.llm.then(Reply(...))`), nginx rendered from the
  gateway template, and the sample catalog loaded by `scripts/seed.py` through the gateway
  and indexed. `shop.url` is what the browser opens; `shop.api` calls the public API
  through the same gateway; `shop.headers(subject, *roles)` signs as anyone.
- `browser` (package scope): Chromium from `CHROMIUM_PATH` (default /usr/bin/chromium;
  Playwright downloads no browser). Skipped where it or nginx is missing; CI installs both.
- `page`: a fresh browser context (own cookies) and page at 1280x900; `phone` the same at
  390x844 (a phone's width).
- `sign_in(page, subject)`: the demo sign-in, as a user would click it.
- `screenshot(page, name)`: a PNG of the page in `.data/screenshots/` (git-ignored).

Nothing here waits for a fixed time: readiness is polled with generous limits (a loaded
2-core machine starts seven services slowly), and Playwright's `expect` retries until the
page shows what the test expects.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from marcus_eventstore.migrations import upgrade
from marcus_web.auth import mint_token
from scripts.mailcatcher import Mailbox
from services.assistant.tests.fake_openai import FakeOpenAI, fake_openai
from tests.support import gateway as gw
from tests.support import infra
from tests.support.auth import bearer
from tests.support.chroma import ChromaProcess
from tests.support.servers import free_port, stop_processes, wait_for

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / ".data" / "screenshots"
SECRET = "browser-tests-secret-0123456789abcdef"
SERVICES = ("catalog", "orders", "assistant", "indexer", "scheduler", "notifier")
"""Every service with a database, migrated and started; the storefront comes after."""
STARTUP_S = 300.0
"""Readiness limit per process: seven Python services starting at once on two cores."""
FAST = {
    "RELAY_POLL_INTERVAL": "0.2",
    "SAGA_BACKOFF_BASE_MS": "200",
    "SAGA_RECLAIM_MIN_IDLE_MS": "3000",
    "CONSUMER_BACKOFF_BASE_MS": "200",
    "CONSUMER_BACKOFF_MAX_MS": "1000",
    "CONSUMER_RECLAIM_MIN_IDLE_MS": "3000",
    "LOG_LEVEL": "warning",
}
EXPECT_TIMEOUT_MS = 60_000
"""How long Playwright's `expect` retries (and actions wait) before failing: the saga,
the indexer and the notifier are asynchronous, and the machine may be loaded."""
RATES = gw.rates("100r/s", 200, 200)
"""Rate limits far above what a test sends: a browser test is not a rate-limit test."""


def chromium_path() -> str:
    return os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")


def skip_without_chromium() -> None:
    if not Path(chromium_path()).exists():
        pytest.skip(f"no Chromium at {chromium_path()} (apt-get install chromium)")


@dataclass
class Shop:
    """The running stack, as the browser and the tests see it."""

    url: str
    """The gateway: the storefront at /, the public API at /api/v1/."""
    api: httpx.AsyncClient
    mailbox: Mailbox
    llm: FakeOpenAI
    database_url: str
    logs: Path
    services: dict[str, str] = field(default_factory=dict)
    """Each process's own URL (name -> http://127.0.0.1:<port>), for its probes."""
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def headers(self, subject: str, *roles: str, email: str | None = None) -> dict[str, str]:
        """A bearer token signed as the services expect (a customer, or `admin`)."""
        return bearer(subject, *roles, secret=SECRET, email=email)

    async def product_by_sku(self, sku: str) -> dict[str, Any]:
        """A seeded product, read through the public API."""
        page = (await self.api.get("/api/v1/products", params={"q": sku, "limit": 5})).json()
        return next(p for p in page["items"] if p["sku"] == sku)

    def log_tail(self, name: str, chars: int = 3000) -> str:
        path = self.logs / f"{name}.log"
        return path.read_text(errors="replace")[-chars:] if path.exists() else ""


def _env(database_url: str, redis_url: str, prefix: str, extra: dict[str, str]) -> dict[str, str]:
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "STREAM_PREFIX": prefix,
        "JWT_SECRET": SECRET,
        "LOG_FORMAT": "json",
        **FAST,
        **extra,
    }
    env.pop("OTEL_EXPORTER_OTLP_ENDPOINT", None)
    return env


async def _ready(shop: Shop, name: str, url: str) -> None:
    async def answers() -> bool:
        proc = shop.procs[name]
        if proc.poll() is not None:
            raise AssertionError(f"{name} exited:\n{shop.log_tail(name)}")
        return await gw.answers(url)

    await wait_for(answers, within=STARTUP_S, interval=0.5, what=f"{name} ready")


def _seed(gateway_url: str) -> None:
    """The sample catalog through the gateway, as `make seed` loads it (no cart)."""
    admin = mint_token("seed", ["admin"], secret=SECRET)
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "scripts" / "seed.py"),
            "--url",
            gateway_url,
            "--orders-url",
            gateway_url,
            "--token",
            admin,
            "--no-cart",
            "--timeout",
            "60",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]


async def _indexed(shop: Shop, expected: int) -> None:
    """Until the indexer holds every seeded product (search answers from it)."""
    admin = shop.headers("ops", "admin")

    async def done() -> bool:
        status = (await shop.api.get("/api/v1/admin/index", headers=admin)).json()
        return int(status.get("documents") or 0) >= expected

    await wait_for(done, within=STARTUP_S, interval=1.0, what=f"{expected} products indexed")


async def _orders_know(shop: Shop, expected: int) -> None:
    """Until the orders service's read model has every product (a cart line of a product
    it has not learned yet would be refused)."""
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine(shop.database_url)

    async def known() -> bool:
        async with engine.connect() as conn:
            count = (await conn.execute(text("SELECT count(*) FROM orders.products"))).scalar_one()
        return int(count) >= expected

    try:
        await wait_for(known, within=STARTUP_S, interval=1.0, what="products known to orders")
    finally:
        await engine.dispose()


@pytest.fixture(scope="package")
def shop_database(postgres_server_url: str) -> Iterator[str]:
    """A database of the shop's own: the seed is idempotent by SKU, so in a database
    where another suite already seeded the catalog it would add no product, publish no
    event under this shop's prefix, and nothing would reach its index."""
    with infra.fresh_database(postgres_server_url) as url:
        yield url


@pytest.fixture(scope="package")
async def shop(shop_database: str, redis_url: str) -> AsyncIterator[Shop]:
    database_url = shop_database
    nginx = gw.nginx_binary()
    skip_without_chromium()
    for service in SERVICES:
        upgrade(service, database_url)
    prefix = f"browser-{os.urandom(4).hex()}:"
    logs = Path(tempfile.mkdtemp(prefix="marcus-browser-"))
    os.chmod(logs, 0o755)  # nginx workers (unprivileged when started by root) use its temp dirs
    chroma = ChromaProcess()
    chroma.start(within=STARTUP_S)
    ports = {name: free_port() for name in (*SERVICES, "storefront")}
    smtp_port = free_port()
    gateway_port = free_port()
    gateway_url = f"http://127.0.0.1:{gateway_port}"
    mail_dir = logs / "mail"
    async with fake_openai() as llm, httpx.AsyncClient(base_url=gateway_url, timeout=60) as api:
        result = Shop(
            url=gateway_url,
            api=api,
            mailbox=Mailbox(mail_dir),
            llm=llm,
            database_url=database_url,
            logs=logs,
            services={name: f"http://127.0.0.1:{port}" for name, port in ports.items()},
        )
        shared = {
            "CHROMA_URL": chroma.url,
            "INDEX_NAMESPACE": prefix.replace(":", "-"),
            "EMBEDDER": "hash",
            "SMTP_PORT": str(smtp_port),
            "CATALOG_URL": result.services["catalog"],
            "ORDERS_URL": result.services["orders"],
            "CHAT_BASE_URL": llm.base_url,
            "CHAT_API_KEY": "test-key",
            "CHAT_MODEL": "fake-model",
            "CHAT_TIMEOUT_S": "120",
            "ALLOW_OTHER_EMAIL": "false",
        }
        env = _env(database_url, redis_url, prefix, shared)
        storefront_env = _env(
            database_url,
            redis_url,
            prefix,
            {"PUBLIC_API_URL": gateway_url, "DEPLOYMENT": "development"},
        )
        try:
            result.procs["mail"] = gw.start_process(
                [
                    sys.executable,
                    "-m",
                    "scripts.mailcatcher",
                    "serve",
                    "--port",
                    str(smtp_port),
                    "--dir",
                    str(mail_dir),
                ],
                logs / "mail.log",
                env,
            )
            for name in SERVICES:
                result.procs[name] = gw.start_service(name, ports[name], logs, env)
            result.procs["storefront"] = gw.start_service(
                "storefront", ports["storefront"], logs, storefront_env
            )
            command = gw.gateway_command(nginx, logs, ports, gateway_port, _docs(logs), RATES)
            result.procs["gateway"] = gw.start_gateway(command, logs / "gateway.log")
            await wait_for(
                lambda: gw.answers(f"{gateway_url}/gateway/healthz"),
                within=60,
                what="nginx ready",
            )
            for name in (*SERVICES, "storefront"):
                await _ready(result, name, f"{result.services[name]}/readyz")
            _seed(gateway_url)
            products = (await api.get("/api/v1/products", params={"limit": 1})).json()
            assert products["items"], "the seed loaded no products"
            seeded = _seeded_count()
            await _orders_know(result, seeded)
            await _indexed(result, seeded)
            yield result
        finally:
            stop_processes(result.procs.values())
            chroma.remove()
            shutil.rmtree(logs, ignore_errors=True)


def _seeded_count() -> int:
    """Products the seed creates that are sold as they are (simple and preconfigured)."""
    import json

    catalog = json.loads((ROOT / "scripts" / "seed_data" / "catalog.json").read_text())
    configurable = json.loads((ROOT / "scripts" / "seed_data" / "configurable.json").read_text())
    presets = sum(len(spec["preconfigured"]) for spec in configurable["configurable"])
    return len(catalog["products"]) + presets


def _docs(folder: Path) -> Path:
    """The checked-in API documents, readable by nginx's workers."""
    docs = folder / "docs"
    shutil.copytree(ROOT / "deploy" / "gateway" / "docs", docs)
    for path in (docs, *docs.iterdir()):
        path.chmod(0o755 if path.is_dir() else 0o644)
    return docs


@pytest.fixture(scope="package")
async def browser() -> AsyncIterator[Any]:
    """Debian's Chromium driven by Playwright (never a downloaded browser)."""
    from playwright.async_api import async_playwright, expect

    skip_without_chromium()
    expect.set_options(timeout=EXPECT_TIMEOUT_MS)
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=chromium_path(), args=["--no-sandbox"]
        )
        try:
            yield browser
        finally:
            await browser.close()


@asynccontextmanager
async def _fresh_page(browser: Any, shop: Shop, **options: Any) -> AsyncIterator[Any]:
    """A page in a context of its own (no cookies) on the shop; `options` for the context."""
    context = await browser.new_context(base_url=shop.url, **options)
    context.set_default_timeout(EXPECT_TIMEOUT_MS)
    page = await context.new_page()
    try:
        yield page
    finally:
        await context.close()


@pytest.fixture
async def page(browser: Any, shop: Shop) -> AsyncIterator[Any]:
    """A fresh context (no cookies) and page on the shop, desktop width."""
    async with _fresh_page(browser, shop, viewport={"width": 1280, "height": 900}) as page:
        yield page


@pytest.fixture
async def phone(browser: Any, shop: Shop) -> AsyncIterator[Any]:
    """A fresh context at a phone's width (390 px), touch enabled."""
    viewport = {"width": 390, "height": 844}
    async with _fresh_page(
        browser, shop, viewport=viewport, has_touch=True, is_mobile=True
    ) as page:
        yield page


async def sign_in(page: Any, subject: str) -> None:
    """The demo sign-in, clicked as a user would: /signin -> the account's button."""
    from playwright.async_api import expect

    await page.goto("/signin")
    await page.get_by_role("button", name=f"({subject}").first.click()
    await expect(page.get_by_text(f"Signed in as {subject}")).to_be_visible()


async def screenshot(page: Any, name: str) -> Path:
    """A full-page PNG in .data/screenshots/<name>.png (an artifact, never committed)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    await page.screenshot(path=str(path), full_page=True)
    return path


@pytest.fixture(scope="session")
def screenshots_dir() -> Iterator[Path]:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    yield SCREENSHOTS
