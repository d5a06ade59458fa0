"""Search plumbing shared by the indexer (writes the index) and the assistant (reads it).

embedders: Embedder protocol; HashingEmbedder, MiniLMEmbedder, OpenAIEmbedder;
           EmbedderConfig + resolve_kind/make_embedder (auto: OpenAI key > local
           model > hash); EmbedderPool (one embedder per collection kind)
naming:    CollectionName (embedder, dimension and Chroma server recorded in the name)
chroma:    connect(url) -> Chroma AsyncHttpClient; create_collection / open_collection
servers:   IndexServers: the main Chroma server and the optional alternate (ADR 0035)
alias:     AliasStore / ActiveIndex: the active collection, as one Redis key
"""

from marcus_search.alias import ActiveIndex, AliasStore, alias_key
from marcus_search.embedders import (
    AUTO,
    HASH,
    KINDS,
    MINILM,
    OPENAI,
    Embedder,
    EmbedderConfig,
    EmbedderPool,
    EmbedderUnavailable,
    HashingEmbedder,
    MiniLMEmbedder,
    OpenAIEmbedder,
    local_model_available,
    make_embedder,
    resolve_kind,
    words,
)
from marcus_search.naming import ALT, MAIN, CollectionName, sanitise_namespace
from marcus_search.servers import IndexServers

__all__ = [
    "ALT",
    "AUTO",
    "HASH",
    "KINDS",
    "MAIN",
    "MINILM",
    "OPENAI",
    "ActiveIndex",
    "AliasStore",
    "CollectionName",
    "Embedder",
    "EmbedderConfig",
    "EmbedderPool",
    "EmbedderUnavailable",
    "HashingEmbedder",
    "IndexServers",
    "MiniLMEmbedder",
    "OpenAIEmbedder",
    "alias_key",
    "local_model_available",
    "make_embedder",
    "resolve_kind",
    "sanitise_namespace",
    "words",
]
