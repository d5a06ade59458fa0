"""Exactly one reminder per abandoned-cart event, with two notifier replicas in one
consumer group and with a notifier SIGKILLed in the middle of a batch.

Notifiers run as processes; `orders.cart.abandoned` envelopes are put on `events.orders`
as the orders service's relay would; SMTP is the real catcher, whose `read()` lists every
SMTP transaction (so a second send of one e-mail would show, duplicate Message-ID or not).
"""

from __future__ import annotations

import os
import signal
from uuid import UUID

import httpx
import pytest

from marcus_contracts import Envelope
from notifier.emails import delivery_id
from scripts.mailcatcher import CatcherHandler
from services.notifier.tests.conftest import Bus, Db
from services.notifier.tests.events import cart_abandoned
from services.orders.tests.stack import MailCatcher, Process, Stack
from tests.support.servers import wait_for

pytestmark = pytest.mark.fault

QUICK_RECLAIM = {"CONSUMER_RECLAIM_MIN_IDLE_MS": "1500"}
REMINDER = "orders.cart.abandoned"


async def metric(processes: list[Process], sample: str) -> float:
    """`sample` (name with labels) summed over the live processes."""
    total = 0.0
    async with httpx.AsyncClient() as client:
        for process in processes:
            if process.proc is None or process.proc.poll() is not None:
                continue
            for line in (await client.get(f"{process.url}/metrics")).text.splitlines():
                if line.startswith(sample + " "):
                    total += float(line.rsplit(" ", 1)[1])
    return total


def reminders(count: int) -> list[Envelope]:
    return [cart_abandoned(email=f"shopper{i}@example.com") for i in range(count)]


async def settled(bus: Bus, db: Db, catcher: MailCatcher, sent: int) -> bool:
    """Every entry acknowledged, at least `sent` e-mails recorded and received (the
    assertions after it say whether there were more)."""
    return (
        await bus.pending() == 0
        and len(await db.events("notifier.email.sent")) >= sent
        and len(catcher.mailbox.read()) >= sent
    )


async def assert_one_email_per_event(catcher: MailCatcher, db: Db, events: list[Envelope]):
    """Each event's reminder went out in exactly one SMTP transaction, to its owner,
    with the Message-ID derived from (event, recipient); its delivery and its
    `notifier.email.sent` name the cart, not an order."""
    received = catcher.mailbox.read()
    assert not any(r.duplicate for r in received), "an e-mail was sent twice"
    by_message_id = {r.message_id: r for r in received}
    assert len(by_message_id) == len(received) == len(events)
    for envelope in events:
        recipient = envelope.data["email"]
        mid = f"<{delivery_id(envelope.id, recipient)}@notifier.marcus.example>"
        assert by_message_id[mid].recipients == [recipient]
        assert by_message_id[mid].subject == "You left something in your cart"
    rows = await db.deliveries()
    assert {(r.event_id, r.status, r.order_id) for r in rows} == {
        (envelope.id, "sent", None) for envelope in events
    }
    assert {r.cart_id for r in rows} == {UUID(e.data["cart_id"]) for e in events}
    recorded = [row.envelope["data"] for row in await db.events("notifier.email.sent")]
    assert sorted(d["source_event_id"] for d in recorded) == sorted(str(e.id) for e in events)
    assert all(d["source_event_type"] == REMINDER and "order_id" not in d for d in recorded)
    assert {d["cart_id"] for d in recorded} == {e.data["cart_id"] for e in events}


async def test_two_replicas_send_one_reminder_per_abandoned_event(
    stack: Stack, catcher: MailCatcher, bus: Bus, db: Db
) -> None:
    """Both replicas read the group in small batches; an event published twice (the
    relay is at-least-once) and events that must not e-mail are in the mix."""
    await catcher.start()
    replicas = [stack.start("notifier", CONSUMER_BATCH="2") for _ in range(2)]
    for replica in replicas:
        await replica.ready()
    events = reminders(16)
    no_email = cart_abandoned(email=None)
    opted_out = cart_abandoned(email="quiet@example.com", reminders=False)
    for envelope in [*events[:8], no_email, events[3], opted_out, *events[8:], events[12]]:
        await bus.publish(envelope)

    await wait_for(
        lambda: settled(bus, db, catcher, len(events)), within=90, what="every reminder sent"
    )

    await assert_one_email_per_event(catcher, db, events)
    assert "quiet@example.com" not in {r.recipients[0] for r in catcher.mailbox.read()}
    sent = f'notifier_emails_sent_total{{type="{REMINDER}"}}'
    assert await metric(replicas, sent) == len(events)
    skipped = "notifier_reminders_skipped_total"
    assert await metric(replicas, f'{skipped}{{reason="no_email"}}') == 1
    assert await metric(replicas, f'{skipped}{{reason="opted_out"}}') == 1
    assert await bus.dead_letters() == 0
    await catcher.stop()


class KillOnNthMessage(CatcherHandler):
    """SIGKILLs the sender when its `nth` message arrives, before keeping or answering
    it: the notifier dies in the middle of its batch, the earlier reminders sent and
    recorded `sent`, this one `sending`, nothing of the batch committed or acked."""

    nth: int = 3
    pid: int | None = None
    seen: int = 0

    async def handle_DATA(self, server, session, envelope):  # type: ignore[no-untyped-def]
        self.seen += 1
        if self.pid is not None and self.seen == self.nth:
            os.kill(self.pid, signal.SIGKILL)
            self.pid = None
            return "451 4.3.0 sender went away"
        return await super().handle_DATA(server, session, envelope)


async def test_a_replica_killed_mid_batch_leaves_no_reminder_twice(
    stack: Stack, catcher: MailCatcher, bus: Bus, db: Db
) -> None:
    """The killed replica's pending batch is reclaimed by the other replica: the two
    reminders already sent are skipped, the one in flight is sent (once: the catcher
    never kept the first attempt), the rest are sent."""
    handler = KillOnNthMessage(catcher.mailbox)
    catcher.handler = handler
    await catcher.start()
    events = reminders(6)
    for envelope in events:  # all waiting, so the first replica takes them in one batch
        await bus.publish(envelope)
    first = stack.start("notifier", **QUICK_RECLAIM)
    assert first.proc is not None
    handler.pid = first.proc.pid
    await wait_for(lambda: first.proc.poll() is not None, within=60, what="the replica killed")

    statuses = sorted(d.status for d in await db.deliveries())
    assert statuses == ["sending", "sent", "sent"], "killed while sending the third"
    assert len(catcher.mailbox.read()) == 2
    assert await db.events("notifier.email.sent") == [], "the batch never committed"
    assert await bus.pending() == len(events), "nothing was acknowledged"

    second = stack.start("notifier", **QUICK_RECLAIM)
    await second.ready()
    await wait_for(
        lambda: settled(bus, db, catcher, len(events)), within=90, what="the batch reclaimed"
    )

    await assert_one_email_per_event(catcher, db, events)
    attempts = sorted(d.attempts for d in await db.deliveries())
    assert attempts == [1, 1, 1, 1, 1, 2], "only the reminder in flight was tried again"
    assert await metric([second], "notifier_duplicates_skipped_total") == 2
    assert await metric([second], "notifier_resends_after_crash_total") == 1
    await catcher.stop()
