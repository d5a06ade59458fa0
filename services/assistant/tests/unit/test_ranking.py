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


def test_score_fusion_lets_semantic_lead_and_keywords_break_near_ties() -> None:
    from assistant.ranking import score_fusion

    semantic = [("a", 0.80), ("b", 0.79), ("c", 0.40), ("d", 0.30)]
    fused = score_fusion(semantic, [("b", 5.0), ("d", 4.0)], weight=0.15)
    assert [doc for doc, _ in fused][:2] == ["b", "a"]  # a near-tie flips to the keyword match
    assert [doc for doc, _ in fused].index("d") > [doc for doc, _ in fused].index("c")
    assert all(0 <= score <= 1 for _, score in fused)


def test_score_fusion_keeps_keyword_only_candidates_and_handles_empty_rankings() -> None:
    from assistant.ranking import score_fusion

    fused = dict(score_fusion([("a", 0.9), ("b", 0.1)], [("z", 2.0)], weight=0.15))
    assert set(fused) == {"a", "b", "z"} and fused["z"] == 0.15
    assert score_fusion([], []) == []
    assert [doc for doc, _ in score_fusion([("a", 0.5)], [])] == ["a"]
    assert [doc for doc, _ in score_fusion([], [("k", 1.0), ("j", 3.0)])] == ["j", "k"]


def test_a_product_the_query_names_comes_first() -> None:
    from assistant.ranking import names_query, score_fusion

    assert names_query(["tetsubin"], "Cast Iron Tetsubin Teapot 0.8 L")
    assert not names_query(["tetsubin", "kettle"], "Cast Iron Tetsubin Teapot")
    assert not names_query([], "Anything")
    fused = score_fusion([("a", 0.9), ("t", 0.2)], [("t", 1.0)], named={"t"})
    assert [doc for doc, _ in fused] == ["t", "a"] and fused[0][1] > 1
