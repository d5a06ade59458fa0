"""Keyword relevance and fusion for hybrid search (pure functions).

Keyword relevance is BM25 over the stored (lower-cased) product texts of the candidate
documents, with document frequencies counted among the candidates (every document that
contains a query term is a candidate, up to the fetch limit) and N the collection size.

Hybrid search fuses scores (`score_fusion`): each ranking's scores are scaled to 0..1
over its candidates (min-max of the semantic similarities, BM25 over its best) and
mixed with a small keyword weight, so semantic similarity leads and keywords reorder
near-ties (with the hashing embedder, whose vectors carry little meaning, keywords lead:
KEYWORD_WEIGHTS); a product whose name holds every query word comes first. Reciprocal rank fusion (Cormack et al., 2009), used
before, gave keyword ranks as much say as semantic ones: on the relevance set
(bench/relevance.py) it ranked below semantic search alone with MiniLM (recall@5 0.84
vs 0.94); score fusion at KEYWORD_WEIGHT ranks at or above semantic with every
embedder (docs/adr/0004-hybrid-search-score-fusion.md).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Collection, Mapping, Sequence

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
KEYWORD_WEIGHT = 0.15
"""The keyword share of a hybrid score (measured best on the relevance set: 0.1-0.2)."""
KEYWORD_WEIGHTS: dict[str, float] = {"hash": 0.7}
"""Per embedder kind, where it differs: hash vectors carry little meaning, so keywords
lead (relevance set: recall@5 0.69 at 0.7 vs 0.45 at 0.15; keyword alone 0.67)."""


def keyword_weight(embedder_kind: str) -> float:
    """The keyword share of hybrid scores over a collection of this embedder kind."""
    return KEYWORD_WEIGHTS.get(embedder_kind, KEYWORD_WEIGHT)


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


def _scaled(scores: Mapping[str, float]) -> dict[str, float]:
    """Min-max scaled to 0..1 (all equal: all 1)."""
    if not scores:
        return {}
    low, high = min(scores.values()), max(scores.values())
    span = high - low
    return {doc_id: (s - low) / span if span > 0 else 1.0 for doc_id, s in scores.items()}


def names_query(terms: Sequence[str], name: str) -> bool:
    """True when every query term is a word of the product's name ("Tetsubin" names the
    Cast Iron Tetsubin Teapot): the customer asked for that product."""
    return bool(terms) and set(terms) <= set(words(name))


def score_fusion(
    semantic: Sequence[tuple[str, float]],
    keyword: Sequence[tuple[str, float]],
    weight: float = KEYWORD_WEIGHT,
    named: Collection[str] = (),
) -> list[tuple[str, float]]:
    """Fused (id, score), best first, ties by id: (1 - weight) x the semantic similarity
    scaled over its candidates (0 for a keyword-only candidate) + weight x the BM25
    score over the best one's (0 for a semantic-only candidate), in 0..1; plus 1 for a
    product the query names (`named`), so those come first."""
    similarity = _scaled(dict(semantic))
    best = max((score for _, score in keyword), default=0.0)
    relevance = {doc_id: score / best for doc_id, score in keyword} if best > 0 else {}
    fused = {
        doc_id: (1 - weight) * similarity.get(doc_id, 0.0)
        + weight * relevance.get(doc_id, 0.0)
        + (1.0 if doc_id in named else 0.0)
        for doc_id in dict.fromkeys([*similarity, *relevance])
    }
    return sorted(fused.items(), key=lambda item: (-item[1], item[0]))
