"""Structured logs: one JSON object per line, with the ids that tie lines together.

Every line carries the service, and when they are set the request id, the trace and
span ids of the current span (to jump from a log line to its trace), and the event id
and type being consumed. The standard library's logging is kept (every module already
logs through it); only the formatter changes.

Secrets never reach the output: bearer tokens, JWTs, API keys, credentials in URLs (an
empty user too: `redis://:pw@host`) and the value of any `name=value` / `name: value` whose
name looks secret (it contains password, passwd, secret, api_key, token, credential,
private_key: `POSTGRES_PASSWORD=`, `OPENAI_API_KEY=`, `client_secret=`, whatever the value's
length) are masked in the message, the arguments and tracebacks; the `[parameters: ...]`
SQLAlchemy adds to a failed statement is dropped (statements can carry a customer's text),
and fields passed in `extra=` under a sensitive name (the same patterns, authorization,
cookie, e-mail `body`/`html`, ...) are replaced by "[REDACTED]".
"""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime
from typing import Any

from marcus_telemetry.context import log_fields
from marcus_telemetry.tracing import current_trace_ids

REDACTED = "[REDACTED]"

SENSITIVE_FIELDS = frozenset(
    {
        "authorization",
        "token",
        "access_token",
        "refresh_token",
        "id_token",
        "jwt",
        "password",
        "passwd",
        "secret",
        "jwt_secret",
        "api_key",
        "apikey",
        "openai_api_key",
        "smtp_password",
        "cookie",
        "body",
        "html",
        "html_body",
        "text_body",
        "email_body",
        "mail_body",
    }
)
"""`extra=` keys whose values are never written (case-insensitive), besides any name
matching `_SECRET_NAME`."""

# A name that holds a secret: `password`, `POSTGRES_PASSWORD`, `client_secret`,
# `OPENAI_API_KEY`, `x-api-key`, `refresh_token`, `db_credentials`, `private_key` ...
# (`tokens`, a count of model tokens, and `tokenizer` are not).
_SECRET_WORD = (
    r"(?:password|passwd|passphrase|secret|api[_-]?key|apikey|token(?![a-z])|credentials?|"
    r"private[_-]?key|authorization|cookie)"
)
_SECRET_NAME = re.compile(rf"(?i){_SECRET_WORD}")

_PATTERNS: list[tuple[re.Pattern[str], str]] = [
    # Authorization: Bearer <anything>
    (re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9\-._~+/]+=*"), r"\1 " + REDACTED),
    # a JWT anywhere (header.payload.signature, base64url)
    (re.compile(r"\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*"), REDACTED),
    # OpenAI-style keys (sk-..., sk-proj-...)
    (re.compile(r"\bsk-[A-Za-z0-9_-]{16,}"), REDACTED),
    # key=value / key: value / "key": "value" for secret-looking names, prefixes included
    # (POSTGRES_PASSWORD=, OPENAI_API_KEY=, client_secret=), any length of value
    (
        re.compile(
            rf"(?i)([\"']?\b[\w.-]{{0,40}}{_SECRET_WORD}[\w.-]{{0,40}}[\"']?\s*[=:]\s*)"
            r"(\"[^\"]*\"|'[^']*'|[^\s,;&}]+)"
        ),
        r"\1" + REDACTED,
    ),
    # credentials in URLs: scheme://user:password@host, the user may be empty
    (re.compile(r"(//[^/\s:@]*):[^@\s/]+@"), r"\1:" + REDACTED + "@"),
    # SQLAlchemy's parameters of a failed statement (a chat message, an address ...)
    (re.compile(r"\[parameters: [^\n]*\]"), "[parameters: " + REDACTED + "]"),
]


def redact(text: str) -> str:
    """`text` with tokens, keys and passwords masked."""
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


# Attributes every LogRecord has; anything else came in through `extra=`.
_RECORD_ATTRIBUTES = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {
    "message",
    "asctime",
    "taskName",
    "color_message",  # uvicorn's ANSI-coloured copy of the message
}


def _safe(key: str, value: Any) -> Any:
    if key.lower() in SENSITIVE_FIELDS or _SECRET_NAME.search(key):
        return REDACTED
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, bool | int | float) or value is None:
        return value
    return redact(str(value))


class JsonFormatter(logging.Formatter):
    """One JSON object per record (see the module docstring for the fields)."""

    def __init__(self, service: str | None = None) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": redact(record.getMessage()),
        }
        if self.service:
            entry["service"] = self.service
        entry.update(log_fields())
        ids = current_trace_ids()
        if ids is not None:
            entry["trace_id"], entry["span_id"] = ids
        for key, value in record.__dict__.items():
            if key not in _RECORD_ATTRIBUTES and not key.startswith("_") and key not in entry:
                entry[key] = _safe(key, value)
        if record.exc_info:
            entry["exception"] = redact(self.formatException(record.exc_info))
        elif record.exc_text:
            entry["exception"] = redact(record.exc_text)
        if record.stack_info:
            entry["stack"] = redact(self.formatStack(record.stack_info))
        return json.dumps(entry, ensure_ascii=False, default=str)


class RedactingTextFormatter(logging.Formatter):
    """Plain text for a developer's terminal (`LOG_FORMAT=text`), masked the same way,
    with the ids appended when set."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        ids = " ".join(f"{key}={value}" for key, value in log_fields().items())
        trace_ids = current_trace_ids()
        if trace_ids is not None:
            ids = f"{ids} trace_id={trace_ids[0]}".strip()
        return redact(f"{text} [{ids}]" if ids else text)


def configure_logging(service: str, level: str = "info", fmt: str = "json") -> None:
    """Route every logger (uvicorn's and FastStream's included) through one stderr
    handler with the JSON (or text) formatter; replaces earlier root handlers."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(service) if fmt == "json" else RedactingTextFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        uvicorn_logger = logging.getLogger(name)
        uvicorn_logger.handlers.clear()
        uvicorn_logger.propagate = True
