"""Persistence of the notifier: deliveries, its event store (email.sent/failed), ledger."""
