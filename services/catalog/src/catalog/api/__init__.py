"""The catalog HTTP API."""
