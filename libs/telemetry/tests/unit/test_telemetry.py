"""Unit tests of the log formatter (fields, redaction) and the traceparent helpers."""

from __future__ import annotations

import io
import json
import logging

from opentelemetry.sdk.trace import TracerProvider

from marcus_telemetry import (
    JsonFormatter,
    RedactingTextFormatter,
    bound_event,
    bound_request,
    context_from_traceparent,
    current_traceparent,
    redact,
)

JWT = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJhbGljZSIsInJvbGVzIjpbImFkbWluIl19."
    "c2lnbmF0dXJlLXRoYXQtbXVzdC1uZXZlci1iZS1sb2dnZWQ"
)
OPENAI_KEY = "sk-proj-AbCdEfGhIjKlMnOpQrStUvWxYz0123456789"
EMAIL_BODY = "Dear Alice, your order 42 of 3 tents is confirmed. Total 597.00 EUR."


def _logger(formatter: logging.Formatter) -> tuple[logging.Logger, io.StringIO]:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(formatter)
    logger = logging.getLogger(f"test.telemetry.{id(out)}")
    logger.handlers = [handler]
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    return logger, out


def test_json_lines_carry_service_request_event_and_trace_ids() -> None:
    logger, out = _logger(JsonFormatter("catalog"))
    tracer = TracerProvider().get_tracer("test")
    with (
        tracer.start_as_current_span("request") as span,
        bound_request("req-1"),
        bound_event("0193-event", "catalog.product.created"),
    ):
        logger.info("applied %s", "event", extra={"product_id": "p-1", "sequence": 3})
    logger.warning("outside")
    inside, outside = (json.loads(line) for line in out.getvalue().splitlines())
    context = span.get_span_context()
    assert inside["service"] == "catalog" and inside["level"] == "info"
    assert inside["message"] == "applied event"
    assert inside["request_id"] == "req-1"
    assert inside["event_id"] == "0193-event"
    assert inside["event_type"] == "catalog.product.created"
    assert inside["trace_id"] == f"{context.trace_id:032x}"
    assert inside["span_id"] == f"{context.span_id:016x}"
    assert inside["product_id"] == "p-1" and inside["sequence"] == 3
    assert "request_id" not in outside and "trace_id" not in outside and "event_id" not in outside


def test_tokens_keys_passwords_and_email_bodies_never_reach_the_output() -> None:
    for formatter in (JsonFormatter("notifier"), RedactingTextFormatter()):
        logger, out = _logger(formatter)
        logger.info("incoming Authorization: Bearer %s", JWT)
        logger.info("token in text %s and key %s", JWT, OPENAI_KEY)
        logger.info("connect postgresql://marcus:s3cr3t-pw@db:5432/marcus")
        logger.info('settings {"api_key": "%s", "password": "hunter2"}', OPENAI_KEY)
        logger.info(
            "sent",
            extra={"body": EMAIL_BODY, "html": f"<p>{EMAIL_BODY}</p>", "Authorization": JWT},
        )
        try:
            raise RuntimeError(f"upstream refused api_key={OPENAI_KEY}")
        except RuntimeError:
            logger.exception("call failed")
        text = out.getvalue()
        for secret in (JWT, OPENAI_KEY, "s3cr3t-pw", "hunter2", EMAIL_BODY, "signature"):
            assert secret not in text, (type(formatter).__name__, secret)
        assert text.count("[REDACTED]") >= 8
        assert "postgresql://marcus:[REDACTED]@db:5432/marcus" in text


def test_redaction_keeps_ordinary_text() -> None:
    line = "order 0193 confirmed for alice (3 lines, 597.00 EUR), tokenizer=fast"
    assert redact(line) == line


def test_traceparent_round_trip() -> None:
    tracer = TracerProvider().get_tracer("test")
    assert current_traceparent() is None
    with tracer.start_as_current_span("producer") as span:
        traceparent = current_traceparent()
    assert traceparent is not None
    context = span.get_span_context()
    assert traceparent.startswith(f"00-{context.trace_id:032x}-{context.span_id:016x}-")
    parent = context_from_traceparent(traceparent)
    assert parent is not None
    with tracer.start_as_current_span("consumer", context=parent) as child:
        pass
    assert child.parent is not None and child.parent.span_id == context.span_id
    assert context_from_traceparent(None) is None
    assert context_from_traceparent("garbage") is None
    assert context_from_traceparent("00-" + "0" * 32 + "-" + "0" * 16 + "-01") is None


# --- finding 8 (issue 19): redaction by name pattern, empty URL users, SQL parameters ---------

LEAKS = {
    "redis://:redis-pw-1@cache:6379/0": "redis-pw-1",
    "POSTGRES_PASSWORD=pg-pw-2": "pg-pw-2",
    "OPENAI_API_KEY=k3": "k3",
    "ANTHROPIC_API_KEY: short4": "short4",
    "grant_type=client_credentials&client_secret=cs-5&scope=x": "cs-5",
    '{"client_secret": "cs-6", "ok": 1}': "cs-6",
    "X-Api-Key: xk-7": "xk-7",
    "SMTP_PASSWORD='sp 8'": "sp 8",
    "refresh_token=rt-9": "rt-9",
    "DB_CREDENTIALS=cred-10": "cred-10",
    "[SQL: INSERT INTO assistant.events (envelope) VALUES (%(envelope)s)]\n"
    "[parameters: {'envelope': 'my private chat message 11'}]\n"
    "(Background on this error at: https://sqlalche.me/e/20/9h9h)": "private chat message 11",
}


def test_finding_8_redaction_masks_by_name_pattern_empty_url_users_and_sql_parameters() -> None:
    for leaky, secret in LEAKS.items():
        for formatter in (JsonFormatter("web"), RedactingTextFormatter()):
            logger, out = _logger(formatter)
            logger.info("config %s", leaky)
            try:
                raise RuntimeError(leaky)
            except RuntimeError:
                logger.exception("failed")
            logger.info("extra", extra={"postgres_password": secret, "client_secret": secret})
            assert secret not in out.getvalue(), (leaky, type(formatter).__name__)
            assert "[REDACTED]" in out.getvalue()
    assert redact("used 1200 tokens, max_tokens=2000, tokenizer=fast") == (
        "used 1200 tokens, max_tokens=2000, tokenizer=fast"
    )
