"""The cached read path of one catalog (API, relay, saga and follower on a real socket):
same bytes as the database path, evicted by every kind of change, tokens checked."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import psycopg
import pytest
from prometheus_client import REGISTRY

from catalog.main import create_app
from catalog.settings import CatalogSettings
from catalog.storage.read_cache import ReadCache
from marcus_contracts import new_event_id
from marcus_contracts.events.history import orders as order_history
from marcus_eventstore import libpq_dsn
from services.catalog.tests.support import order_envelope
from tests.support.servers import serve_app, wait_for

TOKEN = "Marcus-Consistency-Token"
OUTCOME = "Marcus-Read-Cache"


@pytest.fixture
async def cached(
    engine, settings: CatalogSettings
) -> AsyncIterator[tuple[httpx.AsyncClient, ReadCache]]:
    """A catalog with its read cache, once its follower follows; a client without cookies
    (so only explicit tokens count)."""
    app = create_app(settings)
    async with serve_app(app) as url, httpx.AsyncClient(base_url=url) as client:
        client.cookies = _NoCookies()
        cache: ReadCache = app.state.read_cache
        await wait_for(lambda: cache.usable(None), within=30, what="the follower follows")
        yield client, cache


async def _cached(client: httpx.AsyncClient, path: str, **kwargs: object) -> httpx.Response:
    """GET until this replica answers from its cache (it bypasses it while its follower
    is behind, e.g. on a loaded machine); the hit."""
    hits: list[httpx.Response] = []

    async def hit() -> bool:
        response = await client.get(path, **kwargs)  # type: ignore[arg-type]
        hits.append(response)
        return response.headers[OUTCOME] == "hit"

    await wait_for(hit, within=30, what=f"a cache hit on {path}")
    return hits[-1]


class _NoCookies(httpx.Cookies):
    def extract_cookies(self, response: httpx.Response) -> None:
        return None


async def _product(client: httpx.AsyncClient, admin: dict[str, str], **extra: object) -> dict:
    category = await client.post(
        "/api/v1/categories",
        json={"slug": f"c-{uuid.uuid4().hex[:8]}", "name": "Bikes"},
        headers=admin,
    )
    assert category.status_code == 201, category.text
    body = {
        "sku": f"S-{uuid.uuid4().hex[:8]}",
        "name": "Road bike",
        "description": "Light.",
        "price": "999.90",
        "currency": "EUR",
        "category_id": category.json()["id"],
        "attributes": {"colour": "réd", "weight_kg": 8.4, "road": True},
        "stock": 5,
    } | extra
    created = await client.post("/api/v1/products", json=body, headers=admin)
    assert created.status_code == 201, created.text
    assert int(created.headers[TOKEN]) > 0
    return created.json()


async def test_a_hit_answers_the_bytes_the_database_path_answers(
    cached, settings: CatalogSettings, admin_headers
) -> None:
    client, _ = cached
    product = await _product(client, admin_headers)
    path = f"/api/v1/products/{product['id']}"
    miss = await client.get(path)
    assert miss.headers[OUTCOME] in {"miss", "bypass"}
    hit = await _cached(client, path)
    off_settings = settings.model_copy(update={"read_cache": False})
    async with serve_app(create_app(off_settings)) as url, httpx.AsyncClient(base_url=url) as off:
        direct = await off.get(path)
    assert direct.headers[OUTCOME] == "off"
    assert hit.content == miss.content == direct.content
    assert hit.json() == product
    assert hit.headers["ETag"] == direct.headers["ETag"] == '"1"'
    assert hit.headers["content-type"] == direct.headers["content-type"] == "application/json"
    category = f"/api/v1/categories/{product['category']['id']}"
    assert (await _cached(client, category)).json()["name"] == "Bikes"


async def test_every_write_is_visible_to_the_next_read_on_this_replica(
    cached, admin_headers
) -> None:
    """Without any token: the write evicts locally before it answers."""
    client, _ = cached
    product = await _product(client, admin_headers)
    path = f"/api/v1/products/{product['id']}"
    for i in range(20):
        assert (await client.get(path)).json()["version"] == i + 1
        patched = await client.patch(path, json={"name": f"Road bike v{i}"}, headers=admin_headers)
        assert patched.status_code == 200, patched.text
        now = await client.get(path)
        assert (now.json()["name"], now.json()["version"]) == (f"Road bike v{i}", i + 2)
        assert now.content == patched.content
    stocked = await client.put(f"{path}/stock", json={"stock": 0}, headers=admin_headers)
    assert stocked.status_code == 200
    assert (await client.get(path)).json()["in_stock"] is False


async def test_a_category_rename_reaches_the_cached_products(cached, admin_headers) -> None:
    client, _ = cached
    product = await _product(client, admin_headers)
    path = f"/api/v1/products/{product['id']}"
    await _cached(client, path)
    renamed = await client.patch(
        f"/api/v1/categories/{product['category']['id']}",
        json={"name": "Road bikes"},
        headers=admin_headers,
    )
    assert renamed.status_code == 200, renamed.text
    assert (await client.get(path)).json()["category"]["name"] == "Road bikes"


async def test_delete_answers_404_from_then_on(cached, admin_headers) -> None:
    client, _ = cached
    product = await _product(client, admin_headers)
    path = f"/api/v1/products/{product['id']}"
    await _cached(client, path)
    deleted = await client.delete(path, headers=admin_headers)
    assert deleted.status_code == 204 and deleted.content == b""
    assert int(deleted.headers[TOKEN]) > 0
    for _ in range(3):
        gone = await client.get(path)
        assert gone.status_code == 404
        assert gone.headers["content-type"] == "application/problem+json"


async def test_a_malformed_token_is_a_400_and_changes_nothing(cached, admin_headers) -> None:
    client, cache = cached
    product = await _product(client, admin_headers)
    path = f"/api/v1/products/{product['id']}"
    await client.get(path)
    entries = len(cache._entries)
    for bad in ("abc", "-1", "1.5", "9" * 30, ""):
        refused = await client.get(path, headers={TOKEN: bad})
        assert refused.status_code == 400, bad
        assert TOKEN in refused.json()["detail"]
    refused = await client.get(path, headers={"Cookie": "marcus_consistency_token=x"})
    assert refused.status_code == 400
    assert len(cache._entries) == entries
    await _cached(client, path)


async def test_the_cookie_a_write_sets_gives_read_your_writes(cached, admin_headers) -> None:
    client, _ = cached
    product = await _product(client, admin_headers)
    patched = await client.patch(
        f"/api/v1/products/{product['id']}", json={"name": "Cookie bike"}, headers=admin_headers
    )
    cookie = patched.headers["set-cookie"]
    assert cookie.startswith(f"marcus_consistency_token={patched.headers[TOKEN]};")
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie
    far = int(patched.headers[TOKEN]) + 1_000_000
    ahead = await client.get(
        f"/api/v1/products/{product['id']}", headers={"Cookie": f"marcus_consistency_token={far}"}
    )
    # No write returned it: refused (issue 19, finding 12; it used to bypass the cache).
    assert ahead.status_code == 400, ahead.text
    own = await _cached(
        client,
        f"/api/v1/products/{product['id']}",
        headers={"Cookie": f"marcus_consistency_token={patched.headers[TOKEN]}"},
    )
    assert own.json()["name"] == "Cookie bike"


async def test_stock_the_saga_reserves_is_evicted(
    cached, admin_headers, orders_stream, catalog_stream
) -> None:
    client, _ = cached
    product = await _product(client, admin_headers)
    path = f"/api/v1/products/{product['id']}"
    await _cached(client, path)
    order_id = new_event_id()
    placed = order_envelope(order_history.OrderPlacedV1, order_id, [(product["id"], 2)], 1)
    await orders_stream(placed)

    async def reserved() -> bool:
        return any(
            e.type == "catalog.stock.reserved" and e.data.get("order_id") == str(order_id)
            for e in await catalog_stream.envelopes()
        )

    await wait_for(reserved, within=30, what="the saga's reservation")
    # The saga evicts on commit, before the relay publishes: no wait, no token.
    now = (await client.get(path)).json()
    assert (now["stock"], now["version"]) == (3, 2)


async def test_an_open_gap_holds_tokens_back_but_not_evictions(
    cached, catalog_database, admin_headers
) -> None:
    """A transaction that allocated a position and has not committed: later writes are
    still evicted (reads without a token see them), but a token above the gap reads
    PostgreSQL until the transaction ends."""
    client, cache = cached
    product = await _product(client, admin_headers)
    path = f"/api/v1/products/{product['id']}"
    await client.get(path)
    async with await psycopg.AsyncConnection.connect(libpq_dsn(catalog_database)) as held:
        await held.execute("SELECT pg_current_xact_id()")
        gap = await (
            await held.execute(
                "INSERT INTO catalog.events (id, subject, sequence, type, dataversion, time,"
                " envelope) VALUES (%s, %s, 1, 'catalog.test.gap', 1, %s, '{}')"
                " RETURNING position",
                [uuid.uuid4(), str(uuid.uuid4()), datetime.now(UTC)],
            )
        ).fetchone()
        assert gap is not None
        patched = await client.patch(path, json={"name": "After the gap"}, headers=admin_headers)
        token = int(patched.headers[TOKEN])
        assert token > gap[0]

        async def follower_saw_it() -> bool:
            return (
                cache._following
                and cache.applied_position >= gap[0] - 1
                and (cache.get(("p", uuid.UUID(product["id"]))) is None)
            )

        await wait_for(follower_saw_it, within=30, what="the follower's round")
        assert cache.applied_position < gap[0]
        with_token = await client.get(path, headers={TOKEN: str(token)})
        assert with_token.headers[OUTCOME] == "bypass"
        assert with_token.json()["name"] == "After the gap"
        await held.rollback()
    await wait_for(lambda: cache.applied_position >= token, within=30, what="the gap resolved")
    hit = await _cached(client, path, headers={TOKEN: str(token)})
    assert hit.json()["name"] == "After the gap"


async def test_finding_12_a_token_from_the_future_is_400_and_cannot_bypass_the_cache(
    cached, admin_headers
) -> None:
    """Issue 19, finding 12: a made-up large token used to make every read bypass the
    cache. One above every committed event is refused; the latest real one still serves."""
    client, cache = cached
    product = await _product(client, admin_headers)
    path = f"/api/v1/products/{product['id']}"
    patched = await client.patch(path, json={"name": "Real token"}, headers=admin_headers)
    token = int(patched.headers[TOKEN])
    bypasses = _metric("catalog_read_cache_requests_total", {"outcome": "bypass"})
    for future in (token + 1_000_000, 9 * 10**18):
        refused = await client.get(path, headers={TOKEN: str(future)})
        assert refused.status_code == 400, refused.text
        assert refused.headers["content-type"] == "application/problem+json"
        assert "ahead of every committed write" in refused.json()["detail"]
        cookie = await client.get(path, headers={"Cookie": f"marcus_consistency_token={future}"})
        assert cookie.status_code == 400
    assert _metric("catalog_read_cache_requests_total", {"outcome": "bypass"}) == bypasses
    hit = await _cached(client, path, headers={TOKEN: str(token)})
    assert hit.json()["name"] == "Real token"
    assert cache.committed_position >= token


def _metric(name: str, labels: dict[str, str]) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0
