"""Response bodies of the assistant's search API."""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, Field


class SearchHit(BaseModel):
    product_id: str
    name: str
    price: Decimal
    currency: str
    category: str
    in_stock: bool
    score: float = Field(
        description="semantic: cosine similarity (higher is closer); hybrid: reciprocal "
        "rank fusion score of the semantic and keyword rankings."
    )


class SearchResults(BaseModel):
    query: str
    mode: Literal["semantic", "hybrid"]
    k: int
    collection: str
    embedder: str
    results: list[SearchHit]


class Recommendations(BaseModel):
    product_id: str
    k: int
    collection: str
    embedder: str
    results: list[SearchHit]
