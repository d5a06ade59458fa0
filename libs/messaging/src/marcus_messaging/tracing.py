"""The consumer's side of tracing across events, and the event ids in its log lines.

Every handler runs through `run_handler`: log lines written while it runs carry the
event's id and type, and with tracing on it runs in a CONSUMER span whose parent is the
envelope's `traceparent` (the span of the request or handler that recorded the event). A
unit of work inside the handler stamps that consumer span into the events it records, so
a chain of services (orders -> catalog -> orders -> notifier) stays one trace.

Whether tracing is on (`tracing_active`, which reads the environment) is asked once per
transaction by the caller, not per event. With tracing off, running a handler costs two
context-variable sets and resets (well under a microsecond); no traceparent is parsed.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from opentelemetry.trace import SpanKind

from marcus_telemetry import bind_event, context_from_traceparent, tracer, unbind_event

if TYPE_CHECKING:
    from marcus_messaging.processing import HandlerContext


async def run_handler(
    handler: Callable[[HandlerContext], Awaitable[None]],
    ctx: HandlerContext,
    group: str,
    tracing: bool,
) -> None:
    """`handler(ctx)` in the event's log context and, if `tracing`, a CONSUMER span."""
    envelope = ctx.envelope
    tokens = bind_event(envelope.id, envelope.type)
    try:
        if not tracing:
            await handler(ctx)
            return
        with tracer("marcus.messaging").start_as_current_span(
            f"process {envelope.type}",
            context=context_from_traceparent(envelope.traceparent),  # none: a root span
            kind=SpanKind.CONSUMER,
            attributes={
                "messaging.system": "redis",
                "messaging.operation.type": "process",
                "messaging.destination.name": ctx.stream,
                "messaging.consumer.group.name": group,
                "messaging.message.id": str(envelope.id),
                "messaging.redis.entry_id": ctx.entry_id,
                "messaging.message.delivery_count": ctx.deliveries,
                "cloudevents.event_type": envelope.type,
                "cloudevents.event_source": envelope.source,
                "cloudevents.event_subject": envelope.subject,
            },
        ):
            await handler(ctx)
    finally:
        unbind_event(tokens)
