"""The notifier's consumer: its group on `events.orders`, one e-mail per final order
event and recipient, one reminder per abandoned cart event (see `notifier.deliveries`
for the exactly-once protocol both go through)."""

from __future__ import annotations

import asyncio
import logging

from fastapi import FastAPI
from prometheus_client import Counter
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from marcus_contracts import StreamNames
from marcus_contracts.events.cart import CartAbandoned
from marcus_messaging import Consumer, ConsumerSettings, HandlerContext
from notifier import deliveries
from notifier.emails import EMAIL_EVENTS, Email, render
from notifier.reminders import REMINDER_EVENT, render_reminder, skip_reason
from notifier.settings import SCHEMA, SERVICE, NotifierSettings
from notifier.smtp import SEND_ERRORS, Mailer

log = logging.getLogger("notifier.consumer")

REMINDERS_SKIPPED = Counter(
    "notifier_reminders_skipped_total",
    "Abandoned-cart events acknowledged without an e-mail (no address, opted out)",
    ["reason"],
)


async def send_order_email(
    ctx: HandlerContext,
    *,
    sessions: async_sessionmaker[AsyncSession],
    mailer: Mailer,
    settings: NotifierSettings,
) -> None:
    emails = render(
        ctx.envelope, ctx.event, sender=settings.mail_from, domain=settings.message_id_domain
    )
    await deliver(ctx, emails, sessions=sessions, mailer=mailer, settings=settings)


async def send_cart_reminder(
    ctx: HandlerContext,
    *,
    sessions: async_sessionmaker[AsyncSession],
    mailer: Mailer,
    settings: NotifierSettings,
) -> None:
    """One reminder per abandoned-cart event; an event with no address or whose owner
    opted out is acknowledged without one (counted and logged, nothing to retry)."""
    event = ctx.event
    if not isinstance(event, CartAbandoned):
        raise TypeError(f"expected {REMINDER_EVENT}, got {ctx.envelope.type}")
    reason = skip_reason(event)
    if reason is not None:
        REMINDERS_SKIPPED.labels(reason).inc()
        log.info("cart %s: no reminder for event %s (%s)", event.cart_id, ctx.envelope.id, reason)
        return
    emails = render_reminder(
        ctx.envelope, event, sender=settings.mail_from, domain=settings.message_id_domain
    )
    await deliver(ctx, emails, sessions=sessions, mailer=mailer, settings=settings)


async def deliver(
    ctx: HandlerContext,
    emails: list[Email],
    *,
    sessions: async_sessionmaker[AsyncSession],
    mailer: Mailer,
    settings: NotifierSettings,
) -> None:
    """Send each e-mail at most once per delivery id (`notifier.deliveries`); raise to
    have the runtime retry the event when a send fails."""
    envelope = ctx.envelope
    for email in emails:
        before = await deliveries.begin(sessions, envelope, email)
        if before == "sent":
            deliveries.SKIPPED.inc()
        else:
            if before == "sending":
                deliveries.RESENDS.inc()
                log.warning(
                    "delivery %s: the previous attempt's outcome is unknown (crash mid-send);"
                    " sending again with the same Message-ID %s",
                    email.delivery_id,
                    email.message_id,
                )

            async def record_sent(reply: str, email: Email = email) -> None:
                await deliveries.mark_sent_through_outage(sessions, email, reply)

            try:
                await mailer.send(email.message, record_sent)
            except SEND_ERRORS as exc:
                final = ctx.deliveries >= settings.consumer_max_deliveries
                error = f"{type(exc).__name__}: {exc}"
                await deliveries.mark_failed(sessions, email, envelope, error, final=final)
                deliveries.SEND_FAILURES.labels(envelope.type).inc()
                if final:
                    deliveries.GAVE_UP.labels(envelope.type).inc()
                raise deliveries.SendFailed(
                    f"sending {email.message_id} to {email.recipient} failed "
                    f"(attempt {ctx.deliveries}/{settings.consumer_max_deliveries}): {error}"
                ) from exc
            deliveries.SENT.labels(envelope.type).inc()
        await deliveries.record_sent_event(ctx.session, email, envelope)


def build_consumer(settings: NotifierSettings, app: FastAPI) -> Consumer:
    consumer = Consumer(
        group=SERVICE,
        streams=["orders"],
        engine=app.state.engine,
        schema=SCHEMA,
        redis_url=settings.redis_url,
        names=StreamNames(settings.stream_prefix),
        settings=ConsumerSettings(
            batch=settings.consumer_batch,
            max_deliveries=settings.consumer_max_deliveries,
            backoff_base_ms=settings.consumer_backoff_base_ms,
            backoff_max_ms=settings.consumer_backoff_max_ms,
            reclaim_min_idle_ms=settings.consumer_reclaim_min_idle_ms,
        ),
    )
    mailer = Mailer(settings)
    sessions: async_sessionmaker[AsyncSession] = app.state.sessions

    @consumer.handler(*EMAIL_EVENTS)
    async def on_order_event(ctx: HandlerContext) -> None:
        await send_order_email(ctx, sessions=sessions, mailer=mailer, settings=settings)

    @consumer.handler(REMINDER_EVENT)
    async def on_cart_abandoned(ctx: HandlerContext) -> None:
        await send_cart_reminder(ctx, sessions=sessions, mailer=mailer, settings=settings)

    return consumer


async def run_consumer(app: FastAPI, stop: asyncio.Event) -> None:
    settings: NotifierSettings = app.state.settings
    if not settings.consumer_enabled:
        return
    async with build_consumer(settings, app).running():
        await stop.wait()
