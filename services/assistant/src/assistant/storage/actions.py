"""The `actions` projection (each action's current state, from `assistant.action.*`
events), the aggregate as a row holds it (the repository loads it), and the session's
list for the API.

The table is defined here, on the schema's metadata, so that the action flow lives in
its own modules; the projector owns it like the chat tables (a rebuild empties it).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any
from uuid import UUID

from sqlalchemy import Column, Index, Integer, Numeric, String, Table, Text, Uuid, select, update
from sqlalchemy.dialects.postgresql import JSONB, insert
from sqlalchemy.ext.asyncio import AsyncSession

from assistant.actions import Action, ActionOut
from assistant.storage.tables import TZ, metadata
from marcus_contracts import Envelope
from marcus_contracts.events import assistant as ev
from marcus_contracts.events.orders import ShippingAddress

actions = Table(
    "actions",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("session_id", Uuid, nullable=False),
    Column("customer", Text, nullable=False),
    Column("kind", String(16), nullable=False),
    Column("status", String(16), nullable=False, comment="proposed|confirmed|executed|failed"),
    Column("lines", JSONB, nullable=False),
    Column("total", Numeric(12, 2), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("address", JSONB, nullable=False),
    Column("expires_at", TZ, nullable=False),
    Column("order_id", Uuid, nullable=True),
    Column("failure_status", Integer, nullable=True),
    Column("failure_detail", Text, nullable=True),
    Column("version", Integer, nullable=False),
    Column("created_at", TZ, nullable=False),
    Column("updated_at", TZ, nullable=False),
)
Index("ix_actions_session", actions.c.session_id, actions.c.created_at)


def action_of(row: Any) -> Action:
    """The aggregate as its projection row holds it."""
    values = {
        name: value
        for name, value in row._mapping.items()
        if name not in ("created_at", "updated_at")
    }
    values["lines"] = [ev.ProposedLine.model_validate(line) for line in row.lines]
    values["address"] = ShippingAddress.model_validate(row.address)
    return Action(**values)


async def of_session(db: AsyncSession, session_id: UUID) -> list[ActionOut]:
    query = (
        select(actions)
        .where(actions.c.session_id == session_id)
        .order_by(actions.c.created_at, actions.c.id)
    )
    return [action_of(row).view() for row in (await db.execute(query)).all()]


# ------------------------------------------------------------------------- projection

Apply = Callable[[AsyncSession, Envelope, Any], Awaitable[None]]


async def _proposed(session: AsyncSession, envelope: Envelope, event: Any) -> None:
    stmt = insert(actions).values(
        id=event.action_id,
        session_id=event.session_id,
        customer=event.customer,
        kind=event.kind,
        status="proposed",
        lines=[line.model_dump(mode="json") for line in event.lines],
        total=event.total,
        currency=event.currency,
        address=event.address.model_dump(mode="json"),
        expires_at=event.expires_at,
        version=envelope.sequence,
        created_at=envelope.time,
        updated_at=envelope.time,
    )
    await session.execute(stmt.on_conflict_do_nothing(index_elements=["id"]))


async def _moved(session: AsyncSession, envelope: Envelope, values: dict[str, Any]) -> None:
    await session.execute(
        update(actions)
        .where(actions.c.id == envelope.subject, actions.c.version < envelope.sequence)
        .values(version=envelope.sequence, updated_at=envelope.time, **values)
    )


async def _confirmed(session: AsyncSession, envelope: Envelope, event: Any) -> None:
    await _moved(session, envelope, {"status": "confirmed"})


async def _executed(session: AsyncSession, envelope: Envelope, event: Any) -> None:
    await _moved(session, envelope, {"status": "executed", "order_id": event.order_id})


async def _failed(session: AsyncSession, envelope: Envelope, event: Any) -> None:
    values = {"status": "failed", "failure_status": event.status, "failure_detail": event.detail}
    await _moved(session, envelope, values)


APPLIERS: dict[str, Apply] = {
    ev.ActionProposed.event_type: _proposed,
    ev.ActionConfirmed.event_type: _confirmed,
    ev.ActionExecuted.event_type: _executed,
    ev.ActionFailed.event_type: _failed,
}
