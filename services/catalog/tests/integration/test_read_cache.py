"""The cached read path of one catalog (API, relay, saga and follower on a real socket):
same bytes as the database path, evicted by every kind of change, tokens checked."""

from __future__ import annotations

import asyncio
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


# --- pages of the product list (ADR 0027) -------------------------------------------------


def _page_of(category_id: str, **params: object) -> tuple[str, dict[str, object]]:
    """A list scoped to one test's category (other tests' products share the database)."""
    return "/api/v1/products", {"category": category_id, **params}


async def test_a_cached_page_answers_the_bytes_the_database_path_answers(
    cached, settings: CatalogSettings, admin_headers
) -> None:
    client, cache = cached
    first = await _product(client, admin_headers)
    category = first["category"]["id"]
    second = await client.post(
        "/api/v1/products",
        json={
            "sku": f"S-{uuid.uuid4().hex[:8]}",
            "name": "Gravel bike",
            "description": "Wide tyres.",
            "price": "1499.00",
            "currency": "EUR",
            "category_id": category,
            "stock": 0,
        },
        headers=admin_headers,
    )
    assert second.status_code == 201, second.text
    queries = [
        {},
        {"limit": 1},
        {"q": "gravel"},
        {"in_stock": "true"},
        {"in_stock": "false", "min_price": "1000", "max_price": "2000"},
        {"q": "nothing like it"},
    ]
    off_settings = settings.model_copy(update={"read_cache": False})
    async with serve_app(create_app(off_settings)) as url, httpx.AsyncClient(base_url=url) as off:
        for params in queries:
            path, full = _page_of(category, **params)
            hit = await _cached(client, path, params=full)
            direct = await off.get(path, params=full)
            assert direct.headers[OUTCOME] == "off"
            assert hit.content == direct.content, params
            assert "etag" not in hit.headers and "etag" not in direct.headers
            assert hit.headers["content-type"] == "application/json"
        page = (await client.get(path, params=_page_of(category, limit=1)[1])).json()
        rest = await _cached(client, path, params=_page_of(category, cursor=page["next_cursor"])[1])
        assert [p["id"] for p in page["items"] + rest.json()["items"]] == [
            first["id"],
            second.json()["id"],
        ]
        assert (
            rest.content
            == (
                await off.get(path, params=_page_of(category, cursor=page["next_cursor"])[1])
            ).content
        )
    assert len(cache._lists) >= len(queries) + 1
    for _ in range(2):  # a refused query is never stored, so never answered from the cache
        for refused in ({"cursor": "not-a-cursor"}, {"limit": "0"}, {"min_price": "x"}):
            invalid = await client.get(path, params=_page_of(category, **refused)[1])
            assert invalid.status_code == 422, refused
    reordered = await client.get(path, params={"limit": 1, "category": category})
    assert reordered.json() == page


async def test_every_write_reaches_the_next_page_on_this_replica(cached, admin_headers) -> None:
    """Without any token: each kind of write evicts the pages before it answers."""
    client, _ = cached
    product = await _product(client, admin_headers)
    path, params = _page_of(product["category"]["id"])
    in_stock = {**params, "in_stock": "true"}
    item = f"/api/v1/products/{product['id']}"
    for i in range(10):
        await _cached(client, path, params=params)
        patched = await client.patch(item, json={"name": f"Listed v{i}"}, headers=admin_headers)
        assert patched.status_code == 200, patched.text
        listed = (await client.get(path, params=params)).json()["items"]
        assert [(p["name"], p["version"]) for p in listed] == [(f"Listed v{i}", i + 2)]
    await _cached(client, path, params=in_stock)
    assert (await client.put(f"{item}/stock", json={"stock": 0}, headers=admin_headers)).is_success
    assert (await client.get(path, params=in_stock)).json()["items"] == []
    await _cached(client, path, params=params)
    renamed = await client.patch(
        f"/api/v1/categories/{product['category']['id']}",
        json={"name": "Listed bikes"},
        headers=admin_headers,
    )
    assert renamed.status_code == 200, renamed.text
    listed = (await client.get(path, params=params)).json()["items"]
    assert [p["category"]["name"] for p in listed] == ["Listed bikes"]
    await _cached(client, path, params=params)
    assert (await client.delete(item, headers=admin_headers)).status_code == 204
    assert (await client.get(path, params=params)).json()["items"] == []


async def test_stock_the_saga_reserves_leaves_the_in_stock_page(
    cached, admin_headers, orders_stream, catalog_stream
) -> None:
    """The saga's commit (not an API write) evicts the pages too."""
    client, _ = cached
    product = await _product(client, admin_headers, stock=2)
    path, params = _page_of(product["category"]["id"], in_stock="true")
    assert len((await _cached(client, path, params=params)).json()["items"]) == 1
    order_id = new_event_id()
    placed = order_envelope(order_history.OrderPlacedV1, order_id, [(product["id"], 2)], 1)
    await orders_stream(placed)

    async def reserved() -> bool:
        return any(
            e.type == "catalog.stock.reserved" and e.data.get("order_id") == str(order_id)
            for e in await catalog_stream.envelopes()
        )

    await wait_for(reserved, within=30, what="the saga's reservation")
    assert (await client.get(path, params=params)).json()["items"] == []


async def test_a_page_reads_another_replicas_write_with_its_token(
    cached, settings: CatalogSettings, admin_headers
) -> None:
    """Read-your-writes across replicas: the write is on another process's cache-less
    twin here (its follower does not evict this one); the token makes this replica read
    PostgreSQL until its follower applied the write, then serve it from the cache."""
    client, cache = cached
    product = await _product(client, admin_headers)
    path, params = _page_of(product["category"]["id"])
    await _cached(client, path, params=params)
    other_settings = settings.model_copy(update={"read_cache": False})
    async with (
        serve_app(create_app(other_settings)) as url,
        httpx.AsyncClient(base_url=url) as other,
    ):
        patched = await other.patch(
            f"/api/v1/products/{product['id']}", json={"name": "Elsewhere"}, headers=admin_headers
        )
    token = patched.headers[TOKEN]
    read = await client.get(path, params=params, headers={TOKEN: token})
    assert [p["name"] for p in read.json()["items"]] == ["Elsewhere"]
    assert read.headers[OUTCOME] in {"bypass", "miss"}
    hit = await _cached(client, path, params=params, headers={TOKEN: token})
    assert [p["name"] for p in hit.json()["items"]] == ["Elsewhere"]
    assert cache.applied_position >= int(token)


async def test_a_page_with_a_malformed_or_future_token_reads_postgresql(
    cached, admin_headers
) -> None:
    """The list never refused a token (it always read PostgreSQL): such a token still
    answers 200, from the database, and changes nothing in the cache."""
    client, cache = cached
    product = await _product(client, admin_headers)
    path, params = _page_of(product["category"]["id"])
    expected = (await _cached(client, path, params=params)).content
    pages = dict(cache._lists)
    for bad in ("abc", "-1", "", "9" * 30, str(9 * 10**18)):
        for headers in ({TOKEN: bad}, {"Cookie": f"marcus_consistency_token={bad}"}):
            read = await client.get(path, params=params, headers=headers)
            assert read.status_code == 200, (bad, read.text)
            assert read.headers[OUTCOME] == "bypass"
            assert read.content == expected
    assert cache._lists == pages


async def test_concurrent_writes_and_page_reads_never_lose_a_write(cached, admin_headers) -> None:
    """Readers keep refilling the pages while writers rename products: each writer's
    next read of the page shows its own write (fills that raced an eviction are
    dropped), and once all is committed, a hit shows every write."""
    client, _ = cached
    first = await _product(client, admin_headers)
    category = first["category"]["id"]
    items = [first]
    for n in range(3):
        created = await client.post(
            "/api/v1/products",
            json={
                "sku": f"S-{uuid.uuid4().hex[:8]}",
                "name": f"Bike {n}",
                "description": "Light.",
                "price": "10.00",
                "currency": "EUR",
                "category_id": category,
                "stock": 1,
            },
            headers=admin_headers,
        )
        assert created.status_code == 201, created.text
        items.append(created.json())
    path, params = _page_of(category)
    done = asyncio.Event()

    async def reader() -> None:
        while not done.is_set():
            assert (await client.get(path, params=params)).status_code == 200

    async def writer(product: dict) -> None:
        for i in range(8):
            name = f"{product['sku']} v{i}"
            patched = await client.patch(
                f"/api/v1/products/{product['id']}", json={"name": name}, headers=admin_headers
            )
            assert patched.status_code == 200, patched.text
            listed = (await client.get(path, params=params)).json()["items"]
            assert name in [p["name"] for p in listed]

    readers = [asyncio.create_task(reader()) for _ in range(4)]
    try:
        await asyncio.gather(*(writer(p) for p in items))
    finally:
        done.set()
        await asyncio.gather(*readers)
    final = await _cached(client, path, params=params)
    assert sorted(p["name"] for p in final.json()["items"]) == sorted(
        f"{p['sku']} v7" for p in items
    )
