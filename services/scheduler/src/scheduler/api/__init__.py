"""The scheduler's admin HTTP API."""
