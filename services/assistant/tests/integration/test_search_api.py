"""Search and recommendations over HTTP: answers, filters, hybrid mode, bad input."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tests.support.seeded_index import index_seed
from tests.support.stack import search_stack


@pytest.fixture
async def seeded(clean_database, redis_url, stream_prefix, chroma_url):
    skus = await index_seed(clean_database, redis_url, chroma_url, stream_prefix, "hash")
    async with search_stack(
        clean_database, redis_url, stream_prefix, chroma_url, indexer=False
    ) as s:
        yield s, skus


async def test_search_answers_with_id_name_price_score(seeded) -> None:
    s, skus = seeded
    response = await s.assistant.get(
        "/api/v1/search", params={"q": "Dual-Boiler Espresso Machine", "k": 3}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["mode"] == "semantic" and body["embedder"] == "hash" and len(body["results"]) == 3
    first = body["results"][0]
    assert skus[first["product_id"]] == "COF-013"
    assert set(first) >= {
        "product_id",
        "name",
        "price",
        "score",
        "currency",
        "category",
        "in_stock",
    }
    scores = [hit["score"] for hit in body["results"]]
    assert scores == sorted(scores, reverse=True)


async def test_filters_category_price_and_stock(seeded) -> None:
    s, _ = seeded
    hits = (
        await s.assistant.get(
            "/api/v1/search", params={"q": "tea", "k": 50, "category": "tea", "max_price": "12.50"}
        )
    ).json()["results"]
    assert hits and all(
        h["category"] == "tea" and Decimal(h["price"]) <= Decimal("12.50") for h in hits
    )
    in_stock = (
        await s.assistant.get("/api/v1/search", params={"q": "jacket", "k": 50, "in_stock": "true"})
    ).json()["results"]
    assert all(h["in_stock"] for h in in_stock)


async def test_hybrid_mode_mixes_in_keyword_relevance(seeded) -> None:
    s, skus = seeded
    response = await s.assistant.get(
        "/api/v1/search", params={"q": "Tetsubin", "k": 5, "mode": "hybrid"}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["mode"] == "hybrid"
    assert skus[body["results"][0]["product_id"]] == "TEA-013"


async def test_recommendations_exclude_the_product_itself(seeded) -> None:
    s, skus = seeded
    by_sku = {sku: pid for pid, sku in skus.items()}
    response = await s.assistant.get(
        "/api/v1/recommendations", params={"product_id": by_sku["COF-008"], "k": 4}
    )
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert len(results) == 4
    assert by_sku["COF-008"] not in {hit["product_id"] for hit in results}
    assert any(skus[hit["product_id"]].startswith("COF-") for hit in results)


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"q": ""}, "q"),
        ({"q": "   "}, "q"),
        ({"q": "tent", "k": 0}, "k"),
        ({"q": "tent", "k": 10000}, "k"),
        ({"q": "tent", "k": "many"}, "k"),
        ({"q": "tent", "max_price": "-1"}, "max_price"),
        ({"q": "tent", "mode": "psychic"}, "mode"),
        ({"q": "tent", "category": "Not A Slug!"}, "category"),
        ({"q": "x" * 501}, "q"),
        ({}, "q"),
    ],
)
async def test_bad_queries_are_422_with_the_field(seeded, params, field) -> None:
    s, _ = seeded
    response = await s.assistant.get("/api/v1/search", params=params)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert field in {error["loc"][-1] for error in response.json()["errors"]}


async def test_unknown_category_is_an_empty_result(seeded) -> None:
    s, _ = seeded
    response = await s.assistant.get(
        "/api/v1/search", params={"q": "tent", "category": "spaceships"}
    )
    assert response.status_code == 200 and response.json()["results"] == []


async def test_recommendations_bad_and_unknown_products(seeded) -> None:
    s, _ = seeded
    assert (
        await s.assistant.get("/api/v1/recommendations", params={"product_id": "nope"})
    ).status_code == 422
    assert (
        await s.assistant.get(
            "/api/v1/recommendations",
            params={"product_id": "0c6e4f0e-0000-4000-8000-000000000000", "k": 0},
        )
    ).status_code == 422
    unknown = await s.assistant.get(
        "/api/v1/recommendations", params={"product_id": "0c6e4f0e-0000-4000-8000-000000000000"}
    )
    assert unknown.status_code == 404
    assert unknown.headers["content-type"].startswith("application/problem+json")


async def test_no_index_yet_is_503_with_retry_after(
    clean_database, redis_url, stream_prefix, chroma_url
) -> None:
    async with search_stack(
        clean_database, redis_url, stream_prefix, chroma_url, indexer=False
    ) as s:
        response = await s.assistant.get("/api/v1/search", params={"q": "tent"})
        assert response.status_code == 503
        assert response.headers["retry-after"]
