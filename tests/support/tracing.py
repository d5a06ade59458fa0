"""Spans of this test process, read from OpenTelemetry's in-memory exporter.

`capture_spans()` installs an SDK tracer provider for the duration of a block and
takes it away again afterwards (OpenTelemetry allows one global provider per process;
the test utilities reset it the same way), so the tests that run later in the same
pytest process are not traced. Apps must be created inside the block: the web lib
decides at app creation whether to trace requests.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.util._once import Once


class Spans:
    def __init__(self, exporter: InMemorySpanExporter) -> None:
        self.exporter = exporter

    def all(self) -> Sequence[ReadableSpan]:
        return self.exporter.get_finished_spans()

    def named(self, prefix: str, **attributes: object) -> list[ReadableSpan]:
        """Finished spans whose name starts with `prefix` and that have these attributes
        (attribute names with dots: pass them as a dict via `**{"a.b": v}`)."""
        return [
            span
            for span in self.all()
            if span.name.startswith(prefix)
            and all((span.attributes or {}).get(k) == v for k, v in attributes.items())
        ]

    def clear(self) -> None:
        self.exporter.clear()


def _reset_globals() -> None:
    trace._TRACER_PROVIDER = None  # type: ignore[attr-defined]
    trace._TRACER_PROVIDER_SET_ONCE = Once()  # type: ignore[attr-defined]


@contextmanager
def capture_spans() -> Iterator[Spans]:
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor

    exporter = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "marcus-tests"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    _reset_globals()
    trace.set_tracer_provider(provider)
    try:
        yield Spans(exporter)
    finally:
        provider.shutdown()
        _reset_globals()
        instrumentor = HTTPXClientInstrumentor()
        if instrumentor.is_instrumented_by_opentelemetry:
            instrumentor.uninstrument()
