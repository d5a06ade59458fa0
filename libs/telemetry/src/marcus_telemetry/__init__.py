"""Tracing across HTTP and events, and structured logs, shared by every Marcus process.

Libraries depend on the small API here (and OpenTelemetry's API); a process turns it on:
`configure_tracing(service)` (OTLP when `OTEL_EXPORTER_OTLP_ENDPOINT` is set) and
`configure_logging(service, level, fmt)`.
"""

from marcus_telemetry.context import (
    bind_event,
    bound_event,
    bound_request,
    log_fields,
    unbind_event,
)
from marcus_telemetry.logs import (
    REDACTED,
    JsonFormatter,
    RedactingTextFormatter,
    configure_logging,
    redact,
)
from marcus_telemetry.tracing import (
    configure_tracing,
    context_from_traceparent,
    current_trace_ids,
    current_traceparent,
    exporter_endpoint,
    span_context_of,
    tracer,
    tracing_active,
)

__all__ = [
    "REDACTED",
    "JsonFormatter",
    "RedactingTextFormatter",
    "bind_event",
    "bound_event",
    "bound_request",
    "configure_logging",
    "configure_tracing",
    "context_from_traceparent",
    "current_trace_ids",
    "current_traceparent",
    "exporter_endpoint",
    "log_fields",
    "redact",
    "span_context_of",
    "tracer",
    "tracing_active",
    "unbind_event",
]
