"""Embedders and collection names of the search lib (the alias in Redis and the local
model: integration/test_search_backends.py)."""

from __future__ import annotations

import json
import uuid

import pytest
from fastapi import FastAPI, Request

from marcus_search import (
    ALT,
    MAIN,
    CollectionName,
    EmbedderConfig,
    HashingEmbedder,
    IndexServers,
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


def test_collection_names_record_the_chroma_server() -> None:
    main = CollectionName.new("hash-256", 256, uuid.uuid4(), "test-ab12:")
    alt = main.on(ALT)
    assert main.server == MAIN and not str(main).endswith("__alt")
    assert str(alt) == f"{main}__alt"
    assert CollectionName.parse(str(alt)) == alt and CollectionName.parse(str(main)) == main
    assert alt.on(MAIN) == main
    with pytest.raises(ValueError, match="unknown Chroma server"):
        main.on("other")
    with pytest.raises(ValueError):
        CollectionName.parse(f"{main}__other")


def test_a_rebuild_builds_beside_the_active_collection() -> None:
    """With an alternate server, the new collection goes on the server that does not
    answer searches; without one, everything stays on the main server."""
    name = CollectionName.new("hash-256", 256, uuid.uuid4())
    two = IndexServers("http://127.0.0.1:8100", "http://127.0.0.1:8101")
    assert two.to_build_beside(None) == MAIN
    assert two.to_build_beside(str(name)) == ALT
    assert two.to_build_beside(str(name.on(ALT))) == MAIN
    one = IndexServers("http://127.0.0.1:8100", "")
    assert not one.has_alt
    assert one.to_build_beside(str(name)) == MAIN


async def test_a_collection_on_an_unconfigured_server_is_a_clear_error() -> None:
    name = CollectionName.new("hash-256", 256, uuid.uuid4()).on(ALT)
    with pytest.raises(LookupError, match="CHROMA_ALT_URL is not set"):
        await IndexServers("http://127.0.0.1:8100").for_collection(str(name))
    with pytest.raises(ValueError, match="another Chroma server"):
        IndexServers("http://127.0.0.1:8100", "http://127.0.0.1:8100/")


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
