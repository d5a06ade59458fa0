"""The notifier's consumer: its group on `events.orders`, one e-mail per final order
event and recipient, one reminder per abandoned cart event (both through the
exactly-once protocol of `notifier.deliveries`)."""

from __future__ import annotations

import logging
import sys

from fastapi import FastAPI
from prometheus_client import Counter

from marcus_contracts.events.cart import CartAbandoned
from marcus_contracts.events.orders import (
    OrderCancelled,
    OrderConfirmed,
    OrderRejected,
    OrderShipped,
)
from marcus_messaging import Consumer, HandlerContext, handles
from marcus_web.consumers import consumer_task, service_consumer
from notifier.deliveries import Post
from notifier.emails import render
from notifier.reminders import render_reminder, skip_reason
from notifier.settings import SCHEMA, SERVICE, NotifierSettings
from notifier.smtp import Mailer

log = logging.getLogger("notifier.consumer")

REMINDERS_SKIPPED = Counter(
    "notifier_reminders_skipped_total",
    "Abandoned-cart events acknowledged without an e-mail (no address, opted out)",
    ["reason"],
)


@handles(OrderConfirmed, OrderRejected, OrderCancelled, OrderShipped)
async def on_order_final(
    event: OrderConfirmed | OrderRejected | OrderCancelled | OrderShipped,
    ctx: HandlerContext,
    *,
    post: Post,
) -> None:
    """The order's e-mail (its template is the event's); placing an order sends none, it
    is not final yet."""
    await post.deliver(ctx, render(ctx.envelope, event, **post.addressing))


@handles(CartAbandoned)
async def on_cart_abandoned(event: CartAbandoned, ctx: HandlerContext, *, post: Post) -> None:
    """One reminder per abandoned-cart event; an event with no address or whose owner
    opted out is acknowledged without one (counted and logged, nothing to retry)."""
    reason = skip_reason(event)
    if reason is not None:
        REMINDERS_SKIPPED.labels(reason).inc()
        log.info("cart %s: no reminder for event %s (%s)", event.cart_id, ctx.envelope.id, reason)
        return
    await post.deliver(ctx, render_reminder(ctx.envelope, event, **post.addressing))


def build_consumer(settings: NotifierSettings, app: FastAPI) -> Consumer:
    consumer = service_consumer(settings, app, group=SERVICE, streams=["orders"], schema=SCHEMA)
    consumer.include(
        sys.modules[__name__], post=Post(app.state.sessions, Mailer(settings), settings)
    )
    return consumer


run_consumer = consumer_task(build_consumer)
