"""OpenTelemetry tracing across HTTP and events.

Libraries (the event store, the consumer runtime, the web plumbing) only use the
OpenTelemetry API: spans are no-ops until a process installs an SDK tracer provider,
which `configure_tracing` does when `OTEL_EXPORTER_OTLP_ENDPOINT` is set (tests install
one with an in-memory exporter). `tracing_active()` is the cheap check that keeps the
per-event work (parsing a traceparent, a span per publish) off the hot path otherwise.

Events carry the producer's W3C `traceparent` in their envelope: the unit of work
writes the current span's context there, and a consumer starts its span as a child of
it, so one trace runs from an HTTP request through the relay into every consumer.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

log = logging.getLogger("marcus.telemetry")

TRACER_NAME = "marcus"
_PROPAGATOR = TraceContextTextMapPropagator()
_OFF = (trace.ProxyTracerProvider, trace.NoOpTracerProvider)


_tracers: dict[str, tuple[trace.TracerProvider, trace.Tracer]] = {}


def tracer(scope: str = TRACER_NAME) -> trace.Tracer:
    """The tracer of one instrumentation scope (e.g. `marcus.relay`) from the provider
    installed NOW. Call it when starting spans rather than keeping one at import time: a
    tracer stays bound to the provider it came from (tests install one per test)."""
    provider = trace.get_tracer_provider()
    cached = _tracers.get(scope)
    if cached is None or cached[0] is not provider:
        cached = _tracers[scope] = (provider, provider.get_tracer(scope))
    return cached[1]


def tracing_active() -> bool:
    """True once an SDK tracer provider is installed (spans are recorded somewhere)."""
    return not isinstance(trace.get_tracer_provider(), _OFF)


def context_from_traceparent(
    traceparent: str | None, tracestate: str | None = None
) -> otel_context.Context | None:
    """The context to start a child span in; None if there is no valid traceparent."""
    if not traceparent:
        return None
    carrier = {"traceparent": traceparent}
    if tracestate:
        carrier["tracestate"] = tracestate
    ctx = _PROPAGATOR.extract(carrier)
    if not trace.get_current_span(ctx).get_span_context().is_valid:
        return None
    return ctx


def span_context_of(traceparent: str | None) -> trace.SpanContext | None:
    """The remote span context a traceparent names (for span links); None if invalid."""
    ctx = context_from_traceparent(traceparent)
    return None if ctx is None else trace.get_current_span(ctx).get_span_context()


def current_traceparent() -> str | None:
    """The W3C traceparent of the current span, None outside a (valid) span."""
    span_context = trace.get_current_span().get_span_context()
    if not span_context.is_valid:
        return None
    return (
        f"00-{span_context.trace_id:032x}-{span_context.span_id:016x}-"
        f"{int(span_context.trace_flags):02x}"
    )


def current_trace_ids() -> tuple[str, str] | None:
    """(trace id, span id) in hex of the current span, for log lines."""
    span_context = trace.get_current_span().get_span_context()
    if not span_context.is_valid:
        return None
    return f"{span_context.trace_id:032x}", f"{span_context.span_id:016x}"


def exporter_endpoint(environ: Mapping[str, str] | None = None) -> str | None:
    """Where OTLP spans go, if anywhere (the standard OpenTelemetry variables)."""
    env = os.environ if environ is None else environ
    if env.get("OTEL_SDK_DISABLED", "").lower() == "true":
        return None
    return env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or env.get("OTEL_EXPORTER_OTLP_ENDPOINT")


def configure_tracing(service: str) -> bool:
    """Install the SDK with an OTLP exporter when an endpoint is configured; True when
    tracing is active afterwards (also if a provider was installed before, e.g. by a
    test). The first call in a process wins: its `service` names the process."""
    if tracing_active():
        return True
    endpoint = exporter_endpoint()
    if not endpoint:
        return False
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    # OTEL_SERVICE_NAME / OTEL_RESOURCE_ATTRIBUTES still win (Resource.create merges them).
    resource = Resource.create({SERVICE_NAME: os.environ.get("OTEL_SERVICE_NAME") or service})
    provider = TracerProvider(resource=resource)  # sampler: OTEL_TRACES_SAMPLER, parent-based
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    log.info("tracing: exporting spans of %s over OTLP to %s", service, endpoint)
    return True
