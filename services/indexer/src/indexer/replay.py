"""Reading `events.catalog` from the start and folding it to the latest state per product.

XRANGE in pages (never the whole stream at once), each entry decoded and upcast by the
contracts registry exactly as the consumer would, folded with `domain.apply`, the same
fold the live path uses. Entries that cannot be decoded are counted and skipped: the
live consumer dead-letters them too, so the index cannot contain them either.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from uuid import UUID

import redis.asyncio as aioredis

from indexer.domain import PRODUCT_EVENT_TYPES, ProductState, apply, product_id_of
from marcus_contracts import STREAM_FIELD, Envelope, registry

log = logging.getLogger("marcus.indexer.replay")

_FIELD = STREAM_FIELD.encode()
_TYPES = frozenset(PRODUCT_EVENT_TYPES)


@dataclass
class Fold:
    """The latest state per product, plus where in the stream the fold stopped."""

    states: dict[UUID, ProductState] = field(default_factory=dict)
    last_id: str = "0-0"
    events: int = 0
    undecodable: int = 0

    def add(self, entries: Iterable[tuple[bytes | str, dict[bytes, bytes]]]) -> set[UUID]:
        """Fold stream entries in order; returns the products whose state changed."""
        changed: set[UUID] = set()
        for entry_id, fields in entries:
            self.last_id = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
            self.events += 1
            raw = fields.get(_FIELD)
            try:
                if raw is None:
                    raise ValueError("no event field")
                envelope = Envelope.from_json(raw)
                if envelope.type not in _TYPES:
                    continue
                event = registry.decode(envelope)
            except Exception as exc:
                self.undecodable += 1
                log.warning("replay skips entry %s: %s", self.last_id, exc)
                continue
            product_id = product_id_of(event)
            if product_id is None:
                continue
            state = self.states.get(product_id) or ProductState(product_id)
            new = apply(state, envelope, event)
            if new is not None:
                self.states[product_id] = new
                changed.add(product_id)
        return changed


async def read_page(
    redis: aioredis.Redis, stream: str, after: str, count: int
) -> list[tuple[bytes, dict[bytes, bytes]]]:
    """Entries strictly after `after` (`0-0` for the start), at most `count`."""
    start = "-" if after == "0-0" else f"({after}"
    entries = await redis.xrange(stream, min=start, max="+", count=count)
    return list(entries or [])  # type: ignore[arg-type]
