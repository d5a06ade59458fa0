"""Request and response bodies of the assistant's API: search, recommendations, chat."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from assistant.actions import ActionOut


class SearchHit(BaseModel):
    product_id: str
    name: str
    price: Decimal
    currency: str
    category: str
    in_stock: bool
    score: float = Field(
        description="semantic: cosine similarity (higher is closer); hybrid: 0..1, the "
        "semantic similarity scaled over the candidates mixed with a keyword (BM25) share."
    )


class AppliedFilters(BaseModel):
    """The filters the results satisfy: explicit parameters, else what `q` said."""

    category: str | None
    max_price: Decimal | None
    min_price: Decimal | None
    in_stock: bool | None


class ParsedConstraints(AppliedFilters):
    """What the query parser read in `q` (all null with `parse=false`)."""

    text: str = Field(description="`q` without the constraint phrases: what is searched.")


class SearchResults(BaseModel):
    query: str
    mode: Literal["semantic", "hybrid"]
    k: int
    parsed: ParsedConstraints
    filters: AppliedFilters
    collection: str
    embedder: str
    results: list[SearchHit]


class RecommendedProduct(SearchHit):
    score: float = Field(
        description="similar: cosine similarity; bought_together: orders that contain both "
        "products; popular: units sold in the last 30 days (confirmed orders, less "
        "cancelled ones, as the assistant consumed them)."
    )


class StrategyRecommendations(BaseModel):
    strategy: Literal["similar", "bought_together", "popular"]
    product_id: str | None
    k: int
    category: str | None = None
    collection: str
    embedder: str
    results: list[RecommendedProduct]


# ------------------------------------------------------------------------------ chat


class NewSession(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: str = Field(default="", max_length=200)


class NewMessage(BaseModel):
    model_config = ConfigDict(extra="forbid")

    content: str = Field(min_length=1, description="The customer's message.")


class CitedProductOut(BaseModel):
    product_id: str
    name: str
    price: Decimal
    currency: str


class MessageOut(BaseModel):
    id: str
    role: Literal["user", "assistant"]
    content: str
    status: Literal["complete", "interrupted"]
    degraded: bool = Field(
        description="Answered from search alone (no model configured, or it failed)."
    )
    degraded_reason: str | None
    grounding: Literal["corrected", "replaced"] | None = Field(
        default=None,
        description="What the shop did to the model's text before anyone read it: "
        "`corrected` (a product id, name or price no tool returned was rewritten to the "
        "tool's, or its sentence removed), `replaced` (nothing grounded was left: this is "
        "the catalog search's answer); null when the text is the model's, untouched.",
    )
    cited_products: list[CitedProductOut]
    tools_called: list[str]
    reply_to: str | None
    created_at: datetime
    actions: list[ActionOut] = Field(
        default_factory=list,
        description="Actions this reply proposed (a checkout), as it is sent: the customer "
        "confirms one with POST .../actions/{id}/confirm. The session lists them all.",
    )


class SessionOut(BaseModel):
    id: str
    title: str
    created_at: datetime
    updated_at: datetime
    messages: list[MessageOut]
    actions: list[ActionOut] = Field(
        default_factory=list, description="The actions proposed in this session, as they are now."
    )


class SessionSummaryOut(BaseModel):
    id: str
    title: str
    message_count: int
    created_at: datetime
    updated_at: datetime


class SessionPage(BaseModel):
    items: list[SessionSummaryOut]
    next_cursor: str | None = Field(
        default=None,
        description="Pass as `cursor` to get the next (older) page; null on the last page.",
    )


class ChatReply(BaseModel):
    session_id: str
    question: MessageOut
    reply: MessageOut
