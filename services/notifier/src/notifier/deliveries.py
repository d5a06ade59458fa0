"""Exactly one e-mail per (source event, recipient): the delivery protocol (order
e-mails and abandoned-cart reminders alike).

The consumer runtime gives at-least-once delivery and exactly-once *database* effects
(its ledger commits with the handler's transaction). An SMTP send is not a database
effect, so the handler records the send's progress in `deliveries` in transactions of
its own, committed around the send, independent of the ledger transaction (which may
still roll back, e.g. when a later event of the same batch fails):

1. `begin`: INSERT the delivery as `sending` (unique per event + recipient), or, if it
   exists, move it back to `sending` and count the attempt; if it is `sent`, skip 2-3.
2. send, with a Message-ID derived from the delivery id;
3. `sent` with the server's reply, committed in its own one-statement transaction as
   soon as the server answered DATA with 250, before QUIT (`Mailer.send`'s `accepted`);
   or `retrying` / `failed` with the error if the send failed (`failed` with
   `notifier.email.failed`: the command `handlers.record_given_up`).
4. in the ledger transaction: `notifier.email.sent` is appended once (guarded by
   `outcome_recorded`; the command `handlers.record_sent`), then the runtime commits
   and acks.

So after a crash, `sending` means "maybe sent" and no row means "never tried". A crash
anywhere after 3 finds `sent` on redelivery: no second e-mail. What is left is at least
once, in two windows docs/architecture.md describes: the server took the message but 3
did not commit (a crash or a database error in that one UPDATE), or the server's reply
to DATA never arrived (timeout, reset) although it took the message. The redelivery
then sends again with the SAME Message-ID (after a crash: counted in
`notifier_resends_after_crash_total` and logged). Receivers that dedupe by Message-ID
(the local catcher does) show one e-mail; a plain MTA may deliver two. SMTP has no way
to ask a server whether it already accepted a message, so no client can close these
windows entirely.

SMTP down: the send raises, the delivery becomes `retrying`, the handler raises, and the
runtime retries the event with exponential backoff. On the last allowed delivery the
delivery becomes `failed`, `notifier.email.failed` is recorded, and the handler raises
once more so the runtime moves the event to `dlq.notifier`; its replay (the admin API,
`POST /api/v1/admin/notifier/dead-letters/{id}/replay`) sends it again later (a `failed`
delivery is retried like a `retrying` one).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from dataclasses import dataclass

from prometheus_client import Counter
from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker

from marcus_contracts import Envelope
from marcus_eventstore import CommandContext
from marcus_messaging import HandlerContext
from marcus_messaging.availability import is_database_unavailable
from notifier import handlers
from notifier.emails import Email
from notifier.settings import NotifierSettings
from notifier.smtp import SEND_ERRORS, Mailer
from notifier.storage.tables import deliveries
from notifier.storage.uow import NotifierUnitOfWork

log = logging.getLogger("notifier.deliveries")

SENT = Counter("notifier_emails_sent_total", "E-mails an SMTP server accepted", ["type"])
SEND_FAILURES = Counter(
    "notifier_send_failures_total", "Send attempts that failed (retried later)", ["type"]
)
GAVE_UP = Counter(
    "notifier_emails_failed_total", "E-mails given up after the last attempt (DLQ)", ["type"]
)
RESENDS = Counter(
    "notifier_resends_after_crash_total",
    "Sends repeated because an earlier attempt's outcome was unknown (crash mid-send)",
)
SKIPPED = Counter(
    "notifier_duplicates_skipped_total", "Redelivered events whose e-mail was already sent"
)


class SendFailed(Exception):
    """The SMTP send failed; the runtime retries the event (or dead-letters it)."""


@dataclass(frozen=True)
class Post:
    """What sending e-mails needs: the database (the deliveries' own transactions), the
    SMTP mailer, and the settings (sender, Message-ID domain, last delivery)."""

    sessions: async_sessionmaker[AsyncSession]
    mailer: Mailer
    settings: NotifierSettings

    @property
    def addressing(self) -> dict[str, str]:
        """The From address and Message-ID domain every e-mail is rendered with."""
        return {"sender": self.settings.mail_from, "domain": self.settings.message_id_domain}

    async def deliver(self, ctx: HandlerContext, emails: list[Email]) -> None:
        """Send each e-mail of the consumed event at most once per delivery id (steps
        1-4); raise to have the runtime retry the event when a send fails."""
        envelope = ctx.envelope
        async with autocommit(self.sessions) as connection:  # steps 1 and 3, one checkout
            for email in emails:
                before = await begin(connection, self.sessions, envelope, email)
                if before == "sent":
                    SKIPPED.inc()
                else:
                    await self._send(ctx, connection, email, resend=before == "sending")
                await handlers.record_sent(
                    handlers.RecordSent(email, envelope),
                    NotifierUnitOfWork.joining(ctx.session, caused_by(envelope)),
                )

    async def _send(
        self, ctx: HandlerContext, connection: AsyncConnection, email: Email, *, resend: bool
    ) -> None:
        """Steps 2-3. A failed send is `retrying`, or given up on the event's delivery
        number CONSUMER_MAX_DELIVERIES (`failed`, notifier.email.failed); it raises
        `SendFailed` either way."""
        envelope, sessions = ctx.envelope, self.sessions
        if resend:
            RESENDS.inc()
            log.warning(
                "delivery %s: the previous attempt's outcome is unknown (crash mid-send);"
                " sending again with the same Message-ID %s",
                email.delivery_id,
                email.message_id,
            )

        async def record_sent(reply: str) -> None:
            await mark_sent_through_outage(sessions, email, reply, connection=connection)

        try:
            await self.mailer.send(email.outgoing, record_sent)
        except SEND_ERRORS as exc:
            max_deliveries = self.settings.consumer_max_deliveries
            final = ctx.deliveries >= max_deliveries
            error = f"{type(exc).__name__}: {exc}"
            if final:
                await handlers.record_given_up(
                    handlers.RecordGivenUp(email, envelope, error),
                    NotifierUnitOfWork(sessions, caused_by(envelope)),
                )
                GAVE_UP.labels(envelope.type).inc()
            else:
                await mark_retrying(sessions, email, error)
            SEND_FAILURES.labels(envelope.type).inc()
            raise SendFailed(
                f"sending {email.message_id} to {email.recipient} failed "
                f"(attempt {ctx.deliveries}/{max_deliveries}): {error}"
            ) from exc
        SENT.labels(envelope.type).inc()


def autocommit(
    sessions: async_sessionmaker[AsyncSession],
) -> contextlib.AbstractAsyncContextManager[AsyncConnection]:
    """A connection of the sessions' pool in autocommit: a step that is one statement
    commits with it, without the BEGIN and COMMIT round trips and the ORM session. An
    event's e-mails share one (each checkout costs the pool's pre-ping round trip)."""
    engine = sessions.kw["bind"]
    assert isinstance(engine, AsyncEngine)
    return _autocommit_engine(engine).connect()


@functools.lru_cache(maxsize=8)
def _autocommit_engine(engine: AsyncEngine) -> AsyncEngine:
    return engine.execution_options(isolation_level="AUTOCOMMIT")


async def begin(
    connection: AsyncConnection,
    sessions: async_sessionmaker[AsyncSession],
    envelope: Envelope,
    email: Email,
) -> str:
    """Step 1, committed: the delivery's status before this attempt ("new" if none).
    The first attempt is one INSERT on the autocommit `connection`, committed as it
    runs; an existing delivery is read and moved back to `sending` in a transaction."""
    inserted = await connection.execute(
        insert(deliveries)
        .values(
            id=email.delivery_id,
            event_id=envelope.id,
            event_type=envelope.type,
            **email.about(),
            status="sending",
            attempts=1,
        )
        .on_conflict_do_nothing()
        .returning(deliveries.c.id)
    )
    if inserted.first() is not None:
        return "new"
    async with sessions.begin() as session:
        row = (
            await session.execute(
                select(deliveries.c.status)
                .where(deliveries.c.id == email.delivery_id)
                .with_for_update()
            )
        ).one()
        if row.status == "sent":
            return "sent"
        await session.execute(
            update(deliveries)
            .where(deliveries.c.id == email.delivery_id)
            .values(status="sending", attempts=deliveries.c.attempts + 1, updated_at=func.now())
        )
        return str(row.status)


async def mark_sent(connection: AsyncConnection, email: Email, reply: str) -> None:
    """Step 3, committed: the server accepted the message (one autocommit statement)."""
    await connection.execute(
        update(deliveries)
        .where(deliveries.c.id == email.delivery_id)
        .values(
            status="sent",
            smtp_response=reply[:500],
            last_error=None,
            sent_at=func.now(),
            updated_at=func.now(),
        )
    )


async def mark_sent_through_outage(
    sessions: async_sessionmaker[AsyncSession],
    email: Email,
    reply: str,
    *,
    connection: AsyncConnection | None = None,
    within: float = 120.0,
) -> None:
    """`mark_sent`, retried while PostgreSQL is unreachable (up to `within` seconds): the
    server has the message, and giving up here would send it again, with the same
    Message-ID, on the next delivery. Only the process dying leaves that window open.
    The first try uses `connection` when given, a retry a fresh one."""
    deadline = time.monotonic() + within
    pause = 0.2
    while True:
        try:
            if connection is not None:
                held, connection = connection, None
                await mark_sent(held, email, reply)
            else:
                async with autocommit(sessions) as fresh:
                    await mark_sent(fresh, email, reply)
            return
        except Exception as exc:
            if not is_database_unavailable(exc) or time.monotonic() > deadline:
                raise
            log.warning("recording %s as sent: database unavailable, retrying", email.message_id)
            await asyncio.sleep(pause)
            pause = min(pause * 2, 5.0)


async def mark_retrying(
    sessions: async_sessionmaker[AsyncSession], email: Email, error: str
) -> None:
    """Step 3 after a failed send that will be retried, committed (one statement)."""
    async with autocommit(sessions) as connection:
        await connection.execute(
            update(deliveries)
            .where(deliveries.c.id == email.delivery_id)
            .values(status="retrying", last_error=error[:2000], updated_at=func.now())
        )


def caused_by(envelope: Envelope) -> CommandContext:
    """The consumed event caused what is recorded of its e-mails."""
    return CommandContext.caused_by(envelope)
