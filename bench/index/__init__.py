"""`make bench-index`: the search index's benchmarks (issue 3).

- freshness: product PATCH through the catalog API -> visible in the assistant's search;
  p50/p95/p99 at steady offered rates, per embedder (hash; MiniLM when installed).
- scaleout: events/s of 1, 2 and 3 indexer processes draining the same backlog.
- rebuild: rebuild-by-replay throughput as a ratio of the raw embed+upsert ceiling.

Run all with `python -m bench.index`, or one with `python -m bench.index freshness`.
"""
