"""Fixtures' helpers for the search tests: catalog + indexer + assistant wired together."""

from __future__ import annotations

from decimal import Decimal

import httpx
import redis.asyncio as aioredis

from marcus_search import AliasStore, IndexServers
from marcus_search.chroma import open_collection


async def index_snapshot(
    chroma_url: str, redis_url: str, prefix: str, alt_url: str | None = None
) -> dict[str, dict]:
    """id -> metadata of every document in the active collection (on the server its
    name says, `alt_url` being the alternate one)."""
    redis = aioredis.from_url(redis_url)
    try:
        active = await AliasStore(redis, prefix).read()
    finally:
        await redis.aclose()
    if active is None:
        return {}
    client = await IndexServers(chroma_url, alt_url).for_collection(active.collection)
    collection = await open_collection(client, active.collection)
    found = await collection.get(include=["metadatas"])  # type: ignore[list-item]
    return {
        pid: dict(meta or {})
        for pid, meta in zip(found["ids"], found["metadatas"] or [], strict=True)
    }


async def catalog_snapshot(client: httpx.AsyncClient) -> dict[str, dict]:
    """id -> product of every product in the catalog (all pages)."""
    products: dict[str, dict] = {}
    cursor = None
    while True:
        params = {"limit": 100} | ({"cursor": cursor} if cursor else {})
        response = await client.get("/api/v1/products", params=params)
        assert response.status_code == 200, response.text
        page = response.json()
        for product in page["items"]:
            products[product["id"]] = product
        cursor = page.get("next_cursor")
        if not cursor:
            return products


def differences(catalog: dict[str, dict], index: dict[str, dict]) -> list[str]:
    """How the index differs from the catalog (ids, and each product's metadata)."""
    problems = []
    for missing in sorted(set(catalog) - set(index)):
        problems.append(f"missing {missing}")
    for extra in sorted(set(index) - set(catalog)):
        problems.append(f"extra {extra}")
    for pid in sorted(set(catalog) & set(index)):
        product, meta = catalog[pid], index[pid]
        expected = {
            "name": product["name"],
            "sku": product["sku"],
            "price_exact": Decimal(str(product["price"])),
            "currency": product["currency"],
            "category_id": product["category"]["id"],
            "category": product["category"]["slug"],
            "in_stock": product["stock"] > 0,
        }  # the count and the version are the fold's (indexer.documents), not Chroma's
        actual = {key: meta.get(key) for key in expected}
        actual["price_exact"] = Decimal(str(actual["price_exact"]))
        if actual != expected:
            problems.append(f"{pid}: index {actual} != catalog {expected}")
    return problems


async def seed_products(
    catalog: httpx.AsyncClient,
    headers: dict[str, str],
    count: int,
    prefix: str = "P",
    *,
    name: str = "Trail shoe",
) -> list[dict]:
    """A category `cat-<prefix>` and `count` simple products in it, through the API:
    `<name> <prefix><i>`, sku `<prefix>-<i>`, prices 50-89, stock 0-3."""
    category = await catalog.post(
        "/api/v1/categories",
        json={"slug": f"cat-{prefix.lower()}", "name": f"Cat {prefix}"},
        headers=headers,
    )
    assert category.status_code == 201, category.text
    created = []
    for i in range(count):
        response = await catalog.post(
            "/api/v1/products",
            json={
                "sku": f"{prefix}-{i}",
                "name": f"{name} {prefix}{i}",
                "description": f"A {name.lower()} for the trail",
                "price": f"{50 + i % 40}.00",
                "currency": "EUR",
                "category_id": category.json()["id"],
                "stock": i % 4,
            },
            headers=headers,
        )
        assert response.status_code == 201, response.text
        created.append(response.json())
    return created
