"""Command handlers: the chat's use cases, each in one unit of work.

The routes and the chat turn call these; neither touches SQL itself. The customer's
message is committed before the model is asked anything, and the reply in a command of
its own once it is complete (or interrupted), so a stored session is always consistent.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from assistant.domain import ChatSession
from assistant.storage.uow import AssistantUnitOfWork as UnitOfWork
from marcus_contracts.events import assistant as ev
from marcus_eventstore import CommandContext, NotFound


@dataclass(frozen=True)
class Reply:
    session_id: UUID
    reply_to: UUID
    content: str
    status: ev.ReplyStatus
    degraded_reason: ev.DegradedReason | None = None
    cited: Sequence[ev.CitedProduct] = field(default_factory=list)
    tools_called: Sequence[str] = field(default_factory=list)
    model: str = ""
    grounding: ev.Grounding | None = None
    """`corrected` | `replaced`: what grounding did to the model's text (None: nothing)."""
    findings: Sequence[dict[str, Any]] = field(default_factory=list)


async def start_session(
    sessions: async_sessionmaker[AsyncSession],
    customer: str,
    title: str = "",
    context: CommandContext | None = None,
) -> UUID:
    async with UnitOfWork(sessions, context) as uow:
        chat = ChatSession.start(customer, title)
        uow.repo.add(chat)
        await uow.commit()
        return chat.id


async def _owned(uow: UnitOfWork, session_id: UUID, customer: str) -> ChatSession:
    chat = await uow.repo.chat_session(session_id)
    if chat is None:
        raise NotFound(f"chat session {session_id} not found")
    chat.check_owner(customer)
    return chat


async def delete_session(
    sessions: async_sessionmaker[AsyncSession],
    session_id: UUID,
    customer: str,
    context: CommandContext | None = None,
) -> None:
    """Delete the customer's session; another customer's, or none: NotFound."""
    async with UnitOfWork(sessions, context) as uow:
        chat = await uow.repo.chat_session(session_id)
        if chat is None:
            raise NotFound(f"chat session {session_id} not found")
        chat.delete(customer)
        await uow.commit()


async def receive_message(
    sessions: async_sessionmaker[AsyncSession],
    session_id: UUID,
    customer: str,
    content: str,
    limit: int,
    context: CommandContext | None = None,
) -> UUID:
    """Store the customer's message; returns its id."""
    async with UnitOfWork(sessions, context) as uow:
        chat = await _owned(uow, session_id, customer)
        message_id = chat.receive(content, limit)
        await uow.commit()
        return message_id


async def record_reply(
    sessions: async_sessionmaker[AsyncSession],
    reply: Reply,
    context: CommandContext | None = None,
) -> UUID:
    async with UnitOfWork(sessions, context) as uow:
        chat = await uow.repo.chat_session(reply.session_id)
        if chat is None:
            raise NotFound(f"chat session {reply.session_id} not found")
        message_id = chat.reply(
            reply.reply_to,
            reply.content,
            status=reply.status,
            degraded_reason=reply.degraded_reason,
            cited=reply.cited,
            tools_called=reply.tools_called,
            model=reply.model,
            grounding=reply.grounding,
            findings=[ev.GroundingFinding(**finding) for finding in reply.findings],
        )
        await uow.commit()
        return message_id
