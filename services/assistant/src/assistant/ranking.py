"""Keyword relevance and rank fusion for hybrid search (pure functions).

Keyword relevance is BM25 over the stored (lower-cased) product texts of the candidate
documents, with document frequencies counted among the candidates (every document that
contains a query term is a candidate, up to the fetch limit) and N the collection size.
Semantic and keyword rankings are merged with reciprocal rank fusion (Cormack et al.,
2009): score = sum of 1 / (k + rank) over the rankings a document appears in; RRF needs
no score calibration between the two, which cosine distances and BM25 scores lack.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence

from marcus_search import words

STOPWORDS = frozenset(
    [
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "but",
        "by",
        "for",
        "from",
        "has",
        "have",
        "i",
        "in",
        "is",
        "it",
        "me",
        "my",
        "of",
        "on",
        "or",
        "so",
        "some",
        "something",
        "that",
        "the",
        "this",
        "to",
        "want",
        "was",
        "we",
        "what",
        "with",
        "you",
        "your",
        "need",
        "looking",
    ]
)
RRF_K = 60


def query_terms(query: str) -> list[str]:
    """Distinct content words of a query, in order."""
    seen: dict[str, None] = {}
    for word in words(query):
        if word not in STOPWORDS and len(word) > 1:
            seen.setdefault(word, None)
    return list(seen)


def bm25(
    terms: Sequence[str],
    documents: Mapping[str, str],
    collection_size: int,
    *,
    k1: float = 1.2,
    b: float = 0.75,
) -> list[tuple[str, float]]:
    """(id, score) of the documents matching at least one term, best first."""
    if not terms or not documents:
        return []
    tokens = {doc_id: Counter(words(text)) for doc_id, text in documents.items()}
    lengths = {doc_id: sum(counts.values()) for doc_id, counts in tokens.items()}
    average = sum(lengths.values()) / len(lengths) or 1.0
    total = max(collection_size, len(documents))
    scores: dict[str, float] = {}
    for term in terms:
        containing = [doc_id for doc_id, counts in tokens.items() if term in counts]
        if not containing:
            continue
        idf = math.log(1 + (total - len(containing) + 0.5) / (len(containing) + 0.5))
        for doc_id in containing:
            tf = tokens[doc_id][term]
            norm = tf + k1 * (1 - b + b * lengths[doc_id] / average)
            scores[doc_id] = scores.get(doc_id, 0.0) + idf * tf * (k1 + 1) / norm
    return sorted(scores.items(), key=lambda item: (-item[1], item[0]))


def reciprocal_rank_fusion(
    rankings: Sequence[Sequence[str]], k: int = RRF_K
) -> list[tuple[str, float]]:
    """Fused (id, score), best first; ties broken by id for a stable order."""
    scores: dict[str, float] = {}
    for ranking in rankings:
        for rank, doc_id in enumerate(ranking, start=1):
            scores[doc_id] = scores.get(doc_id, 0.0) + 1.0 / (k + rank)
    return sorted(scores.items(), key=lambda item: (-item[1], item[0]))
