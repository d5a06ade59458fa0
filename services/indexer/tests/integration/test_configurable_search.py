"""Configurable and preconfigured products in search, end to end: catalog API ->
events.catalog -> indexer -> Chroma -> the assistant's /search (hashing embedder)."""

from __future__ import annotations

from services.catalog.tests.bikes import build_bike, preset
from services.indexer.tests.support import new_category
from tests.support.servers import wait_for
from tests.support.stack import search_stack


async def _hits(assistant, q: str, **params) -> list[dict]:
    response = await assistant.get("/api/v1/search", params={"q": q, **params})
    return response.json()["results"] if response.status_code == 200 else []


async def test_configurable_products_are_found_by_their_options(
    clean_database, redis_url, stream_prefix, chroma_url
) -> None:
    async with search_stack(clean_database, redis_url, stream_prefix, chroma_url) as s:
        category_id = await new_category(s, "cycling")
        for sku, name, description in [
            ("JKT-1", "Storm rain jacket", "Waterproof shell for hiking in the rain."),
            ("GRD-1", "Burr coffee grinder", "Grinds beans for espresso and filter."),
            ("HLM-1", "Road helmet", "Ventilated helmet for long rides."),
        ]:
            created = await s.catalog.post(
                "/api/v1/products",
                json={
                    "sku": sku,
                    "name": name,
                    "description": description,
                    "price": "49.00",
                    "category_id": category_id,
                    "stock": 5,
                },
                headers=s.admin,
            )
            assert created.status_code == 201, created.text
        bike = await build_bike(s.catalog, s.admin, category_id)

        async def top(q: str, **params) -> dict | None:
            hits = await _hits(s.assistant, q, **params)
            return hits[0] if hits and hits[0]["product_id"] == bike.id else None

        # Only the options' descriptions speak of light frames and steep trails.
        hit = await wait_for(
            lambda: top("a light bike for steep trails"), within=60, what="the bike, found"
        )
        # Cheapest build: 400 + Step-through 90 + Shiny 30 + Road 80 + Single-speed 43
        assert (hit["price"], hit["in_stock"]) == ("643.00", True)

        # An option's price reaches the index...
        cheaper = await s.catalog.patch(
            f"/api/v1/products/{bike.id}/options/{bike.options['Road']}",
            json={"price": "60.00"},
            headers=s.admin,
        )
        assert cheaper.status_code == 200, cheaper.text

        async def priced(price: str) -> bool:
            found = await top("a light bike for steep trails")
            return found is not None and found["price"] == price

        await wait_for(lambda: priced("623.00"), within=60, what="the new option price")
        # `max_price` compares with the cheapest build
        assert await top("a light bike for steep trails", max_price="623.00")
        below = await _hits(s.assistant, "a light bike for steep trails", max_price="622.99")
        assert bike.id not in [h["product_id"] for h in below]

        # ...and so does its stock: no frame left, no bike to build.
        for frame in ("Diamond", "Full suspension", "Step-through"):
            sold_out = await s.catalog.patch(
                f"/api/v1/products/{bike.id}/options/{bike.options[frame]}",
                json={"stock": 0},
                headers=s.admin,
            )
            assert sold_out.status_code == 200, sold_out.text

        async def out_of_stock() -> bool:
            found = await top("a light bike for steep trails")
            return found is not None and found["in_stock"] is False

        await wait_for(out_of_stock, within=60, what="the bike out of stock in the index")


async def test_preconfigured_products_are_indexed_like_products(
    clean_database, redis_url, stream_prefix, chroma_url
) -> None:
    async with search_stack(clean_database, redis_url, stream_prefix, chroma_url) as s:
        category_id = await new_category(s, "cycling")
        bike = await build_bike(s.catalog, s.admin, category_id)
        trail = await preset(
            s.catalog,
            s.admin,
            category_id,
            bike,
            "Full suspension",
            "Matte",
            "Mountain",
            "8-speed",
            sku="TRAIL-1",
            price="849.00",
        )
        assert trail.status_code == 201, trail.text
        trail_id = trail.json()["id"]

        async def found() -> dict | None:
            hits = await _hits(s.assistant, "preconfigured full suspension mountain")
            return next((h for h in hits if h["product_id"] == trail_id), None)

        hit = await wait_for(found, within=60, what="the preconfigured bike in search")
        assert (hit["price"], hit["in_stock"], hit["name"]) == (
            "849.00",
            True,
            "Preconfigured TRAIL-1",
        )
