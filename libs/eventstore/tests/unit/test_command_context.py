"""One correlation rule for every command: a request or an event is the cause, and the
command continues the correlation it belongs to or starts one at its cause."""

from __future__ import annotations

from types import SimpleNamespace
from uuid import uuid4

from marcus_contracts import Envelope
from marcus_eventstore import CommandContext

TRACE = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def envelope(correlationid: str | None) -> Envelope:
    return Envelope(
        type="orders.order.placed",
        source="orders",
        subject=str(uuid4()),
        sequence=1,
        dataversion=2,
        data={},
        correlationid=correlationid,
        traceparent=TRACE,
    )


def test_a_request_continues_the_callers_correlation() -> None:
    request = SimpleNamespace(
        headers={"x-correlation-id": "corr-1", "x-request-id": "req-1", "traceparent": TRACE}
    )
    assert CommandContext.from_request(request) == CommandContext("corr-1", "req-1", TRACE)


def test_a_request_without_a_correlation_starts_one_at_itself() -> None:
    request = SimpleNamespace(headers={"x-request-id": "req-1"})
    assert CommandContext.from_request(request) == CommandContext("req-1", "req-1", None)


def test_an_event_is_the_cause_and_its_correlation_continues() -> None:
    cause = envelope("corr-1")
    assert CommandContext.caused_by(cause) == CommandContext("corr-1", str(cause.id), TRACE)


def test_an_event_without_a_correlation_starts_one_at_itself() -> None:
    cause = envelope(None)
    assert CommandContext.caused_by(cause).correlationid == str(cause.id)
