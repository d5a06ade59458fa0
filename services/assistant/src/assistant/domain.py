"""The assistant's aggregate: a chat session. Pure logic, no I/O.

A session belongs to one customer. Each message and each reply is an event on the
session (the unit of work stores, projects and publishes them), so the conversation
can be rebuilt from the event table and nothing is stored that was not recorded.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from uuid import UUID

from marcus_contracts import new_event_id
from marcus_contracts.events import assistant as ev
from marcus_eventstore.aggregate import Aggregate, Conflict, DomainError, NotFound


class SessionFull(Conflict):
    """The session holds as many messages as it may; the customer starts a new one."""


@dataclass
class ChatSession(Aggregate):
    customer: str = ""
    title: str = ""
    messages: int = 0

    @classmethod
    def start(cls, customer: str, title: str = "") -> ChatSession:
        if not customer:
            raise DomainError("a chat session needs a customer")
        session = cls(id=new_event_id(), version=0, customer=customer, title=title)
        session._record(ev.SessionStarted(session_id=session.id, customer=customer, title=title))
        return session

    def check_owner(self, customer: str) -> None:
        """Another customer's session does not exist as far as they can tell (404)."""
        if customer != self.customer:
            raise NotFound(f"chat session {self.id} not found")

    def delete(self, customer: str) -> None:
        """The owner deletes the session (anyone else: not found)."""
        self.check_owner(customer)
        self._record(ev.SessionDeleted(session_id=self.id, customer=customer))

    def receive(self, content: str, limit: int) -> UUID:
        """Record the customer's message; returns its id."""
        if not content.strip():
            raise DomainError("a message must not be blank")
        if self.messages + 2 > limit:
            raise SessionFull(
                f"this session holds its maximum of {limit} messages; start a new session"
            )
        message_id = new_event_id()
        self.messages += 1
        self._record(ev.MessageReceived(session_id=self.id, message_id=message_id, content=content))
        return message_id

    def reply(
        self,
        reply_to: UUID,
        content: str,
        *,
        status: ev.ReplyStatus,
        degraded_reason: ev.DegradedReason | None,
        cited: Sequence[ev.CitedProduct],
        tools_called: Sequence[str],
        model: str,
        grounding: ev.Grounding | None = None,
        findings: Sequence[ev.GroundingFinding] = (),
    ) -> UUID:
        """Record the answer to `reply_to` (always possible: the message was counted
        with room for its reply), with what grounding did to the model's text."""
        message_id = new_event_id()
        self.messages += 1
        self._record(
            ev.ReplyRecorded(
                session_id=self.id,
                message_id=message_id,
                reply_to=reply_to,
                content=content,
                status=status,
                degraded=degraded_reason is not None,
                degraded_reason=degraded_reason,
                cited_products=list(cited),
                tools_called=list(tools_called),
                model=model,
                grounding=grounding,
                grounding_findings=list(findings),
            )
        )
        return message_id
