"""Recent e-mails, for the operations console: what the notifier records of each
delivery (`deliveries`: one row per source event and recipient), newest first, with
the subject the e-mail of that kind is sent with (`notifier.emails`, `reminders`)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field
from sqlalchemy import select

from marcus_web.auth import Admin
from marcus_web.dependencies import ReadSession
from notifier.emails import SUBJECTS, subject_for
from notifier.reminders import REMINDER_EVENT
from notifier.reminders import SUBJECT as REMINDER_SUBJECT
from notifier.storage.tables import deliveries

router = APIRouter(prefix="/api/v1/admin/notifier", tags=["operations"])


def subject_of(event_type: str, order_id: UUID | None) -> str | None:
    """The Subject header the e-mail went out with (rendered as `notifier.emails` does)."""
    if event_type == REMINDER_EVENT:
        return REMINDER_SUBJECT
    if event_type not in SUBJECTS:
        return None
    return subject_for(event_type, order_id) if order_id else SUBJECTS[event_type]


class EmailOut(BaseModel):
    delivery_id: UUID
    recipient: str
    kind: str = Field(description="order (an order's e-mail) or cart (a reminder)")
    event_type: str = Field(description="the event it was sent for")
    subject: str | None
    order_id: UUID | None
    cart_id: UUID | None
    status: str = Field(description="sending | retrying | sent | failed")
    attempts: int
    last_error: str | None
    message_id: str = Field(description="the Message-ID header: how to find it in a mailbox")
    created_at: datetime
    updated_at: datetime
    sent_at: datetime | None


ROW_FIELDS = tuple(set(EmailOut.model_fields) - {"delivery_id", "kind", "subject"})
"""Fields of `EmailOut` that are columns of `deliveries` under the same name."""


class EmailList(BaseModel):
    emails: list[EmailOut]


@router.get("/emails", response_model=EmailList, summary="Recent e-mails")
async def recent_emails(
    _: Admin, session: ReadSession, limit: Annotated[int, Query(ge=1, le=100)] = 20
) -> EmailList:
    """The newest deliveries first (recipient, kind, order or cart, status, when).
    The messages themselves are in the mailbox (a development stack's mail catcher)."""
    statement = (
        select(deliveries).order_by(deliveries.c.created_at.desc(), deliveries.c.id).limit(limit)
    )
    rows = (await session.execute(statement)).all()
    return EmailList(emails=[email_out(row) for row in rows])


def email_out(row: Any) -> EmailOut:
    """A `deliveries` row as the console shows it: the columns of the same name as they
    are, plus what the e-mail was about and its subject."""
    return EmailOut.model_validate(
        {
            **{name: getattr(row, name) for name in ROW_FIELDS},
            "delivery_id": row.id,
            "kind": "cart" if row.cart_id is not None else "order",
            "subject": subject_of(row.event_type, row.order_id),
        }
    )
