"""Assistant settings: the shared ones plus the index, the chat model, the shop's API and
the consumer defaults that differ from the shared ones."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from marcus_search import EmbedderConfig
from marcus_web.settings import ServiceSettings

SERVICE = "assistant"
SCHEMA = "assistant"


class AssistantSettings(ServiceSettings):
    port: int = 8003

    chroma_url: str = "http://127.0.0.1:8100"
    chroma_alt_url: str | None = None
    """The indexer's alternate Chroma server (ADR 0035): searches read the active
    collection on whichever server its name says. Set it as the indexer's."""
    chroma_max_connections: int = Field(default=8, ge=1)
    """Connections to Chroma (a bound: see `marcus_search.chroma.connect`); a hybrid
    search makes three calls at once."""
    hash_dimension: int = 256
    openai_api_key: str | None = None
    openai_base_url: str | None = None
    openai_embedding_model: str = "text-embedding-3-small"
    search_batch: int = Field(default=32, ge=1)
    """Searches that arrive together share calls: at most this many queries in one Chroma
    query and one embedding call (1: a call per search, as before batching; ADR 0028)."""
    hybrid_candidates: int = 50
    """Semantic and keyword candidates fused per hybrid query (before cutting to k)."""

    # The chat model: any OpenAI-compatible server (OpenAI, Ollama, vLLM, llama.cpp).
    chat_model: str = "gpt-4o-mini"
    chat_base_url: str | None = None
    """Defaults to OPENAI_BASE_URL; set it to talk to another server than embeddings do."""
    chat_api_key: str | None = None
    """Defaults to OPENAI_API_KEY. A local server without keys needs only a base URL."""
    chat_enabled: bool = True
    """`false` answers every message from search alone (degraded), even with a key."""
    chat_timeout_s: float = 30.0
    """Deadline of the model's part of one reply (all its calls and tool rounds); past
    it the reply is answered from search alone."""
    chat_max_retries: int = 1
    chat_temperature: float = 0.2
    chat_max_reply_tokens: int = 800
    chat_max_tokens_field: Literal["auto", "max_tokens", "max_completion_tokens"] = "auto"
    """The request field of the reply cap: `auto` is `max_completion_tokens` for OpenAI,
    `max_tokens` for any other server (vLLM, Ollama, llama.cpp read that one)."""
    chat_max_steps: int = 4
    """Model calls per reply; the last one may not call tools, so it has to answer."""
    chat_history_tokens: int = 3000
    """Budget of earlier messages sent with a new one (estimated tokens); the oldest
    turns are dropped first."""
    chat_max_message_chars: int = 4000
    chat_max_messages_per_session: int = 400
    chat_search_k: int = 5
    """Products one search tool call (and a degraded answer) returns."""

    # The shop's public API, called by the acting tools with the customer's own token.
    catalog_url: str = "http://127.0.0.1:8001"
    orders_url: str = "http://127.0.0.1:8002"
    shop_timeout_s: float = Field(default=10.0, gt=0)
    """Deadline of one call to the catalog or orders API (a tool error past it)."""
    action_ttl_s: float = Field(default=900.0, gt=0)
    """How long a proposed checkout may be confirmed (15 minutes; 410 after)."""

    # The consumer (orders read model, co-purchases, best sellers, categories, view
    # refreshes): smaller batches and more, quicker retries than the shared defaults.
    consumer_batch: int = Field(default=50, ge=1)
    consumer_max_deliveries: int = Field(default=10, ge=1)
    consumer_backoff_base_ms: int = Field(default=500, ge=1)

    @model_validator(mode="after")
    def _budget_fits_a_message(self) -> AssistantSettings:
        if self.chat_history_tokens < self.chat_max_message_chars // 3:
            raise ValueError(
                "CHAT_HISTORY_TOKENS must hold at least one message of "
                "CHAT_MAX_MESSAGE_CHARS characters (about a third of them)"
            )
        return self

    @property
    def chat_endpoint(self) -> str | None:
        return self.chat_base_url or self.openai_base_url

    @property
    def chat_key(self) -> str | None:
        return self.chat_api_key or self.openai_api_key

    @property
    def chat_configured(self) -> bool:
        """A model is configured: a key (OpenAI) or a base URL (a local server)."""
        return self.chat_enabled and bool(self.chat_key or self.chat_endpoint)

    def embedder_config(self) -> EmbedderConfig:
        # The kind is never chosen here: a query is embedded by the kind of the active
        # collection (recorded in its name), whatever this process would pick.
        return EmbedderConfig(
            kind="hash",
            hash_dimension=self.hash_dimension,
            openai_api_key=self.openai_api_key,
            openai_base_url=self.openai_base_url,
            openai_model=self.openai_embedding_model,
        )
