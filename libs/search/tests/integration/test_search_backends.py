"""The search lib against what it needs: the alias in a real Redis, and the local
MiniLM model when installed (loading it takes seconds)."""

from __future__ import annotations

import pytest

from marcus_search import ActiveIndex, AliasStore, EmbedderConfig
from marcus_search.embedders import local_model_available, make_embedder


async def test_alias_never_goes_back_to_an_older_generation(redis_client, stream_prefix) -> None:
    alias = AliasStore(redis_client, stream_prefix)
    new = ActiveIndex("products__hash__256__b", "hash", 256, "2025-01-02T00:00:00", generation=2)
    old = ActiveIndex("products__hash__256__a", "hash", 256, "2025-01-01T00:00:00", generation=1)
    assert await alias.write(new)
    assert not await alias.write(old)
    assert await alias.read() == new


@pytest.mark.skipif(not local_model_available(), reason="local MiniLM not installed")
async def test_minilm_runs_torch_with_the_configured_threads() -> None:
    """One torch thread by default (measured faster on a shared machine than one per
    core); the vectors are the model's (384 dimensions, normalised, semantic)."""
    import torch

    embedder = make_embedder(EmbedderConfig(kind="minilm"))
    [jacket, coat, grinder] = await embedder.embed(
        ["waterproof rain jacket", "raincoat for wet weather", "espresso grinder"]
    )
    assert torch.get_num_threads() == 1
    assert len(jacket) == 384 and abs(sum(x * x for x in jacket) - 1.0) < 1e-5
    close = sum(x * y for x, y in zip(jacket, coat, strict=True))
    far = sum(x * y for x, y in zip(jacket, grinder, strict=True))
    assert close > far
