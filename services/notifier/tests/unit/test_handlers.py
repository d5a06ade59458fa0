"""The notifier's commands over in-memory fakes: an e-mail the server accepted is
recorded as sent once, whatever the redeliveries; one given up is `failed` and says so."""

from __future__ import annotations

import pytest

from marcus_contracts import Envelope, registry
from marcus_contracts.events.notifier import EmailFailed, EmailSent
from notifier import handlers
from notifier.emails import Email, render
from services.notifier.tests.events import order_event
from services.notifier.tests.fakes import FakeStore, FakeUnitOfWork, Row


def _email() -> tuple[Envelope, Email]:
    envelope = order_event()
    [email] = render(envelope, registry.decode(envelope), sender="s@x.test", domain="x.test")
    return envelope, email


@pytest.fixture
def sent() -> tuple[FakeStore, Envelope, Email]:
    envelope, email = _email()
    return FakeStore({email.delivery_id: Row(status="sent", attempts=2)}), envelope, email


async def test_a_sent_email_is_recorded_once(sent: tuple[FakeStore, Envelope, Email]) -> None:
    store, envelope, email = sent
    command = handlers.RecordSent(email, envelope)
    assert await handlers.record_sent(command, FakeUnitOfWork(store)) is True
    [event] = store.of_type(EmailSent)
    assert (event.delivery_id, event.attempts, event.recipient) == (
        email.delivery_id,
        2,
        "eve@example.com",
    )
    assert (event.source_event_id, event.order_id) == (envelope.id, email.order_id)
    assert store.rows[email.delivery_id].outcome_recorded

    again = FakeUnitOfWork(store)
    assert await handlers.record_sent(command, again) is False
    assert again.commits == 0 and len(store.events) == 1


async def test_an_email_not_sent_yet_records_nothing() -> None:
    envelope, email = _email()
    store = FakeStore({email.delivery_id: Row(status="retrying")})
    assert (
        await handlers.record_sent(handlers.RecordSent(email, envelope), FakeUnitOfWork(store))
        is False
    )
    assert store.events == [] and not store.rows[email.delivery_id].outcome_recorded


async def test_a_given_up_email_is_failed_with_its_last_error() -> None:
    envelope, email = _email()
    store = FakeStore({email.delivery_id: Row(status="sending", attempts=10)})
    command = handlers.RecordGivenUp(email, envelope, "SMTPConnectError: refused")
    await handlers.record_given_up(command, FakeUnitOfWork(store))
    row = store.rows[email.delivery_id]
    assert (row.status, row.last_error, row.version) == ("failed", "SMTPConnectError: refused", 1)
    [event] = store.of_type(EmailFailed)
    assert (event.attempts, event.error) == (10, "SMTPConnectError: refused")
