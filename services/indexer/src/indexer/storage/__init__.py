"""Persistence of the indexer: tables, the product fold store, the sync queue, collections."""
