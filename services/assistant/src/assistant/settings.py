"""Assistant settings: the shared ones plus where the index is and how to embed queries."""

from __future__ import annotations

from marcus_search import EmbedderConfig
from marcus_web.settings import ServiceSettings

SERVICE = "assistant"
SCHEMA = "assistant"


class AssistantSettings(ServiceSettings):
    port: int = 8003
    relay_enabled: bool = False  # no assistant.* events yet

    chroma_url: str = "http://127.0.0.1:8100"
    hash_dimension: int = 256
    openai_api_key: str | None = None
    openai_base_url: str | None = None
    openai_embedding_model: str = "text-embedding-3-small"
    search_max_k: int = 100
    hybrid_candidates: int = 50
    """Semantic and keyword candidates fused per hybrid query (before cutting to k)."""

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
