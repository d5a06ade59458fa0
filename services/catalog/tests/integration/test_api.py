"""The catalog's HTTP API over a real socket, against real PostgreSQL and Redis."""

from __future__ import annotations

import asyncio

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from services.catalog.tests.support import PROBLEM, event_count, product_body


async def test_create_and_read_a_product(api, client: httpx.AsyncClient) -> None:
    category = await api.category()
    created = await api.product(category["id"])
    assert created["version"] == 1
    assert created["price"] == "999.90"
    assert created["category"] == {"id": category["id"], "slug": "bikes", "name": "Bikes"}

    response = await client.get(f"/api/v1/products/{created['id']}")
    assert response.status_code == 200
    assert response.headers["etag"] == '"1"'
    assert response.json() == created


async def test_reads_are_public_and_writes_need_an_admin(
    client: httpx.AsyncClient, customer_headers: dict[str, str], engine: AsyncEngine
) -> None:
    body = {"slug": "tea", "name": "Tea"}
    anonymous = await client.post("/api/v1/categories", json=body)
    assert anonymous.status_code == 401
    assert anonymous.headers["content-type"] == PROBLEM
    assert anonymous.headers["www-authenticate"].startswith("Bearer")

    customer = await client.post("/api/v1/categories", json=body, headers=customer_headers)
    assert customer.status_code == 403

    forged = await client.post(
        "/api/v1/categories", json=body, headers={"Authorization": "Bearer not.a.token"}
    )
    assert forged.status_code == 401
    assert (await client.get("/api/v1/categories")).status_code == 200
    assert await event_count(engine) == 0


async def test_invalid_bodies_get_field_detail_and_change_nothing(
    api, client: httpx.AsyncClient, admin_headers: dict[str, str], engine: AsyncEngine
) -> None:
    category = await api.category()
    before = await event_count(engine)
    response = await client.post(
        "/api/v1/products",
        json=product_body(
            category["id"], sku="bad sku!", name="", price="-1", currency="euro", extra=1
        ),
        headers=admin_headers,
    )
    assert response.status_code == 422
    assert response.headers["content-type"] == PROBLEM
    fields = {tuple(e["loc"]) for e in response.json()["errors"]}
    assert {
        ("body", "sku"),
        ("body", "name"),
        ("body", "price"),
        ("body", "currency"),
        ("body", "extra"),
    } <= fields

    unknown_category = await client.post(
        "/api/v1/products",
        json=product_body("00000000-0000-7000-8000-000000000000"),
        headers=admin_headers,
    )
    assert unknown_category.status_code == 422
    assert "category" in unknown_category.json()["detail"]

    not_json = await client.post(
        "/api/v1/categories",
        content=b"{not json",
        headers={**admin_headers, "content-type": "application/json"},
    )
    assert not_json.status_code == 422
    assert await event_count(engine) == before


async def test_duplicate_sku_and_slug_conflict(api, admin_headers, client, engine) -> None:
    category = await api.category()
    await api.product(category["id"], sku="DUP-1")
    before = await event_count(engine)
    again = await client.post(
        "/api/v1/products",
        json={"sku": "DUP-1", "name": "Other", "price": "1.00", "category_id": category["id"]},
        headers=admin_headers,
    )
    assert again.status_code == 409
    slug = await client.post(
        "/api/v1/categories", json={"slug": "bikes", "name": "B"}, headers=admin_headers
    )
    assert slug.status_code == 409
    assert await event_count(engine) == before


async def test_patch_honours_if_match(api, admin_headers, client) -> None:
    product = await api.product((await api.category())["id"])
    url = f"/api/v1/products/{product['id']}"

    ok = await client.patch(
        url, json={"price": "899.00"}, headers={**admin_headers, "If-Match": '"1"'}
    )
    assert ok.status_code == 200, ok.text
    assert ok.json()["version"] == 2
    assert ok.headers["etag"] == '"2"'

    stale = await client.patch(
        url, json={"price": "1.00"}, headers={**admin_headers, "If-Match": '"1"'}
    )
    assert stale.status_code == 412
    assert (await client.get(url)).json()["price"] == "899.00"

    nulls = await client.patch(url, json={"name": None}, headers=admin_headers)
    assert nulls.status_code == 422


async def test_concurrent_patches_with_the_same_version(api, admin_headers, client) -> None:
    product = await api.product((await api.category())["id"])
    url = f"/api/v1/products/{product['id']}"
    headers = {**admin_headers, "If-Match": '"1"'}
    responses = await asyncio.gather(
        *(client.patch(url, json={"name": f"Name {i}"}, headers=headers) for i in range(2))
    )
    assert sorted(r.status_code for r in responses) == [200, 412]
    final = (await client.get(url)).json()
    winner = next(r for r in responses if r.status_code == 200).json()
    assert final["name"] == winner["name"]
    assert final["version"] == 2


async def test_stock_and_delete(api, admin_headers, client) -> None:
    product = await api.product((await api.category())["id"], stock=5)
    url = f"/api/v1/products/{product['id']}"
    stock = await client.put(
        f"{url}/stock", json={"stock": 0, "reason": "sold out"}, headers=admin_headers
    )
    assert stock.status_code == 200
    assert stock.json()["in_stock"] is False
    negative = await client.put(f"{url}/stock", json={"stock": -3}, headers=admin_headers)
    assert negative.status_code == 422

    deleted = await client.delete(url, headers=admin_headers)
    assert deleted.status_code == 204
    assert (await client.get(url)).status_code == 404
    assert (await client.delete(url, headers=admin_headers)).status_code == 404


async def test_list_filters_and_cursor_pagination(api, client) -> None:
    bikes = await api.category("bikes")
    tea = await api.category("tea")
    for i in range(7):
        await api.product(
            bikes["id"], sku=f"B-{i}", name=f"Bike {i}", price=f"{100 + i}.00", stock=i % 2
        )
    await api.product(tea["id"], sku="T-1", name="Sencha green tea", price="8.50")

    seen: list[str] = []
    cursor = None
    while True:
        params = {"category": "bikes", "limit": 3} | ({"cursor": cursor} if cursor else {})
        page = (await client.get("/api/v1/products", params=params)).json()
        seen += [p["sku"] for p in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [f"B-{i}" for i in range(7)]

    cheap = (
        await client.get(
            "/api/v1/products", params={"max_price": "102.00", "category": bikes["id"]}
        )
    ).json()
    assert [p["sku"] for p in cheap["items"]] == ["B-0", "B-1", "B-2"]
    in_stock = (
        await client.get("/api/v1/products", params={"in_stock": "true", "category": "bikes"})
    ).json()
    assert {p["sku"] for p in in_stock["items"]} == {"B-1", "B-3", "B-5"}
    search = (await client.get("/api/v1/products", params={"q": "green"})).json()
    assert [p["sku"] for p in search["items"]] == ["T-1"]
    wildcard = (await client.get("/api/v1/products", params={"q": "%"})).json()
    assert wildcard["items"] == []

    assert (await client.get("/api/v1/products", params={"limit": 1000})).status_code == 422
    assert (await client.get("/api/v1/products", params={"min_price": "abc"})).status_code == 422


async def test_a_cursor_this_api_did_not_return_is_422_naming_it(api, client) -> None:
    """The same answer as for any invalid query parameter (and as the orders give)."""
    bikes = await api.category("bikes")
    for i in range(2):
        await api.product(bikes["id"], sku=f"C-{i}", name=f"Bike {i}", price="1.00")
    first = (await client.get("/api/v1/products", params={"limit": 1})).json()
    tampered = first["next_cursor"] + "=="
    for cursor in ("!!", "%%%", tampered, first["items"][0]["id"]):
        reply = await client.get("/api/v1/products", params={"cursor": cursor})
        assert reply.status_code == 422, cursor
        assert reply.headers["content-type"] == "application/problem+json"
        assert [error["loc"] for error in reply.json()["errors"]] == [["query", "cursor"]]
    second = await client.get("/api/v1/products", params={"cursor": first["next_cursor"]})
    assert [p["sku"] for p in second.json()["items"]] == ["C-1"]


async def test_health_readiness_and_metrics(client) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    ready = await client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"postgres": "ok", "redis": "ok"}
    await client.get("/api/v1/categories")
    metrics = (await client.get("/metrics")).text
    assert (
        'http_requests_total{method="GET",route="/api/v1/categories",service="catalog",status="200"}'
        in metrics
    )
    assert "outbox_events_published_total" in metrics


async def test_database_down_is_a_503_with_retry_after(settings, admin_headers) -> None:
    from catalog.main import create_app
    from tests.support.servers import free_port, serve_app

    down = settings.model_copy(
        update={"database_url": f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/marcus"}
    )
    async with serve_app(create_app(down)) as url, httpx.AsyncClient(base_url=url) as client:
        read = await client.get("/api/v1/products")
        assert read.status_code == 503
        assert read.headers["retry-after"]
        assert read.headers["content-type"] == PROBLEM
        assert "Traceback" not in read.text
        write = await client.post(
            "/api/v1/categories", json={"slug": "x", "name": "X"}, headers=admin_headers
        )
        assert write.status_code == 503
        ready = await client.get("/readyz")
        assert ready.status_code == 503
        assert ready.json()["checks"]["postgres"].startswith("failed")
