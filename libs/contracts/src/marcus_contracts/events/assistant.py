"""Events the assistant emits: its chat sessions (subject = session id, sequence = the
session's version), and the actions it proposes (subject = action id).

A session is a conversation of one customer with the shopping assistant. The customer's
message is recorded first (`message_received`), the assistant's answer when it is
complete, or cut short by a client that went away (`reply_recorded` with `status`), so
the stored conversation is consistent whatever happens in between. Replies carry the
products they cite as the tools returned them (id, name, price): never what the model
wrote about them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from marcus_contracts.base import Event
from marcus_contracts.events.catalog import Currency, Money
from marcus_contracts.events.orders import ShippingAddress

ReplyStatus = Literal["complete", "interrupted"]
DegradedReason = Literal[
    "llm_not_configured", "llm_timeout", "llm_unavailable", "llm_error", "index_unavailable"
]


class CitedProduct(BaseModel):
    """A product a reply names, as the search index described it during the turn."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    product_id: UUID
    name: str
    price: Money
    currency: Currency


class SessionStartedV1(Event):
    event_type = "assistant.session.started"
    version = 1

    session_id: UUID
    customer: str = Field(min_length=1)
    """The owner's subject (`sub` of their token): only they can read the session."""
    title: str = ""


class MessageReceivedV1(Event):
    """The customer's message, stored before the assistant starts answering."""

    event_type = "assistant.session.message_received"
    version = 1

    session_id: UUID
    message_id: UUID
    content: str = Field(min_length=1)


Grounding = Literal["corrected", "replaced"]


class GroundingFinding(BaseModel):
    """One thing grounding found in the model's text before the customer read it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: str
    """unknown_id | unknown_product | wrong_name | wrong_price | unknown_price"""
    action: str
    """rewrote | dropped"""
    text: str
    """The unit (sentence or list line) as the model wrote it."""


def _absent(value: object) -> bool:
    return value is None or value == []


class ReplyRecordedV1(Event):
    """The assistant's answer to `reply_to`. `interrupted`: the client went away while it
    streamed; `content` is what was written until then. `degraded`: answered from search
    alone (no model configured, or the model failed); `degraded_reason` says why.
    `grounding`: what checking the model's text against the tools' results did to it
    (`corrected`: references rewritten or sentences dropped; `replaced`: the search
    answer instead), with `grounding_findings`; both left out when grounding changed
    nothing, so such an event reads as it did before they existed."""

    event_type = "assistant.session.reply_recorded"
    version = 1

    session_id: UUID
    message_id: UUID
    reply_to: UUID
    content: str
    status: ReplyStatus = "complete"
    degraded: bool = False
    degraded_reason: DegradedReason | None = None
    cited_products: list[CitedProduct] = Field(default_factory=list)
    tools_called: list[str] = Field(default_factory=list)
    model: str = ""
    grounding: Grounding | None = Field(default=None, exclude_if=_absent)
    grounding_findings: list[GroundingFinding] = Field(default_factory=list, exclude_if=_absent)


class SessionDeletedV1(Event):
    """The customer deleted the session: its messages leave the read side with it (the
    events stay, as every event does; a deleted session takes no further message)."""

    event_type = "assistant.session.deleted"
    version = 1

    session_id: UUID
    customer: str = Field(min_length=1)


# ------------------------------------------------------------------------------ actions
# Nothing is bought without the customer's yes: the assistant PROPOSES an action (a
# checkout of the cart as it is, to an address, at a total), the customer confirms it
# through the API (owner only, once, before it expires), and only then does the
# assistant perform it with the customer's own token. Every step is an event.

ActionKind = Literal["checkout"]


class ProposedLine(BaseModel):
    """A cart line as the customer was shown it in the proposal."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    line_id: UUID
    product_id: UUID
    name: str
    quantity: int = Field(gt=0)
    unit_price: Money
    line_total: Money


class _ActionV1(Event):
    """What every step of an action names: the action, its session and their owner."""

    action_id: UUID
    session_id: UUID
    customer: str = Field(min_length=1)


class ActionProposedV1(_ActionV1):
    event_type = "assistant.action.proposed"
    version = 1

    kind: ActionKind = "checkout"
    lines: list[ProposedLine] = Field(min_length=1)
    total: Money
    currency: Currency
    address: ShippingAddress
    expires_at: datetime


class ActionConfirmedV1(_ActionV1):
    """The customer said yes (their token, before `expires_at`, the first time)."""

    event_type = "assistant.action.confirmed"
    version = 1


class ActionExecutedV1(_ActionV1):
    """The confirmed action was performed: the checkout placed `order_id`."""

    event_type = "assistant.action.executed"
    version = 1

    order_id: UUID


class ActionFailedV1(_ActionV1):
    """The confirmed action could not be performed (`status`: the API's answer, 0 when it
    could not be reached); nothing was bought. The customer may ask again."""

    event_type = "assistant.action.failed"
    version = 1

    status: int = Field(ge=0)
    detail: str = ""


ALL = (
    SessionStartedV1,
    MessageReceivedV1,
    ReplyRecordedV1,
    SessionDeletedV1,
    ActionProposedV1,
    ActionConfirmedV1,
    ActionExecutedV1,
    ActionFailedV1,
)


# Unversioned names: the newest version of each event (see the package docstring).
SessionStarted = SessionStartedV1
MessageReceived = MessageReceivedV1
ReplyRecorded = ReplyRecordedV1
SessionDeleted = SessionDeletedV1
ActionProposed = ActionProposedV1
ActionConfirmed = ActionConfirmedV1
ActionExecuted = ActionExecutedV1
ActionFailed = ActionFailedV1
