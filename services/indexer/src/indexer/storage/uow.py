"""The indexer's unit of work: one transaction over its tables (cosmicpython's pattern).

The indexer has no aggregates and appends no event for a command (its outcome events are
the rebuild worker's), so this is only the transaction and the rebuild-runs repository:
its own transaction (a request from the API or the CLI), or the consumer's ledger
transaction it joins (a request from an event), which the owner commits.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from indexer.storage.runs import RebuildRuns
from marcus_eventstore import Transaction


class IndexerUnitOfWork(Transaction):
    runs: RebuildRuns

    def opened(self, session: AsyncSession) -> None:
        self.runs = RebuildRuns(session)
