"""Loads chat sessions and actions from their projections and remembers them for the
unit of work."""

from __future__ import annotations

from uuid import UUID

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from assistant.actions import Action
from assistant.domain import ChatSession
from assistant.storage.actions import action_of, actions
from assistant.storage.tables import sessions
from marcus_eventstore import Aggregate


class Repository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self.seen: list[Aggregate] = []

    def add(self, aggregate: Aggregate) -> None:
        self.seen.append(aggregate)

    async def chat_session(self, session_id: UUID, *, lock: bool = True) -> ChatSession | None:
        """`lock`: hold the session's row until the transaction ends, so a message and
        a reply recorded at the same time queue up instead of failing on the event
        store's (subject, sequence) check."""
        query = select(sessions).where(sessions.c.id == session_id)
        if lock:
            query = query.with_for_update()
        row = (await self.session.execute(query)).first()
        if row is None:
            return None
        aggregate = ChatSession(
            id=row.id,
            version=row.version,
            customer=row.customer,
            title=row.title,
            messages=row.message_count,
        )
        self.seen.append(aggregate)
        return aggregate

    async def action(self, action_id: UUID) -> Action | None:
        """The action, its row locked until the transaction ends: two confirmations
        queue up instead of both acting."""
        query = select(actions).where(actions.c.id == action_id).with_for_update()
        row = (await self.session.execute(query)).first()
        if row is None:
            return None
        aggregate = action_of(row)
        self.seen.append(aggregate)
        return aggregate
