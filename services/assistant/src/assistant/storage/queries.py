"""Read side of the chat: a session with its messages, and the history a model sees."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from assistant.storage.tables import messages, reply_grounding, sessions


@dataclass(frozen=True)
class StoredMessage:
    id: UUID
    role: str
    content: str
    status: str
    degraded_reason: str | None
    cited_products: list[dict[str, Any]]
    tools_called: list[str]
    reply_to: UUID | None
    created_at: datetime
    grounding: str | None = None


@dataclass(frozen=True)
class SessionView:
    id: UUID
    customer: str
    title: str
    created_at: datetime
    updated_at: datetime
    messages: list[StoredMessage]


def _message(row: Any) -> StoredMessage:
    return StoredMessage(
        id=row.id,
        role=row.role,
        content=row.content,
        status=row.status,
        degraded_reason=row.degraded_reason,
        cited_products=list(row.cited_products),
        tools_called=list(row.tools_called),
        reply_to=row.reply_to,
        created_at=row.created_at,
        grounding=row.grounding,
    )


_MESSAGES = select(messages, reply_grounding.c.grounding).outerjoin(
    reply_grounding, reply_grounding.c.message_id == messages.c.id
)


async def session_messages(db: AsyncSession, session_id: UUID) -> list[StoredMessage]:
    """The session's messages in the order they were recorded."""
    query = _MESSAGES.where(messages.c.session_id == session_id).order_by(messages.c.position)
    return [_message(row) for row in await db.execute(query)]


async def session_view(db: AsyncSession, session_id: UUID) -> SessionView | None:
    row = (await db.execute(select(sessions).where(sessions.c.id == session_id))).first()
    if row is None:
        return None
    return SessionView(
        id=row.id,
        customer=row.customer,
        title=row.title,
        created_at=row.created_at,
        updated_at=row.updated_at,
        messages=await session_messages(db, session_id),
    )


async def message(db: AsyncSession, message_id: UUID) -> StoredMessage | None:
    row = (await db.execute(_MESSAGES.where(messages.c.id == message_id))).first()
    return None if row is None else _message(row)


@dataclass(frozen=True)
class SessionSummary:
    id: UUID
    title: str
    message_count: int
    created_at: datetime
    updated_at: datetime


async def sessions_of(
    db: AsyncSession, customer: str, limit: int, before: UUID | None
) -> tuple[list[SessionSummary], UUID | None]:
    """The customer's sessions, newest first (ids are UUIDv7), keyset-paginated: a page
    and the id to continue before (None on the last page)."""
    query = select(sessions).where(sessions.c.customer == customer)
    if before is not None:
        query = query.where(sessions.c.id < before)
    rows = list((await db.execute(query.order_by(sessions.c.id.desc()).limit(limit + 1))).all())
    page = [
        SessionSummary(row.id, row.title, row.message_count, row.created_at, row.updated_at)
        for row in rows[:limit]
    ]
    return page, (rows[limit - 1].id if len(rows) > limit else None)
