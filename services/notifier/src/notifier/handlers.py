"""Command handlers of the notifier: recording what became of a delivery, each in one
unit of work. An e-mail the SMTP server accepted is recorded as `EmailSent` once (in the
consumer's ledger transaction, so a redelivered event finds it recorded); one given up
after its last attempt is `failed` and recorded as `EmailFailed`."""

from __future__ import annotations

from dataclasses import dataclass

from marcus_contracts import Envelope
from notifier.domain import Delivery
from notifier.emails import Email
from notifier.storage.uow import NotifierUnitOfWork as UnitOfWork


@dataclass(frozen=True)
class RecordSent:
    email: Email
    source: Envelope
    """The event the e-mail was sent for."""


@dataclass(frozen=True)
class RecordGivenUp:
    email: Email
    source: Envelope
    error: str
    """The last attempt's error."""


async def record_sent(cmd: RecordSent, uow: UnitOfWork) -> bool:
    """`EmailSent` for a sent delivery; False (nothing recorded) when it is not sent or
    was recorded already."""
    async with uow:
        outcome = await uow.repo.sent_outcome(cmd.email.delivery_id)
        if outcome is None:
            return False
        delivery = Delivery.of(cmd.email, cmd.source, version=outcome.version)
        delivery.sent(outcome.attempts)
        uow.repo.add(delivery)
        await uow.commit()
        return True


async def record_given_up(cmd: RecordGivenUp, uow: UnitOfWork) -> None:
    """The delivery is `failed`, and `EmailFailed` says so, in one transaction."""
    async with uow:
        outcome = await uow.repo.given_up(cmd.email.delivery_id, cmd.error)
        delivery = Delivery.of(cmd.email, cmd.source, version=outcome.version)
        delivery.failed(outcome.attempts, cmd.error)
        uow.repo.add(delivery)
        await uow.commit()
