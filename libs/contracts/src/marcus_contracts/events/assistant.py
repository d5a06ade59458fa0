"""Events the assistant emits: its chat sessions (subject = session id, sequence = the
session's version).

A session is a conversation of one customer with the shopping assistant. The customer's
message is recorded first (`message_received`), the assistant's answer when it is
complete, or cut short by a client that went away (`reply_recorded` with `status`), so
the stored conversation is consistent whatever happens in between. Replies carry the
products they cite as the tools returned them (id, name, price): never what the model
wrote about them.
"""

from __future__ import annotations

from typing import Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from marcus_contracts.base import Event
from marcus_contracts.events.catalog import Currency, Money

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


class ReplyRecordedV1(Event):
    """The assistant's answer to `reply_to`. `interrupted`: the client went away while it
    streamed; `content` is what was written until then. `degraded`: answered from search
    alone (no model configured, or the model failed); `degraded_reason` says why."""

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


ALL = (SessionStartedV1, MessageReceivedV1, ReplyRecordedV1)
