"""Constraints written in the query, over HTTP: GET /search applies and echoes them, an
explicit parameter wins, and the offline chat answer never cites a product that breaks
one (seeded catalog, hash embedder; categories reach the assistant as catalog events)."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from marcus_web.auth import mint_token
from tests.support.seeded_index import SEED, index_seed
from tests.support.servers import wait_for
from tests.support.stack import SECRET, search_stack


async def _forget_categories(database_url: str) -> None:
    engine = create_async_engine(database_url)
    try:
        async with engine.begin() as conn:
            await conn.execute(text("TRUNCATE assistant.categories"))
    finally:
        await engine.dispose()


@pytest.fixture
async def seeded(clean_database, redis_url, stream_prefix, chroma_url):
    await _forget_categories(clean_database)
    skus = await index_seed(clean_database, redis_url, chroma_url, stream_prefix, "hash")
    async with search_stack(
        clean_database, redis_url, stream_prefix, chroma_url, indexer=False
    ) as s:
        for category in json.loads(SEED.read_text())["categories"]:
            created = await s.catalog.post(
                "/api/v1/categories",
                json={"slug": category["slug"], "name": category["name"]},
                headers=s.admin,
            )
            assert created.status_code == 201, created.text

        async def knows_categories() -> bool:
            body = (await s.assistant.get("/api/v1/search", params={"q": "books"})).json()
            return body["parsed"]["category"] == "books"

        await wait_for(knows_categories, within=30, what="the assistant knows the categories")
        yield s, skus


async def _search(s, **params) -> dict:
    response = await s.assistant.get("/api/v1/search", params={"k": 50, **params})
    assert response.status_code == 200, response.text
    return dict(response.json())


async def test_parsed_constraints_are_echoed_and_applied(seeded) -> None:
    s, _ = seeded
    body = await _search(s, q="green tea in stock under 10 euros")
    assert body["parsed"] == {
        "text": "green tea",
        "category": "tea",
        "max_price": "10",
        "min_price": None,
        "in_stock": True,
    }
    assert body["filters"] == {k: v for k, v in body["parsed"].items() if k != "text"}
    hits = body["results"]
    assert hits
    assert all(h["category"] == "tea" and h["in_stock"] and Decimal(h["price"]) <= 10 for h in hits)


@pytest.mark.parametrize(
    ("q", "low", "high"),
    [
        ("a gift for a cyclist under 100 euros", None, Decimal("100")),
        ("below 50", None, Decimal("50")),
        ("something for the kitchen between 20 and 40 EUR", Decimal("20"), Decimal("40")),
        ("a bike over 500", Decimal("500"), None),
        ("headphones, €100 max", None, Decimal("100")),
    ],
)
async def test_every_hit_keeps_the_parsed_price_bounds(seeded, q, low, high) -> None:
    s, _ = seeded
    for mode in ("semantic", "hybrid"):
        hits = (await _search(s, q=q, mode=mode))["results"]
        assert hits, (q, mode)
        prices = [Decimal(h["price"]) for h in hits]
        assert low is None or min(prices) >= low, (q, mode, prices)
        assert high is None or max(prices) <= high, (q, mode, prices)


async def test_an_explicit_parameter_wins_over_the_parsed_text(seeded) -> None:
    s, _ = seeded
    body = await _search(s, q="tea under 10 euros", max_price="30", category="coffee")
    assert body["parsed"]["max_price"] == "10" and body["parsed"]["category"] == "tea"
    assert body["filters"]["max_price"] == "30" and body["filters"]["category"] == "coffee"
    prices = [Decimal(h["price"]) for h in body["results"]]
    assert {h["category"] for h in body["results"]} == {"coffee"}
    assert max(prices) <= 30 and max(prices) > 10


async def test_parse_false_takes_the_query_as_it_is(seeded) -> None:
    s, _ = seeded
    body = await _search(s, q="tea under 10 euros", parse="false")
    assert body["parsed"]["text"] == "tea under 10 euros"
    assert body["filters"] == dict.fromkeys(("category", "max_price", "min_price", "in_stock"))
    assert any(Decimal(h["price"]) > 10 for h in body["results"])


async def test_min_price_parameter(seeded) -> None:
    s, _ = seeded
    hits = (await _search(s, q="bike", min_price="1000"))["results"]
    assert hits and all(Decimal(h["price"]) >= 1000 for h in hits)


@pytest.mark.parametrize(
    ("question", "cap"),
    [
        ("gift for my dad who loves cycling, under 100 euros", Decimal("100")),
        ("a rain jacket under 150 euros", Decimal("150")),
        ("good coffee beans below 20 EUR", Decimal("20")),
        ("anything for a 2 year old under 30 euros", Decimal("30")),
        ("headphones for less than 60 euros", Decimal("60")),
        ("an espresso machine under 300", Decimal("300")),
    ],
)
async def test_the_offline_chat_answer_never_exceeds_a_cap(seeded, question, cap) -> None:
    s, _ = seeded
    customer = {"Authorization": f"Bearer {mint_token('ann', ['customer'], secret=SECRET)}"}
    session = await s.assistant.post("/api/v1/chat/sessions", json={}, headers=customer)
    assert session.status_code == 201, session.text
    reply = await s.assistant.post(
        f"/api/v1/chat/sessions/{session.json()['id']}/messages",
        json={"content": question},
        headers=customer,
    )
    assert reply.status_code == 200, reply.text
    answer = reply.json()["reply"]
    assert answer["degraded"] is True
    cited = answer["cited_products"]
    assert cited, answer["content"]
    assert all(Decimal(c["price"]) <= cap for c in cited), cited
