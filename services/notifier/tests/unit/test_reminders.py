"""Rendering abandoned-cart reminders (pure: a cart event in, a message or a reason out)."""

from __future__ import annotations

from marcus_contracts import registry
from marcus_contracts.events.cart import CartAbandoned
from notifier.emails import delivery_id, message_id
from notifier.reminders import OPT_OUT, render_reminder, skip_reason
from services.notifier.tests.events import cart_abandoned


def _render(**kwargs: object):
    envelope = cart_abandoned(**kwargs)  # type: ignore[arg-type]
    event = registry.decode(envelope)
    assert isinstance(event, CartAbandoned)
    return envelope, event, render_reminder(envelope, event, sender="s@x.test", domain="x.test")


def test_reminder_lists_lines_quantities_prices_and_total() -> None:
    _, _, [email] = _render()
    text = email.message.get_body(("plain",)).get_content()
    assert "3 x Green tea (TEA-1) at EUR 4.50 = EUR 13.50" in text
    assert "1 x Trail bike (BIKE) at EUR 530.00 = EUR 530.00" in text
    assert "Frame: Full suspension (EUR 130.00)" in text
    assert "Cart total: EUR 543.50" in text
    assert 'PUT /api/v1/cart/reminders {"enabled": false}' in text
    html = email.message.get_body(("html",)).get_content()
    assert "Green tea" in html and "EUR 13.50" in html and "EUR 543.50" in html
    assert "Full suspension" in html
    assert "/api/v1/cart/reminders" in html and "&#34;enabled&#34;: false" in html


def test_reminder_goes_to_the_owner_with_a_message_id_from_event_and_recipient() -> None:
    envelope, event, [email] = _render(email="Eve@Example.com")
    message = email.message
    assert message["To"] == "Eve@Example.com"
    assert message["Subject"] == "You left something in your cart"
    assert email.delivery_id == delivery_id(envelope.id, "eve@example.com")
    assert message["Message-ID"] == email.message_id == message_id(email.delivery_id, "x.test")
    assert message["X-Marcus-Cart-Id"] == str(event.cart_id)
    assert message["X-Marcus-Event-Type"] == "orders.cart.abandoned"
    assert (email.cart_id, email.order_id) == (event.cart_id, None)
    assert "X-Marcus-Order-Id" not in message


def test_no_address_or_opted_out_sends_nothing_and_says_why() -> None:
    for kwargs, reason in (({"email": None}, "no_email"), ({"reminders": False}, "opted_out")):
        _, event, emails = _render(**kwargs)
        assert skip_reason(event) == reason
        assert emails == []
    _, event, _ = _render()
    assert skip_reason(event) is None


def test_reminder_escapes_product_names_in_html() -> None:
    envelope = cart_abandoned()
    data = dict(envelope.data)
    data["lines"] = [{**data["lines"][0], "name": "<b>tea</b>"}]
    envelope = envelope.model_copy(update={"data": data})
    event = registry.decode(envelope)
    assert isinstance(event, CartAbandoned)
    [email] = render_reminder(envelope, event, sender="s@x.test", domain="x.test")
    html = email.message.get_body(("html",)).get_content()
    assert "<b>tea</b>" not in html and "&lt;b&gt;tea&lt;/b&gt;" in html
    assert OPT_OUT in email.message.get_body(("plain",)).get_content()
