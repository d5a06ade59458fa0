"""The seeded catalog (scripts/seed_data/catalog.json) indexed through the indexer's own
code path: catalog events -> domain fold -> IndexWriter (guard, embed, Chroma upsert) ->
alias. Used by the MiniLM recall test and the search benchmarks."""

from __future__ import annotations

import json
import uuid
from decimal import Decimal
from pathlib import Path

from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

SEED = Path(__file__).resolve().parents[2] / "scripts" / "seed_data" / "catalog.json"

# Paraphrased shopping questions -> SKUs a shop assistant would show (hand-labelled).
LABELLED_QUERIES: dict[str, set[str]] = {
    "something to keep me dry on a hike": {"APP-002", "APP-018", "APP-006"},
    "a place to sleep outdoors when camping": {
        "OUT-001",
        "OUT-002",
        "OUT-003",
        "OUT-009",
        "OUT-017",
        "OUT-018",
    },
    "make strong coffee at home like in an Italian cafe": {
        "COF-003",
        "COF-013",
        "COF-012",
        "COF-017",
        "COF-014",
    },
    "block out the noise on a long flight": {"AUD-001", "AUD-018"},
    "play my vinyl record collection": {"AUD-005", "AUD-012", "AUD-017"},
    "keep my back healthy while working at a desk all day": {
        "HOF-001",
        "HOF-002",
        "HOF-013",
        "HOF-016",
    },
    "a present for a child who loves building things": {"TOY-004", "TOY-009", "TOY-001", "TOY-013"},
    "collect rainwater for watering plants": {"GAR-004", "GAR-016", "GAR-013"},
    "green tea from Japan": {"TEA-002", "TEA-003", "TEA-004", "TEA-018", "TEA-015"},
    "energy during a marathon": {"NUT-003", "NUT-004", "NUT-005", "NUT-008"},
    "get my kitchen knives sharp again": {"KIT-013", "KIT-004"},
    "see the road when cycling at night": {"BIK-011", "OUT-006"},
    "build muscle after the gym": {"NUT-001", "NUT-002", "NUT-007", "NUT-006"},
    "cook a stir fry": {"KIT-002", "KIT-011", "KIT-001"},
}


def seed_events() -> tuple[list, dict[str, str]]:
    """(envelope, event) pairs creating every seeded product, and product id -> SKU."""
    from marcus_contracts import registry
    from marcus_contracts.events.catalog import CategoryRef, ProductCreated

    data = json.loads(SEED.read_text())
    categories = {
        c["slug"]: CategoryRef(
            id=uuid.uuid5(uuid.NAMESPACE_URL, c["slug"]), slug=c["slug"], name=c["name"]
        )
        for c in data["categories"]
    }
    events, skus = [], {}
    for product in data["products"]:
        product_id = uuid.uuid5(uuid.NAMESPACE_URL, product["sku"])
        event = ProductCreated(
            product_id=product_id,
            sku=product["sku"],
            name=product["name"],
            description=product.get("description", ""),
            price=Decimal(product["price"]),
            currency=product.get("currency", "EUR"),
            category=categories[product["category"]],
            attributes=product.get("attributes", {}),
            stock=int(product.get("stock", 10)),
        )
        events.append((registry.envelope(event, subject=str(product_id), sequence=1), event))
        skus[str(product_id)] = product["sku"]
    return events, skus


async def index_seed(
    database_url: str,
    redis_url: str,
    chroma_url: str,
    prefix: str,
    embedder_kind: str,
    batch: int = 64,
) -> dict[str, str]:
    """Index the seed into a fresh active collection of `embedder_kind`; id -> SKU."""
    import redis.asyncio as aioredis

    from indexer.alias import publish_alias
    from indexer.domain import ProductState, apply
    from indexer.storage import collections as collections_store
    from indexer.storage.collections import ACTIVE, Target
    from indexer.writer import IndexWriter
    from marcus_search import (
        AliasStore,
        CollectionName,
        EmbedderConfig,
        EmbedderPool,
        IndexServers,
    )
    from marcus_search.chroma import connect, create_collection

    events, skus = seed_events()
    states = [apply(ProductState(event.product_id), envelope, event) for envelope, event in events]
    pool = EmbedderPool(EmbedderConfig(kind=embedder_kind))
    embedder = pool.default()
    name = CollectionName.new(embedder.name, embedder.dimension, uuid.uuid4(), prefix)
    client = await connect(chroma_url)
    await create_collection(client, str(name))
    writer = IndexWriter(IndexServers.of(client), pool)
    target = Target(str(name), embedder.kind, embedder.dimension, ACTIVE)
    engine = create_async_engine(database_url)
    redis = aioredis.from_url(redis_url)
    try:
        sessions = async_sessionmaker(engine, expire_on_commit=False)
        async with sessions.begin() as session:
            await collections_store.add(session, name, embedder.kind, ACTIVE, None)
        for start in range(0, len(states), batch):
            async with sessions.begin() as session:
                await writer.write(session, target, [s for s in states[start : start + batch] if s])
        await publish_alias(sessions, AliasStore(redis, prefix))
    finally:
        await redis.aclose()
        await engine.dispose()
    return skus


def recall_at(k: int, ranked_skus: list[str], relevant: set[str]) -> float:
    return len(set(ranked_skus[:k]) & relevant) / min(len(relevant), k)
