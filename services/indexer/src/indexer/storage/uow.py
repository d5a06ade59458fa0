"""The indexer's unit of work: one transaction over its tables (cosmicpython's pattern).

The indexer has no aggregates and appends no event for a command (its outcome events are
the rebuild worker's), so this is only the transaction and the rebuild-runs repository:
its own transaction (a request from the API or the CLI), or the consumer's ledger
transaction it joins (a request from an event), which the owner commits.
"""

from __future__ import annotations

from types import TracebackType
from typing import Self

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from indexer.storage.runs import RebuildRuns


class IndexerUnitOfWork:
    runs: RebuildRuns

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession] | None,
        *,
        session: AsyncSession | None = None,
    ) -> None:
        if (sessions is None) == (session is None):
            raise ValueError("give a session factory, or a session to join (not both)")
        self._sessions = sessions
        self._joined = session

    @classmethod
    def joining(cls, session: AsyncSession) -> Self:
        """Inside a transaction someone else owns: `commit()` leaves it to the owner."""
        return cls(None, session=session)

    async def __aenter__(self) -> Self:
        if self._joined is not None:
            self.session = self._joined
        else:
            assert self._sessions is not None
            self.session = self._sessions()
            await self.session.begin()
        self.runs = RebuildRuns(self.session)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._joined is not None:
            return  # the owner of the transaction ends it
        if self.session.in_transaction():
            await self.session.rollback()
        await self.session.close()

    async def commit(self) -> None:
        if self._joined is None:
            await self.session.commit()
