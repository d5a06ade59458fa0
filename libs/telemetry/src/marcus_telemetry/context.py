"""What the current unit of work is about, for log lines: the request id, the event.

Context variables, so every log line written while a request or an event is handled
carries its ids without passing them around, in asyncio tasks as in threads. The web
middleware binds the request id; the consumer runtime binds the event id and type.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar

REQUEST_ID: ContextVar[str | None] = ContextVar("marcus_request_id", default=None)
EVENT_ID: ContextVar[str | None] = ContextVar("marcus_event_id", default=None)
EVENT_TYPE: ContextVar[str | None] = ContextVar("marcus_event_type", default=None)


@contextlib.contextmanager
def bound_request(request_id: str | None) -> Iterator[None]:
    """Log lines inside the block carry `request_id`."""
    token = REQUEST_ID.set(request_id)
    try:
        yield
    finally:
        REQUEST_ID.reset(token)


@contextlib.contextmanager
def bound_event(event_id: str | None, event_type: str | None) -> Iterator[None]:
    """Log lines inside the block carry `event_id` and `event_type`."""
    id_token = EVENT_ID.set(event_id)
    type_token = EVENT_TYPE.set(event_type)
    try:
        yield
    finally:
        EVENT_TYPE.reset(type_token)
        EVENT_ID.reset(id_token)


def log_fields() -> dict[str, str]:
    """The ids bound right now (only the ones that are set)."""
    fields = {
        "request_id": REQUEST_ID.get(),
        "event_id": EVENT_ID.get(),
        "event_type": EVENT_TYPE.get(),
    }
    return {key: value for key, value in fields.items() if value}
