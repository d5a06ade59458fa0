"""The alias of the active collection: which Chroma collection search must read.

The indexer owns the truth (its `collections` table) and publishes it as one Redis key,
written with a single SET after a rebuild's switch commits (so readers flip from the old
collection to the new one atomically) and re-asserted periodically by every indexer
replica (so a Redis that lost its data gets it back). Readers (the assistant) never touch
the indexer's schema: one GET per request. The value is JSON, so a reader also learns the
embedder and dimension without parsing the name.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

import redis.asyncio as aioredis

from marcus_search.naming import CollectionName


def alias_key(prefix: str = "") -> str:
    """`<prefix>index:active` (the stream prefix, so test runs and stacks stay apart)."""
    return f"{prefix}index:active"


@dataclass(frozen=True)
class ActiveIndex:
    collection: str
    embedder: str
    dimension: int
    activated_at: str
    generation: int = 0
    """Grows with every switch (the activation time in microseconds): a write with a
    lower generation than the stored one is refused, so the alias never goes back."""

    @property
    def name(self) -> CollectionName:
        return CollectionName.parse(self.collection)

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, raw: str | bytes) -> ActiveIndex:
        data = json.loads(raw)
        return cls(
            collection=str(data["collection"]),
            embedder=str(data["embedder"]),
            dimension=int(data["dimension"]),
            activated_at=str(data["activated_at"]),
            generation=int(data.get("generation", 0)),
        )


class AliasStore:
    """Reads and writes the alias key."""

    def __init__(self, redis: aioredis.Redis, prefix: str = "") -> None:
        self.redis = redis
        self.key = alias_key(prefix)

    async def read(self) -> ActiveIndex | None:
        raw = await self.redis.get(self.key)
        return None if raw is None else ActiveIndex.from_json(raw)

    async def write(self, active: ActiveIndex) -> bool:
        """Set the alias unless the stored one has a higher generation (atomic in Redis);
        True when written."""
        written = await self.redis.eval(
            _SET_IF_NEWER, 1, self.key, active.to_json(), active.generation
        )
        return bool(written)


_SET_IF_NEWER = """
local current = redis.call('GET', KEYS[1])
if current then
    local ok, decoded = pcall(cjson.decode, current)
    if ok and decoded['generation'] and tonumber(decoded['generation']) > tonumber(ARGV[2]) then
        return 0
    end
end
redis.call('SET', KEYS[1], ARGV[1])
return 1
"""
