"""Per-process cache of serialized GET responses, invalidated from committed events.

GET /products/{id} and /categories/{id} keep the JSON bytes and ETag they last read from
PostgreSQL, so a hit opens no session and validates no model. GET /products (a page of
the list, any filters) keeps its JSON bytes under its raw query string; a page can show
any product, so every committed change evicts every page (ADR 0027). The cache is only as good
as its follower (`catalog.storage.follower`), which evicts every subject a committed
event names; while the follower is not following (starting, reconnecting, behind) the
cache is bypassed, never served. Read-your-writes across replicas rests on the
consistency token: a GET that carries a token above the follower's applied position
reads the database.

A fill races with evictions: a miss reads the row, a write commits, the follower evicts,
then the miss stores the row it read before the write. The generation counter closes
this: a fill only stores if no eviction happened since its read began.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Hashable, Iterable
from dataclasses import dataclass
from uuid import UUID

from prometheus_client import Counter, Gauge

CACHE_REQUESTS = Counter(
    "catalog_read_cache_requests_total",
    "GET product/category requests by how the read cache answered",
    ["outcome"],
)
HITS = CACHE_REQUESTS.labels("hit")
MISSES = CACHE_REQUESTS.labels("miss")
BYPASSES = CACHE_REQUESTS.labels("bypass")
CACHE_EVICTIONS = Counter(
    "catalog_read_cache_evictions_total", "Cached responses evicted by a committed change"
)
CACHE_ENTRIES = Gauge("catalog_read_cache_entries", "Responses in the read cache")
FOLLOWER_UP = Gauge(
    "catalog_read_cache_follower_up", "1 while the read cache follows committed events"
)
APPLIED_POSITION = Gauge(
    "catalog_read_cache_applied_position",
    "Every catalog event at or below this position has been applied to the read cache",
)

PRODUCT = "p"
CATEGORY = "c"
LIST = "l"
"""A page of GET /products: the key's second part is the request's raw query string."""
CATEGORY_EVENTS = "catalog.category."
Key = tuple[str, Hashable]


@dataclass(frozen=True, slots=True)
class Cached:
    """A response as sent: the JSON bytes and its raw headers, built once per fill."""

    body: bytes
    etag: str
    raw_headers: tuple[tuple[bytes, bytes], ...] = ()

    @classmethod
    def of(cls, body: bytes, etag: str = "") -> Cached:
        """Without `etag` (a page of a list has no version), no ETag header."""
        headers = (
            (b"content-length", str(len(body)).encode()),
            (b"content-type", b"application/json"),
            *(((b"etag", etag.encode()),) if etag else ()),
        )
        return cls(body, etag, headers)


class ReadCache:
    """A bounded LRU of response bodies plus the follower's state that decides use.

    `usable(token)` is the whole serving rule: following, fresh (a round completed within
    `max_lag` seconds) and the caller's token (if any) at or below `applied_position`.
    """

    def __init__(self, max_entries: int, max_lag: float, max_lists: int = 256) -> None:
        self.max_entries = max_entries
        self.max_lists = max_lists
        """Pages kept apart from the entities: a query text cannot push products out."""
        self.max_lag = max_lag
        self.applied_position = 0
        self.committed_position = 0
        """The highest position this replica knows is committed (follower rounds, its own
        writes, the event table when a token is above it): a bound on real tokens."""
        self.generation = 0
        self._entries: OrderedDict[Key, Cached] = OrderedDict()
        self._lists: OrderedDict[Key, Cached] = OrderedDict()
        self._fresh_until = 0.0
        self._following = False
        CACHE_ENTRIES.set_function(lambda: len(self._entries) + len(self._lists))

    # --- serving ---------------------------------------------------------------------

    def usable(self, token: int | None) -> bool:
        if not self._following or time.monotonic() >= self._fresh_until:
            return False
        return token is None or token <= self.applied_position

    def _shelf(self, key: Key) -> tuple[OrderedDict[Key, Cached], int]:
        if key[0] == LIST:
            return self._lists, self.max_lists
        return self._entries, self.max_entries

    def get(self, key: Key) -> Cached | None:
        entries, _ = self._shelf(key)
        entry = entries.get(key)
        if entry is not None:
            entries.move_to_end(key)
        return entry

    def fill(self, key: Key, entry: Cached, generation: int) -> None:
        """Store what a read that began at `generation` found, unless it may be stale."""
        if generation != self.generation or not self._following:
            return
        entries, bound = self._shelf(key)
        entries[key] = entry
        entries.move_to_end(key)
        while len(entries) > bound:
            entries.popitem(last=False)

    # --- invalidation (the follower and local writes) --------------------------------

    def evict_changes(self, changes: Iterable[tuple[str, str]]) -> None:
        """Evict what events (subject, type) changed. A product's body embeds its category's
        slug and name, so a category event evicts every product too (categories rarely
        change). Any event may move a product into or out of a page: it evicts every page."""
        keys: list[Key] = []
        for subject, event_type in changes:
            self.evict_lists()
            subject_id = UUID(subject)
            keys += [(PRODUCT, subject_id), (CATEGORY, subject_id)]
            if event_type.startswith(CATEGORY_EVENTS):
                self.evict_products()
        self.evict(keys)

    def evict(self, keys: list[Key]) -> None:
        self.generation += 1
        for key in keys:
            if self._entries.pop(key, None) is not None:
                CACHE_EVICTIONS.inc()

    def evict_products(self) -> None:
        self.generation += 1
        for key in [k for k in self._entries if k[0] == PRODUCT]:
            del self._entries[key]
            CACHE_EVICTIONS.inc()
        self.evict_lists()

    def evict_lists(self) -> None:
        self.generation += 1
        if self._lists:
            CACHE_EVICTIONS.inc(len(self._lists))
            self._lists.clear()

    def following(self, applied_position: int) -> None:
        """A follower round completed: everything up to `applied_position` is applied."""
        self.applied_position = applied_position
        self.saw_committed(applied_position)
        self._following = True
        self._fresh_until = time.monotonic() + self.max_lag
        APPLIED_POSITION.set(applied_position)
        FOLLOWER_UP.set(1)

    def saw_committed(self, position: int) -> None:
        """`position` is committed (a write of this replica, or read from the event table)."""
        self.committed_position = max(self.committed_position, position)

    def not_following(self) -> None:
        """The follower lost its connection: bypass until it has caught up again."""
        self.generation += 1
        self._following = False
        FOLLOWER_UP.set(0)
