"""What the current unit of work is about, for log lines: the request id, the event.

Context variables, so every log line written while a request or an event is handled
carries its ids without passing them around, in asyncio tasks as in threads. The web
middleware binds the request id; the consumer runtime binds the event id and type.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar, Token
from typing import Any

REQUEST_ID: ContextVar[str | None] = ContextVar("marcus_request_id", default=None)
EVENT_ID: ContextVar[Any] = ContextVar("marcus_event_id", default=None)
"""The event id as given (a UUID): turned into text only when a line is logged."""
EVENT_TYPE: ContextVar[str | None] = ContextVar("marcus_event_type", default=None)

EventTokens = tuple[Token[Any], Token[str | None]]


@contextlib.contextmanager
def bound_request(request_id: str | None) -> Iterator[None]:
    """Log lines inside the block carry `request_id`."""
    token = REQUEST_ID.set(request_id)
    try:
        yield
    finally:
        REQUEST_ID.reset(token)


@contextlib.contextmanager
def bound_event(event_id: Any, event_type: str | None) -> Iterator[None]:
    """Log lines inside the block carry `event_id` and `event_type`."""
    tokens = bind_event(event_id, event_type)
    try:
        yield
    finally:
        unbind_event(tokens)


def bind_event(event_id: Any, event_type: str | None) -> EventTokens:
    """`bound_event` without the context manager, for the consumer's hot path: pass the
    result to `unbind_event` in a `finally`."""
    return EVENT_ID.set(event_id), EVENT_TYPE.set(event_type)


def unbind_event(tokens: EventTokens) -> None:
    EVENT_TYPE.reset(tokens[1])
    EVENT_ID.reset(tokens[0])


def log_fields() -> dict[str, str]:
    """The ids bound right now (only the ones that are set)."""
    event_id = EVENT_ID.get()
    fields = {
        "request_id": REQUEST_ID.get(),
        "event_id": None if event_id is None else str(event_id),
        "event_type": EVENT_TYPE.get(),
    }
    return {key: value for key, value in fields.items() if value}
