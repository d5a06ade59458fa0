"""Persistence of orders: tables, repository, projector, unit of work, queries."""
