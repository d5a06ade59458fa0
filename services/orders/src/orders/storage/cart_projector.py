"""Applies cart events to the `carts` / `cart_lines` projections (live and rebuilds).

Every cart event carries the whole cart, so each one replaces the cart's row and lines.
`last_activity_at` is when the customer (or a rejected checkout giving lines back) last
changed the cart: an idle period starts there. The job's own events (a reminder, an
expiry) are not activity. `reminded_for` is the idle period the last reminder was for.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Table, delete, insert
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from marcus_contracts import Envelope, registry
from marcus_contracts.events import cart as ev
from orders.storage.tables import cart_lines, carts

CART_EVENTS = {event.event_type for event in ev.ALL}


def _is_activity(event: Any) -> bool:
    if isinstance(event, ev.CartAbandoned):
        return False
    return not (isinstance(event, ev.CartCleared) and event.reason == "expired")


class CartProjector:
    tables: Sequence[Table] = (carts, cart_lines)

    async def apply(self, session: AsyncSession, envelope: Envelope) -> None:
        if envelope.type not in CART_EVENTS:
            return
        event: Any = registry.decode(envelope)
        values: dict[str, Any] = {
            "customer": event.customer,
            "email": event.email,
            "reminders": event.reminders,
            "version": envelope.sequence,
            "updated_at": envelope.time,
        }
        changes = dict(values)
        if _is_activity(event):
            changes["last_activity_at"] = envelope.time
        if isinstance(event, ev.CartAbandoned):
            changes["reminded_for"] = event.idle_since
        statement = pg_insert(carts).values(
            id=event.cart_id,
            created_at=envelope.time,
            last_activity_at=envelope.time,
            reminded_for=getattr(event, "idle_since", None),
            **values,
        )
        await session.execute(statement.on_conflict_do_update(index_elements=["id"], set_=changes))
        await session.execute(delete(cart_lines).where(cart_lines.c.cart_id == event.cart_id))
        if event.lines:
            await session.execute(
                insert(cart_lines),
                [
                    {
                        "cart_id": event.cart_id,
                        "position": position,
                        **line.model_dump(exclude={"options"}),
                        "options": [o.model_dump(mode="json") for o in line.options],
                    }
                    for position, line in enumerate(event.lines)
                ],
            )
