"""HTTP API of the orders service."""
