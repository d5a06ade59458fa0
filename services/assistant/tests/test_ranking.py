"""Keyword relevance and reciprocal rank fusion (pure functions)."""

from __future__ import annotations

from assistant.ranking import bm25, query_terms, reciprocal_rank_fusion


def test_query_terms_drop_stopwords_and_duplicates() -> None:
    assert query_terms("Something to keep me DRY, dry on a hike") == ["keep", "dry", "hike"]


def test_bm25_prefers_rarer_terms_and_ignores_substrings() -> None:
    docs = {
        "a": "rain jacket waterproof",
        "b": "jacket for winter",
        "c": "training shoes",  # contains the substring "rain" but not the word
    }
    ranked = bm25(["rain", "jacket"], docs, collection_size=100)
    assert [doc for doc, _ in ranked] == ["a", "b"]


def test_rrf_rewards_agreement_between_rankings() -> None:
    fused = reciprocal_rank_fusion([["x", "y", "z"], ["y", "w"]])
    assert fused[0][0] == "y"
    assert {doc for doc, _ in fused} == {"x", "y", "z", "w"}
