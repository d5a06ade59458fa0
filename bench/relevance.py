"""`python -m bench.relevance`: how well search ranks, per mode and embedder.

The relevance set (bench/relevance_data/catalog.json) is the project's own: a catalog
written for it and shopping needs phrased as customers phrase them ("gift for a
cyclist", "something to keep coffee hot"), each labelled with the SKUs a good shop
assistant shows. Products are indexed as the indexer indexes them (its document text
and metadata, embedded by the chosen embedder, upserted into a Chroma collection made
active through the Redis alias), and every query runs through the assistant's own
SearchService in each mode: semantic, keyword (BM25) and hybrid.

Reported per embedder and mode: recall@5 (the share of a query's relevant products in
its top 5, out of at most 5) and MRR (the mean of 1 / rank of the first relevant
product; 0 when none is in the top 10), averaged over the queries, with every query's
figures. Quality only: no timing. Written to bench/results/relevance-<time>.json/.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

DATA = Path(__file__).parent / "relevance_data" / "catalog.json"
MODES = ("semantic", "keyword", "hybrid")
K = 5
DEPTH = 10
"""Ranks read for MRR: a first relevant product below this counts 0."""


@dataclass(frozen=True)
class Query:
    text: str
    relevant: frozenset[str]


def load(path: Path = DATA) -> tuple[dict[str, Any], list[Query]]:
    """The catalog (categories, products) and the labelled queries."""
    data = json.loads(path.read_text())
    queries = [Query(q["q"], frozenset(q["relevant"])) for q in data["queries"]]
    return data, queries


def recall_at(k: int, ranked: list[str], relevant: frozenset[str]) -> float:
    return len(set(ranked[:k]) & relevant) / min(len(relevant), k)


def reciprocal_rank(ranked: list[str], relevant: frozenset[str]) -> float:
    return next((1.0 / rank for rank, sku in enumerate(ranked, 1) if sku in relevant), 0.0)


def documents(catalog: dict[str, Any]) -> list[Any]:
    """Each product as the indexer's Document (its embedded text and metadata)."""
    from indexer.domain import ProductState, apply, document_of
    from marcus_contracts import registry
    from marcus_contracts.events.catalog import CategoryRef, ProductCreated

    categories = {
        c["slug"]: CategoryRef(
            id=uuid.uuid5(uuid.NAMESPACE_URL, f"relevance/{c['slug']}"),
            slug=c["slug"],
            name=c["name"],
        )
        for c in catalog["categories"]
    }
    docs = []
    for product in catalog["products"]:
        product_id = uuid.uuid5(uuid.NAMESPACE_URL, f"relevance/{product['sku']}")
        event = ProductCreated(
            product_id=product_id,
            sku=product["sku"],
            name=product["name"],
            description=product.get("description", ""),
            price=Decimal(product["price"]),
            currency="EUR",
            category=categories[product["category"]],
            attributes=product.get("attributes", {}),
            stock=int(product.get("stock", 10)),
        )
        envelope = registry.envelope(event, subject=str(product_id), sequence=1)
        docs.append(document_of(apply(ProductState(product_id), envelope, event)))
    return docs


async def index(chroma_url: str, redis: Any, prefix: str, kind: str, docs: list[Any]) -> str:
    """A new collection of `kind` holding the documents, made active under `prefix`."""
    from marcus_search import ActiveIndex, AliasStore, CollectionName, EmbedderConfig, EmbedderPool
    from marcus_search.chroma import connect, create_collection

    embedder = EmbedderPool(EmbedderConfig(kind=kind)).default()
    name = CollectionName.new(embedder.name, embedder.dimension, uuid.uuid4(), prefix)
    client = await connect(chroma_url)
    collection = await create_collection(client, str(name))
    vectors = await embedder.embed([doc.text for doc in docs])
    await collection.upsert(
        ids=[doc.id for doc in docs],
        embeddings=vectors,  # type: ignore[arg-type]
        documents=[doc.searchable_text for doc in docs],
        metadatas=[doc.metadata for doc in docs],
    )
    now = datetime.now(UTC)
    active = ActiveIndex(
        str(name), embedder.name, embedder.dimension, now.isoformat(), int(now.timestamp() * 1e6)
    )
    await AliasStore(redis, prefix).write(active)
    return str(name)


async def measure(search: Any, queries: list[Query], skus: dict[str, str]) -> dict[str, Any]:
    """recall@5 and MRR per mode over the queries, and each query's figures."""
    from assistant.search import Filters

    by_mode: dict[str, Any] = {}
    for mode in MODES:
        rows = []
        for query in queries:
            results = await search.search_mode(query.text, DEPTH, Filters(), mode)
            ranked = [skus[hit.product_id] for hit in results.hits]
            rows.append(
                {
                    "q": query.text,
                    "recall_at_5": round(recall_at(K, ranked, query.relevant), 3),
                    "rr": round(reciprocal_rank(ranked, query.relevant), 3),
                    "top_5": ranked[:K],
                }
            )
        by_mode[mode] = {
            "recall_at_5": round(sum(r["recall_at_5"] for r in rows) / len(rows), 3),
            "mrr": round(sum(r["rr"] for r in rows) / len(rows), 3),
            "queries": rows,
        }
    return by_mode


async def evaluate(
    chroma_url: str, redis_url: str, prefix: str, kinds: list[str], path: Path = DATA
) -> dict[str, Any]:
    """{embedder kind: {mode: {recall_at_5, mrr, queries}}} over the relevance set."""
    import redis.asyncio as aioredis

    from assistant.search import SearchService
    from marcus_search import AliasStore, EmbedderConfig, EmbedderPool, IndexServers

    catalog, queries = load(path)
    docs = documents(catalog)
    skus = {doc.id: str(doc.metadata["sku"]) for doc in docs}
    redis = aioredis.from_url(redis_url)
    results: dict[str, Any] = {}
    try:
        for kind in kinds:
            scoped = f"{prefix}{kind}:"
            await index(chroma_url, redis, scoped, kind, docs)
            search = SearchService(
                IndexServers(chroma_url),
                AliasStore(redis, scoped),
                EmbedderPool(EmbedderConfig(kind=kind)),
            )
            results[kind] = await measure(search, queries, skus)
            await redis.delete(AliasStore(redis, scoped).key)
    finally:
        await redis.aclose()
    return results


def markdown(result: dict[str, Any]) -> str:
    lines = [
        f"# Search relevance, {result['time']}",
        "",
        f"`{result['command']}` at commit {result['machine'].get('commit')}:"
        f" {result['queries']} labelled queries over {result['products']} products"
        " (bench/relevance_data/catalog.json).",
        "",
        "| embedder | mode | recall@5 | MRR |",
        "|---|---|---|---|",
    ]
    for kind, modes in result["results"].items():
        for mode, figures in modes.items():
            lines.append(
                f"| {kind} | {mode} | {figures['recall_at_5']:.3f} | {figures['mrr']:.3f} |"
            )
    for kind, modes in result["results"].items():
        best = modes.get("hybrid", {}).get("queries", [])
        missed = [row for row in best if row["recall_at_5"] < 1]
        if missed:
            lines += ["", f"## {kind}, hybrid: queries below recall 1", ""]
            lines += [
                f"- {row['q']!r}: {row['recall_at_5']} (top 5: {row['top_5']})" for row in missed
            ]
    return "\n".join(lines) + "\n"


def available_kinds(wanted: list[str]) -> tuple[list[str], list[str]]:
    """(kinds that can run here, kinds skipped: MiniLM without torch)."""
    from marcus_search import local_model_available

    skipped = [k for k in wanted if k == "minilm" and not local_model_available()]
    return [k for k in wanted if k not in skipped], skipped


def main(argv: list[str] | None = None) -> int:
    from bench.machine import add_out_argument, command, machine, result_path

    parser = argparse.ArgumentParser(prog="python -m bench.relevance", description=__doc__)
    parser.add_argument("--embedders", nargs="+", default=["hash", "minilm"])
    parser.add_argument("--chroma-url", help="a running Chroma server (else one is started)")
    parser.add_argument(
        "--redis-url", default=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
    )
    add_out_argument(parser)
    args = parser.parse_args(argv)
    kinds, skipped = available_kinds(args.embedders)
    if skipped:
        print(f"skipped {skipped}: the local MiniLM needs `make install-local-model`")
    prefix = f"bench-relevance-{uuid.uuid4().hex[:8]}:"
    if args.chroma_url:
        results = asyncio.run(evaluate(args.chroma_url, args.redis_url, prefix, kinds))
    else:
        from tests.support.chroma import ChromaProcess

        chroma = ChromaProcess()
        chroma.start()
        try:
            results = asyncio.run(evaluate(chroma.url, args.redis_url, prefix, kinds))
        finally:
            chroma.stop()
    catalog, queries = load()
    result = {
        "benchmark": "relevance",
        "time": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": command("bench.relevance", argv),
        "machine": machine(None, args.redis_url, ("chromadb", "sentence-transformers", "torch")),
        "queries": len(queries),
        "products": len(catalog["products"]),
        "k": K,
        "skipped": skipped,
        "results": results,
    }
    stem = result_path("relevance", args.out).with_suffix("")
    stem.with_suffix(".json").write_text(json.dumps(result, indent=2) + "\n")
    stem.with_suffix(".md").write_text(markdown(result))
    print(markdown(result))
    print(f"written: {stem}.json, {stem}.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
