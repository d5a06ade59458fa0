"""Applies chat-session events to `sessions` and `messages`, and action events to
`actions` (live and during rebuilds)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from sqlalchemy import Table, delete, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from assistant.storage import actions as actions_store
from assistant.storage.tables import PROJECTIONS, messages, reply_grounding, sessions
from marcus_contracts import Envelope, registry
from marcus_contracts.events import assistant as ev

Apply = Callable[[AsyncSession, Envelope, Any], Awaitable[None]]


async def _started(session: AsyncSession, envelope: Envelope, event: Any) -> None:
    stmt = insert(sessions).values(
        id=event.session_id,
        customer=event.customer,
        title=event.title,
        message_count=0,
        version=envelope.sequence,
        created_at=envelope.time,
        updated_at=envelope.time,
    )
    await session.execute(stmt.on_conflict_do_nothing(index_elements=["id"]))


async def _message(session: AsyncSession, envelope: Envelope, values: dict[str, Any]) -> None:
    stmt = insert(messages).values(
        session_id=envelope.subject, position=envelope.sequence, created_at=envelope.time, **values
    )
    await session.execute(stmt.on_conflict_do_nothing(index_elements=["id"]))
    await session.execute(
        update(sessions)
        .where(sessions.c.id == envelope.subject)
        .values(
            message_count=sessions.c.message_count + 1,
            version=envelope.sequence,
            updated_at=envelope.time,
        )
    )


async def _received(session: AsyncSession, envelope: Envelope, event: Any) -> None:
    await _message(
        session,
        envelope,
        {"id": event.message_id, "role": "user", "content": event.content, "status": "complete"},
    )


async def _replied(session: AsyncSession, envelope: Envelope, event: Any) -> None:
    await _message(
        session,
        envelope,
        {
            "id": event.message_id,
            "role": "assistant",
            "content": event.content,
            "reply_to": event.reply_to,
            "status": event.status,
            "degraded_reason": event.degraded_reason,
            "cited_products": [c.model_dump(mode="json") for c in event.cited_products],
            "tools_called": list(event.tools_called),
            "model": event.model,
        },
    )
    if event.grounding is not None:
        findings = [finding.model_dump(mode="json") for finding in event.grounding_findings]
        stmt = insert(reply_grounding).values(
            message_id=event.message_id,
            grounding=event.grounding,
            findings=findings,
            created_at=envelope.time,
        )
        await session.execute(stmt.on_conflict_do_nothing(index_elements=["message_id"]))


async def _deleted(session: AsyncSession, envelope: Envelope, event: Any) -> None:
    """The session leaves the read side with its messages, what grounding stored
    about them, and its actions (a proposal of a deleted session cannot be confirmed:
    404)."""
    owned = select(messages.c.id).where(messages.c.session_id == event.session_id)
    actions = actions_store.actions
    await session.execute(delete(actions).where(actions.c.session_id == event.session_id))
    await session.execute(delete(reply_grounding).where(reply_grounding.c.message_id.in_(owned)))
    await session.execute(delete(messages).where(messages.c.session_id == event.session_id))
    await session.execute(delete(sessions).where(sessions.c.id == event.session_id))


_APPLIERS: dict[str, Apply] = {
    ev.SessionStarted.event_type: _started,
    ev.MessageReceived.event_type: _received,
    ev.ReplyRecorded.event_type: _replied,
    ev.SessionDeleted.event_type: _deleted,
    **actions_store.APPLIERS,
}


class AssistantProjector:
    """One function per event type; events are decoded (and upcast) through the registry."""

    tables: Sequence[Table] = (*PROJECTIONS, actions_store.actions)

    async def apply(self, session: AsyncSession, envelope: Envelope) -> None:
        applier = _APPLIERS.get(envelope.type)
        if applier is not None:
            await applier(session, envelope, registry.decode(envelope))
