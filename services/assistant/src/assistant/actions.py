"""The assistant's second aggregate: an action it proposes and performs only after the
customer's yes. Pure logic, no I/O (the clock is an argument).

An action (today only a checkout of the cart as it was shown) is proposed during a
reply, confirmed once by its owner before it expires, then executed (an order) or
failed (the orders API said no). Each step is an `assistant.action.*` event on the
action (subject = action id), so what the customer agreed to, and what came of it, can
be read back from the event table.

Single use: a second confirmation records nothing; the caller reads the outcome the
first one had (the same order), which is also why the checkout's Idempotency-Key is
derived from the action id (`idempotency_key`): a confirmation retried after a crash
cannot place a second order.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel

from marcus_contracts import new_event_id
from marcus_contracts.events import assistant as ev
from marcus_contracts.events.orders import ShippingAddress
from marcus_eventstore.aggregate import Aggregate, DomainError, NotFound

ActionStatus = Literal["proposed", "confirmed", "executed", "failed"]


class ActionExpired(DomainError):
    """The proposal is older than its expiry: the customer asks for a new one (410)."""


class CartNotReady(DomainError):
    """The cart cannot be checked out as it is (empty, or a line cannot be bought)."""


class NotConfirmed(DomainError):
    """Only a confirmed action can be executed or fail."""


def idempotency_key(action_id: UUID) -> str:
    """The checkout's Idempotency-Key: one action, one order, however often confirmed."""
    return f"assistant-action-{action_id}"


class ActionOut(BaseModel):
    """An action as a reply, the session and the confirm route show it."""

    id: UUID
    kind: ev.ActionKind
    status: ActionStatus
    lines: list[ev.ProposedLine]
    total: Decimal
    currency: str
    address: ShippingAddress
    expires_at: datetime
    order_id: UUID | None = None
    failure_status: int | None = None
    failure_detail: str | None = None


PROPOSED_FIELDS = ("session_id", "customer", "lines", "total", "currency", "address", "expires_at")
"""What a proposal sets on the action, as its `assistant.action.proposed` event says."""


@dataclass
class Action(Aggregate):
    session_id: UUID = field(default_factory=new_event_id)
    customer: str = ""
    kind: ev.ActionKind = "checkout"
    lines: list[ev.ProposedLine] = field(default_factory=list)
    total: Decimal = Decimal("0")
    currency: str = ""
    address: ShippingAddress | None = None
    expires_at: datetime | None = None
    status: ActionStatus = "proposed"
    order_id: UUID | None = None
    failure_status: int | None = None
    failure_detail: str | None = None

    @classmethod
    def propose_checkout(
        cls,
        *,
        session_id: UUID,
        customer: str,
        lines: Sequence[ev.ProposedLine],
        total: Decimal,
        currency: str,
        address: ShippingAddress,
        now: datetime,
        ttl: timedelta,
    ) -> Action:
        if not customer:
            raise DomainError("an action needs a customer")
        if not lines:
            raise DomainError("the cart is empty: there is nothing to check out")
        proposed = ev.ActionProposed(
            action_id=new_event_id(),
            session_id=session_id,
            customer=customer,
            lines=list(lines),
            total=total,
            currency=currency,
            address=address,
            expires_at=now + ttl,
        )
        action = cls(
            id=proposed.action_id,
            version=0,
            **{name: getattr(proposed, name) for name in PROPOSED_FIELDS},
        )
        action._record(proposed)
        return action

    def check_owner(self, customer: str, session_id: UUID) -> None:
        """Another customer's action (or one of another session) does not exist (404)."""
        if customer != self.customer or session_id != self.session_id:
            raise NotFound(f"action {self.id} not found")

    def confirm(self, customer: str, now: datetime) -> bool:
        """The customer's yes. True when recorded now; False when the action was already
        confirmed (single use: the caller reads what the first confirmation led to)."""
        self.check_owner(customer, self.session_id)
        if self.status != "proposed":
            return False
        assert self.expires_at is not None
        if now >= self.expires_at:
            raise ActionExpired(
                f"this proposal expired at {self.expires_at.isoformat()}; "
                "ask the assistant for a new one"
            )
        self.status = "confirmed"
        self._record(ev.ActionConfirmed(**self._identity()))
        return True

    def executed(self, order_id: UUID) -> None:
        self._confirmed()
        self.status, self.order_id = "executed", order_id
        self._record(ev.ActionExecuted(**self._identity(), order_id=order_id))

    def failed(self, status: int, detail: str) -> None:
        self._confirmed()
        self.status, self.failure_status, self.failure_detail = "failed", status, detail
        self._record(ev.ActionFailed(**self._identity(), status=status, detail=detail))

    def _identity(self) -> dict[str, Any]:
        """What every event of the action says of it: which, in which session, whose."""
        return {"action_id": self.id, "session_id": self.session_id, "customer": self.customer}

    def _confirmed(self) -> None:
        if self.status != "confirmed":
            raise NotConfirmed(f"action {self.id} is {self.status}, not confirmed")

    def view(self) -> ActionOut:
        assert self.address is not None and self.expires_at is not None
        return ActionOut.model_validate(self, from_attributes=True)


def proposed_lines(cart: dict[str, Any]) -> tuple[list[ev.ProposedLine], Decimal, str]:
    """The cart as the orders API showed it, as proposal lines; refused when a line
    cannot be bought now (the customer must see and fix it first)."""
    lines = cart.get("lines") or []
    if not lines:
        raise CartNotReady("the cart is empty: add something before checking out")
    blocked = [line for line in lines if not line.get("available", True)]
    if blocked or any(line.get("unit_price") is None for line in lines):
        names = ", ".join(
            f"{line['name']} ({'; '.join(line.get('problems') or [])})" for line in blocked
        )
        raise CartNotReady(f"some lines cannot be bought now: {names}; change or remove them")
    proposed = [
        ev.ProposedLine(
            line_id=line["line_id"],
            product_id=line["product_id"],
            name=line["name"],
            quantity=line["quantity"],
            unit_price=Decimal(str(line["unit_price"])),
            line_total=Decimal(str(line["line_total"])),
        )
        for line in lines
    ]
    return proposed, Decimal(str(cart["total"])), str(cart["currency"])


def changed_lines(proposed: list[ev.ProposedLine], cart: dict[str, Any]) -> str | None:
    """How the cart now differs from the proposal (None: the same lines and quantities).
    The checkout guards the total; this guards what is bought: a cart whose lines
    changed at an equal total is not what the customer said yes to."""
    now = {(str(line["line_id"]), int(line["quantity"])) for line in cart.get("lines") or []}
    then = {(str(line.line_id), line.quantity) for line in proposed}
    if now == then:
        return None
    names = {str(line.line_id): line.name for line in proposed}
    for line in cart.get("lines") or []:
        names.setdefault(str(line["line_id"]), str(line["name"]))
    moved = sorted({names[line_id] for line_id, _ in now ^ then})
    return "the cart changed since the proposal (" + ", ".join(moved) + ")"
