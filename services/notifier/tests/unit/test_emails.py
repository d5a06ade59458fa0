"""Rendering order e-mails (pure: templates in, message out)."""

from __future__ import annotations

from decimal import Decimal
from email.message import EmailMessage
from uuid import UUID

from marcus_contracts import new_event_id, registry
from marcus_contracts.events import orders as ev
from marcus_contracts.events.history import orders as order_history
from notifier.emails import (
    EMAIL_EVENTS,
    Email,
    compose,
    delivery_id,
    message_id,
    order_reference,
    render,
)
from notifier.smtp import WireMessage
from services.notifier.tests.events import order_event


def _render(event_type: type[order_history._OrderSnapshotV1], **extra: object):
    envelope = order_event(event_type)
    if extra:
        data = {**envelope.data, **extra}
        envelope = envelope.model_copy(update={"data": data})
    [email] = render(envelope, registry.decode(envelope), sender="shop@x.test", domain="x.test")
    return envelope, email


def test_confirmed_email_has_lines_total_and_a_stable_message_id() -> None:
    envelope, email = _render(order_history.OrderConfirmedV1)
    message = email.message
    assert message["To"] == "eve@example.com"
    order_id = UUID(envelope.data["order_id"])
    assert message["Subject"] == f"Your order is confirmed ({str(order_id)[-8:]})"
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
    _, email = _render(order_history.OrderRejectedV1, reasons=reasons)
    text = email.message.get_body(("plain",)).get_content()
    assert "Green tea: you asked for 2, we have 1" in text


def test_every_final_order_event_renders() -> None:
    types = {
        "orders.order.confirmed": order_history.OrderConfirmedV1,
        "orders.order.rejected": order_history.OrderRejectedV1,
        "orders.order.cancelled": order_history.OrderCancelledV1,
        "orders.order.shipped": order_history.OrderShippedV1,
    }
    assert set(EMAIL_EVENTS) == set(types)
    subjects = {_render(model)[1].message["Subject"].split(" (")[0] for model in types.values()}
    assert len(subjects) == 4


def test_html_escapes_product_names() -> None:
    envelope = order_event(order_history.OrderShippedV1)
    data = dict(envelope.data)
    data["lines"] = [{**data["lines"][0], "name": "<script>x</script>"}]
    envelope = envelope.model_copy(update={"data": data})
    [email] = render(envelope, registry.decode(envelope), sender="s@x.test", domain="x.test")
    html = email.message.get_body(("html",)).get_content()
    assert "<script>" not in html and "&lt;script&gt;" in html


def _order(
    event_type: type[ev._OrderSnapshotV2], line: ev.OrderLine, **extra: object
) -> ev._OrderSnapshotV2:
    """Eve's order of this one line, its total the line's."""
    return event_type(
        order_id=UUID(int=10),
        customer="eve",
        email="eve@example.com",
        currency="EUR",
        lines=[line],
        total=line.line_total,
        **extra,
    )


def _bodies(event: ev._OrderSnapshotV2) -> tuple[str, str]:
    """The text and HTML of the e-mail an order event sends."""
    envelope = registry.envelope(event, subject=str(event.order_id), sequence=2)
    [email] = render(envelope, registry.decode(envelope), sender="shop@x.test", domain="x.test")
    message = email.message
    return message.get_body(("plain",)).get_content(), message.get_body(("html",)).get_content()


def _configured(event_type: type[ev._OrderSnapshotV2], priced: bool, **extra: object):
    """An order (v2) with a configured bike: priced by the catalog, or not yet."""
    price = Decimal("530.00") if priced else None
    line = ev.OrderLine(
        product_id=UUID(int=8),
        sku="BIKE",
        name="Trail bike",
        quantity=1,
        kind="configurable",
        options=[
            ev.LineOption(
                option_id=UUID(int=9),
                part="Frame" if priced else "",
                name="Full suspension" if priced else "",
                price=Decimal("130.00") if priced else None,
            )
        ],
        unit_price=price,
        line_total=price,
    )
    return _bodies(_order(event_type, line, **extra))[0]


def test_a_configured_line_lists_its_options_with_the_catalogs_prices() -> None:
    text = _configured(ev.OrderConfirmed, priced=True)
    assert "1 x Trail bike (BIKE) at EUR 530.00 = EUR 530.00" in text
    assert "Frame: Full suspension (EUR 130.00)" in text
    assert "Order total: EUR 530.00" in text


def test_a_rejected_configuration_is_explained_and_shown_unpriced() -> None:
    reason = ev.RejectionReason(
        product_id=UUID(int=8),
        reason="invalid_configuration",
        requested=1,
        available=0,
        message="Mountain wheels need a full-suspension frame",
    )
    text = _configured(ev.OrderRejected, priced=False, reasons=[reason])
    assert "Trail bike: Mountain wheels need a full-suspension frame" in text
    assert "1 x Trail bike (BIKE) at (not priced) = (not priced)" in text
    assert "Order total: (not priced)" in text


def _with_address(event_type: type[ev._OrderSnapshotV2], address: ev.ShippingAddress | None):
    line = ev.OrderLine(
        product_id=UUID(int=7),
        sku="TEA-1",
        name="Green tea",
        quantity=1,
        unit_price=Decimal("4.50"),
        line_total=Decimal("4.50"),
    )
    return _bodies(
        _order(event_type, line, cart_id=UUID(int=12) if address else None, address=address)
    )


ADDRESS = ev.ShippingAddress(
    name="Eve Example",
    lines=["12 Rue <Verte>", "Bât. B"],
    city="Lyon",
    postal_code="69001",
    country="FR",
)


def test_confirmed_and_shipped_emails_show_the_shipping_address() -> None:
    for event_type in (ev.OrderConfirmed, ev.OrderShipped):
        text, html = _with_address(event_type, ADDRESS)
        assert "Shipping to:\n  Eve Example\n  12 Rue <Verte>\n  Bât. B\n  69001 Lyon\n  FR\n" in (
            text
        ), event_type
        assert "Eve Example<br>" in html and "12 Rue &lt;Verte&gt;<br>" in html
        assert "69001 Lyon<br>" in html


def test_an_order_without_an_address_reads_as_before() -> None:
    text, html = _with_address(ev.OrderConfirmed, None)
    assert "Shipping to" not in text and "Shipping to" not in html
    assert "Order total: EUR 4.50\n\nWe will let you know when it ships." in text


def test_orders_of_the_same_minute_get_different_references() -> None:
    """Order ids are UUIDv7: their first digits are the time, shared within a minute, so
    the subject's reference is taken from the random end."""
    ids = [new_event_id() for _ in range(50)]
    assert len({str(i)[:8] for i in ids}) < 5, "the start is the timestamp"
    assert len({order_reference(i) for i in ids}) == 50


def test_an_email_goes_out_in_wire_form_and_reads_as_the_email_message_would() -> None:
    """ASCII headers: the message is written in its wire form (no `EmailMessage` built
    and flattened per e-mail), and parses back to the same headers and bodies."""
    envelope = order_event(order_history.OrderConfirmedV1)
    fields = {"subject": "Hello", "text": "Line one\n.dot line\n", "html": "<p>Bât</p>\n"}
    delivery, mid, outgoing = compose(
        envelope,
        "eve@example.com",
        **fields,
        sender="Marcus shop <shop@x.test>",
        domain="x.test",
        headers={"X-Marcus-Order-Id": "42"},
    )
    assert isinstance(outgoing, WireMessage)
    assert (outgoing.sender, outgoing.recipients) == ("shop@x.test", ("eve@example.com",))
    assert outgoing.data.count(b"\n") == outgoing.data.count(b"\r\n")  # CRLF line ends only
    email = Email(delivery, "eve@example.com", mid, outgoing)
    message = email.message
    assert message["From"] == "Marcus shop <shop@x.test>" and message["Message-ID"] == mid
    assert message["X-Marcus-Order-Id"] == "42"
    assert message["X-Marcus-Event-Type"] == envelope.type
    assert message.get_content_type() == "multipart/alternative"
    assert message.get_body(("plain",)).get_content() == "Line one\n.dot line\n"
    assert message.get_body(("html",)).get_content() == "<p>Bât</p>\n"  # base64 of UTF-8


def test_a_header_that_needs_encoding_takes_the_email_message_path() -> None:
    envelope = order_event(order_history.OrderConfirmedV1)
    for subject, recipient in (("Größe", "eve@example.com"), ("x" * 80, "eve@example.com")):
        _, _, outgoing = compose(
            envelope,
            recipient,
            subject=subject,
            text="t\n",
            html="<p>h</p>\n",
            sender="shop@x.test",
            domain="x.test",
            headers={},
        )
        assert isinstance(outgoing, EmailMessage)
        assert outgoing["Subject"] == subject
