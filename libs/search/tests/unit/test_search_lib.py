"""Embedders and collection names of the search lib (the alias in Redis and the local
model: integration/test_search_backends.py)."""

from __future__ import annotations

import json
import uuid

import pytest
from fastapi import FastAPI, Request

from marcus_search import (
    CollectionName,
    EmbedderConfig,
    HashingEmbedder,
    OpenAIEmbedder,
    resolve_kind,
)
from tests.support.servers import serve_app


async def test_hashing_embedder_is_deterministic_normalised_and_lexical() -> None:
    embedder = HashingEmbedder(128)
    [a, b, c] = await embedder.embed(["Rain jacket", "rain JACKET", "espresso grinder"])
    assert a == b and len(a) == 128
    assert abs(sum(x * x for x in a) - 1.0) < 1e-9
    same = sum(x * y for x, y in zip(a, b, strict=True))
    other = sum(x * y for x, y in zip(a, c, strict=True))
    assert same > other


def test_collection_names_record_embedder_and_dimension() -> None:
    name = CollectionName.new("minilm-l6-v2", 384, uuid.uuid4(), "test-ab12:")
    parsed = CollectionName.parse(str(name))
    assert parsed == name and parsed.kind == "minilm" and parsed.dimension == 384
    assert str(name).startswith("test-ab12-products__minilm-l6-v2__384__")
    with pytest.raises(ValueError):
        CollectionName.parse("products")


def test_auto_choice_prefers_an_openai_key() -> None:
    assert resolve_kind(EmbedderConfig(openai_api_key="sk-test")) == "openai"
    assert resolve_kind(EmbedderConfig(kind="hash", openai_api_key="sk-test")) == "hash"
    with pytest.raises(ValueError):
        resolve_kind(EmbedderConfig(kind="word2vec"))


async def test_openai_embedder_talks_to_an_openai_compatible_server() -> None:
    """The real OpenAI client against a local OpenAI-compatible server (OPENAI_BASE_URL)."""
    received: list[dict] = []
    app = FastAPI()

    @app.post("/v1/embeddings")
    async def embeddings(request: Request) -> dict:
        body = json.loads(await request.body())
        received.append({"body": body, "auth": request.headers.get("authorization")})
        data = [
            {"object": "embedding", "index": i, "embedding": [float(len(text)), 1.0, 0.0]}
            for i, text in reversed(list(enumerate(body["input"])))  # out of order on purpose
        ]
        return {
            "object": "list",
            "data": data,
            "model": body["model"],
            "usage": {"prompt_tokens": 1, "total_tokens": 1},
        }

    async with serve_app(app) as url:
        embedder = OpenAIEmbedder(
            api_key="sk-test", base_url=f"{url}/v1", dimension=3, max_retries=0
        )
        vectors = await embedder.embed(["ab", "abcd"])
    [request] = received
    assert request["auth"] == "Bearer sk-test"
    assert request["body"]["model"] == "text-embedding-3-small"
    assert request["body"]["input"] == ["ab", "abcd"]
    assert embedder.name == "openai-text-embedding-3-small"
    assert vectors[0][0] < vectors[1][0]  # order restored from `index`
    assert all(abs(sum(x * x for x in v) - 1) < 1e-9 for v in vectors)


async def test_chroma_pool_bound_must_be_positive() -> None:
    from marcus_search.chroma import connect

    with pytest.raises(ValueError, match="max_connections"):
        await connect("http://127.0.0.1:9", max_connections=0)
