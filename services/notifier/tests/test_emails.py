"""Rendering order e-mails (pure: templates in, message out)."""

from __future__ import annotations

from uuid import UUID

from marcus_contracts.events import orders as ev
from notifier.emails import EMAIL_EVENTS, delivery_id, message_id, render
from services.notifier.tests.conftest import order_event


def _render(event_type: type[ev._OrderSnapshotV1], **extra: object):
    envelope = order_event(event_type)
    if extra:
        data = {**envelope.data, **extra}
        envelope = envelope.model_copy(update={"data": data})
    from marcus_contracts import registry

    [email] = render(envelope, registry.decode(envelope), sender="shop@x.test", domain="x.test")
    return envelope, email


def test_confirmed_email_has_lines_total_and_a_stable_message_id() -> None:
    envelope, email = _render(ev.OrderConfirmedV1)
    message = email.message
    assert message["To"] == "eve@example.com"
    assert message["Subject"].startswith("Your order is confirmed")
    assert message["Message-ID"] == email.message_id == message_id(email.delivery_id, "x.test")
    assert email.delivery_id == delivery_id(envelope.id, "EVE@example.com")
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    assert "2 x Green tea (TEA-1) at EUR 4.50 = EUR 9.00" in text
    assert "Order total: EUR 9.00" in text
    assert "<td" in html and "EUR 9.00" in html


def test_rejected_email_explains_each_line() -> None:
    reasons = [
        {
            "product_id": str(UUID(int=7)),
            "reason": "insufficient_stock",
            "requested": 2,
            "available": 1,
        }
    ]
    _, email = _render(ev.OrderRejectedV1, reasons=reasons)
    text = email.message.get_body(("plain",)).get_content()
    assert "Green tea: you asked for 2, we have 1" in text


def test_every_final_order_event_renders() -> None:
    types = {
        "orders.order.confirmed": ev.OrderConfirmedV1,
        "orders.order.rejected": ev.OrderRejectedV1,
        "orders.order.cancelled": ev.OrderCancelledV1,
        "orders.order.shipped": ev.OrderShippedV1,
    }
    assert set(EMAIL_EVENTS) == set(types)
    subjects = {_render(model)[1].message["Subject"].split(" (")[0] for model in types.values()}
    assert len(subjects) == 4


def test_html_escapes_product_names() -> None:
    envelope = order_event(ev.OrderShippedV1)
    data = dict(envelope.data)
    data["lines"] = [{**data["lines"][0], "name": "<script>x</script>"}]
    envelope = envelope.model_copy(update={"data": data})
    from marcus_contracts import registry

    [email] = render(envelope, registry.decode(envelope), sender="s@x.test", domain="x.test")
    html = email.message.get_body(("html",)).get_content()
    assert "<script>" not in html and "&lt;script&gt;" in html
