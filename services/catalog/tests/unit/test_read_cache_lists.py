"""Pages of the product list in the read cache (ADR 0027): kept apart from entities,
evicted by any committed change, never stored by a fill that raced an eviction."""

from __future__ import annotations

import uuid

from catalog.storage.read_cache import LIST, PRODUCT, Cached, ReadCache

PAGE = (LIST, ("filters", 20, None))
OTHER_PAGE = (LIST, ("other filters", 20, None))


def _following(max_entries: int = 10, max_lists: int = 10) -> ReadCache:
    cache = ReadCache(max_entries, max_lag=60, max_lists=max_lists)
    cache.following(1)
    return cache


def test_a_page_has_no_etag_header() -> None:
    page = Cached.of(b'{"items":[]}')
    assert [name for name, _ in page.raw_headers] == [b"content-length", b"content-type"]
    assert (b"etag", b'"3"') in Cached.of(b"{}", '"3"').raw_headers


def test_any_change_evicts_every_page_and_only_its_subject() -> None:
    cache = _following()
    product, unrelated = (PRODUCT, uuid.uuid4()), (PRODUCT, uuid.uuid4())
    for key in (PAGE, OTHER_PAGE, product, unrelated):
        cache.fill(key, Cached.of(b"{}"), cache.generation)
    cache.evict_changes([(str(product[1]), "catalog.product.updated")])
    assert cache.get(PAGE) is None and cache.get(OTHER_PAGE) is None
    assert cache.get(product) is None
    assert cache.get(unrelated) is not None


def test_no_change_keeps_the_pages() -> None:
    """A follower round that saw nothing new evicts nothing."""
    cache = _following()
    cache.fill(PAGE, Cached.of(b"{}"), cache.generation)
    cache.evict_changes([])
    assert cache.get(PAGE) is not None


def test_a_category_change_evicts_pages_and_products() -> None:
    cache = _following()
    product = (PRODUCT, uuid.uuid4())
    cache.fill(PAGE, Cached.of(b"{}"), cache.generation)
    cache.fill(product, Cached.of(b"{}"), cache.generation)
    cache.evict_changes([(str(uuid.uuid4()), "catalog.category.updated")])
    assert cache.get(PAGE) is None and cache.get(product) is None


def test_a_page_read_before_a_change_is_not_stored() -> None:
    cache = _following()
    began = cache.generation
    cache.evict_changes([(str(uuid.uuid4()), "catalog.stock.reserved")])
    cache.fill(PAGE, Cached.of(b"stale"), began)
    assert cache.get(PAGE) is None
    cache.fill(PAGE, Cached.of(b"fresh"), cache.generation)
    assert cache.get(PAGE) == Cached.of(b"fresh")


def test_pages_are_bounded_apart_from_entities() -> None:
    """Many distinct queries push out the least recently used pages, not products."""
    cache = _following(max_entries=2, max_lists=2)
    product = (PRODUCT, uuid.uuid4())
    cache.fill(product, Cached.of(b"{}"), cache.generation)
    for n in range(5):
        cache.fill((LIST, (n,)), Cached.of(b"{}"), cache.generation)
    assert cache.get(product) is not None
    assert [cache.get((LIST, (n,))) is not None for n in range(5)] == [False] * 3 + [True] * 2


def test_pages_are_not_stored_while_not_following() -> None:
    cache = ReadCache(10, max_lag=60)
    cache.fill(PAGE, Cached.of(b"{}"), cache.generation)
    assert cache.get(PAGE) is None
