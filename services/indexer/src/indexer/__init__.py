"""Indexer service: keeps the Chroma product index in sync with the catalog."""
