"""Exactly one e-mail per (event, recipient) through crashes and SMTP outages.

The notifier runs as a process and is SIGKILLed; SMTP is the real catcher, stopped and
started by the test. The catcher keeps every SMTP transaction (`read()`), and marks a
second one with an already-seen Message-ID as a duplicate (`unique()`)."""

from __future__ import annotations

import os
import signal

import httpx
import psycopg
import pytest

from marcus_contracts import STREAM_FIELD
from marcus_contracts.events.history import orders as order_history
from marcus_eventstore import libpq_dsn
from marcus_messaging import replay_dead_letters
from scripts.mailcatcher import CatcherHandler
from services.notifier.tests.conftest import Bus, Db
from services.notifier.tests.events import order_event
from services.orders.tests.stack import MailCatcher, Stack
from tests.support.servers import wait_for

pytestmark = pytest.mark.fault

QUICK_RECLAIM = {"CONSUMER_RECLAIM_MIN_IDLE_MS": "1500"}


async def _metric(url: str, name: str) -> float:
    async with httpx.AsyncClient() as client:
        for line in (await client.get(f"{url}/metrics")).text.splitlines():
            if line.startswith(name + " "):
                return float(line.rsplit(" ", 1)[1])
    return 0.0


async def test_sigkill_after_the_send_before_the_ack_sends_no_second_email(
    stack: Stack, catcher: MailCatcher, bus: Bus, db: Db
) -> None:
    await catcher.start()
    notifier = stack.start("notifier", **QUICK_RECLAIM)
    await notifier.ready()
    # Hold the notifier's event table: the handler sends, records `sent` (its own
    # transaction), then blocks appending notifier.email.sent in the ledger transaction.
    # So the process dies after the send and before the commit and the ack.
    blocker = await psycopg.AsyncConnection.connect(libpq_dsn(stack.database_url))
    try:
        await blocker.execute("LOCK TABLE notifier.events IN EXCLUSIVE MODE")
        await bus.publish(order_event(order_history.OrderConfirmedV1))
        await wait_for(lambda: len(catcher.mailbox.read()) == 1, within=30, what="the e-mail")

        async def recorded_sent() -> bool:
            return [d.status for d in await db.deliveries()] == ["sent"]

        await wait_for(recorded_sent, within=30, what="delivery recorded as sent")
        notifier.kill()
        assert await bus.pending() == 1, "the entry must still be unacknowledged"
    finally:
        await blocker.rollback()
        await blocker.close()

    restarted = stack.start("notifier", **QUICK_RECLAIM)
    await restarted.ready()

    async def settled() -> bool:
        return await bus.pending() == 0 and len(await db.events("notifier.email.sent")) == 1

    await wait_for(settled, within=60, what="redelivery handled and acknowledged")
    assert len(catcher.mailbox.read()) == 1, "a second SMTP transaction happened"
    [delivery] = await db.deliveries()
    assert (delivery.status, delivery.attempts, delivery.outcome_recorded) == ("sent", 1, True)
    assert await _metric(restarted.url, "notifier_duplicates_skipped_total") == 1
    await catcher.stop()


class KillOnFirstMessage(CatcherHandler):
    """Keeps the message, then SIGKILLs the sender before answering 250: the notifier
    dies inside its one unavoidable window (the server has the message, the notifier
    never learns it)."""

    pid: int | None = None

    async def handle_DATA(self, server, session, envelope):  # type: ignore[no-untyped-def]
        reply = await super().handle_DATA(server, session, envelope)
        if self.pid is not None:
            os.kill(self.pid, signal.SIGKILL)
            self.pid = None
        return reply


async def test_crash_between_smtp_accept_and_record_resends_with_the_same_message_id(
    stack: Stack, catcher: MailCatcher, bus: Bus, db: Db
) -> None:
    handler = KillOnFirstMessage(catcher.mailbox)
    catcher.handler = handler
    await catcher.start()
    notifier = stack.start("notifier", **QUICK_RECLAIM)
    await notifier.ready()
    assert notifier.proc is not None
    handler.pid = notifier.proc.pid
    await bus.publish(order_event(order_history.OrderShippedV1))
    await wait_for(lambda: notifier.proc.poll() is not None, within=30, what="notifier killed")
    [delivery] = await db.deliveries()
    assert delivery.status == "sending", "the outcome of the first send is unknown"

    restarted = stack.start("notifier", **QUICK_RECLAIM)
    await restarted.ready()

    async def sent() -> bool:
        return [d.status for d in await db.deliveries()] == ["sent"] and await bus.pending() == 0

    await wait_for(sent, within=60, what="the resend")
    transactions = catcher.mailbox.read()
    assert len(transactions) == 2
    assert transactions[0].message_id == transactions[1].message_id
    assert [t.duplicate for t in transactions] == [False, True]
    assert len(catcher.mailbox.unique()) == 1, "the mailbox shows one e-mail"
    [delivery] = await db.deliveries()
    assert delivery.attempts == 2
    assert len(await db.events("notifier.email.sent")) == 1
    assert await _metric(restarted.url, "notifier_resends_after_crash_total") == 1
    await catcher.stop()


async def test_smtp_down_for_a_while_every_email_arrives_once(
    stack: Stack, catcher: MailCatcher, bus: Bus, db: Db
) -> None:
    notifier = stack.start("notifier", CONSUMER_MAX_DELIVERIES="100")
    await notifier.ready()
    events = [
        order_event(order_history.OrderConfirmedV1, email=f"user{i}@example.com") for i in range(3)
    ]
    for envelope in events:
        await bus.publish(envelope)

    async def retrying() -> bool:
        rows = await db.deliveries()
        return len(rows) == 3 and all(r.status == "retrying" and r.attempts >= 2 for r in rows)

    await wait_for(retrying, within=60, what="every delivery failing and retried")
    assert catcher.mailbox.read() == []

    await catcher.start()  # SMTP is back; nobody restarts the notifier

    async def delivered() -> bool:
        rows = await db.deliveries()
        return len(rows) == 3 and all(r.status == "sent" for r in rows)

    await wait_for(delivered, within=60, what="all three e-mails sent")
    await wait_for(lambda: _pending_is(bus, 0), within=30, what="all acknowledged")
    received = catcher.mailbox.read()
    assert sorted(r.recipients[0] for r in received) == [f"user{i}@example.com" for i in range(3)]
    assert not any(r.duplicate for r in received)
    assert len(await db.events("notifier.email.sent")) == 3
    assert await bus.dead_letters() == 0
    await catcher.stop()


async def _pending_is(bus: Bus, n: int) -> bool:
    return await bus.pending() == n


async def test_gives_up_after_n_attempts_then_a_replay_delivers(
    stack: Stack, catcher: MailCatcher, bus: Bus, db: Db
) -> None:
    notifier = stack.start("notifier", CONSUMER_MAX_DELIVERIES="3")
    await notifier.ready()
    envelope = order_event(order_history.OrderCancelledV1)
    await bus.publish(envelope)

    async def failed() -> bool:
        return await bus.dead_letters() == 1 and len(await db.events("notifier.email.failed")) == 1

    await wait_for(failed, within=60, what="notifier.email.failed and the dead letter")
    [delivery] = await db.deliveries()
    assert (delivery.status, delivery.attempts) == ("failed", 3)
    [row] = await db.events("notifier.email.failed")
    assert row.envelope["data"]["source_event_id"] == str(envelope.id)
    assert "Connect" in row.envelope["data"]["error"] or "refused" in row.envelope["data"]["error"]
    [(_, letter)] = await bus.redis.xrange(bus.names.dlq("notifier"))
    assert letter[STREAM_FIELD.encode()] == envelope.to_json().encode()

    await catcher.start()
    replayed = await replay_dead_letters(bus.redis, dlq_stream=bus.names.dlq("notifier"))
    assert replayed == 1

    async def sent() -> bool:
        statuses = [d.status for d in await db.deliveries()]
        return statuses == ["sent"] and len(await db.events("notifier.email.sent")) == 1

    await wait_for(sent, within=60, what="the replayed e-mail and notifier.email.sent")
    assert len(catcher.mailbox.read()) == 1
    [delivery] = await db.deliveries()
    assert delivery.attempts == 4
    await catcher.stop()
