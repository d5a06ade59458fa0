"""The scheduler's PostgreSQL schema: event store, job runs, the lease, the consumer ledger."""
