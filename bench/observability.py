"""`make bench-observability`: what tracing and structured logs cost, tracing off and on.

CPU-bound paths measured in this one process, interleaved over `--rounds`, medians:

- handler: a consumer handler called directly, through the runtime's wrapper
  (`marcus_messaging.tracing.traced`) with tracing off (log context only), and on (a
  CONSUMER span continuing the envelope's traceparent, exported to nowhere);
- request: a request through a service app's whole middleware stack (request id,
  metrics, problem handlers; with tracing on also the FastAPI SERVER span), in-process
  over ASGI, on a route that touches no database; tracing off vs on;
- log line: formatting one record with the stdlib formatter vs the JSON formatter
  (ids + redaction).

Spans go to a BatchSpanProcessor with an exporter that drops them, so the numbers are
the instrumentation's cost, not an exporter's. Results: bench/results/observability-
<timestamp>.json and .md with the machine, versions and command. The machine is shared
and noisy: compare ratios within one run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import statistics
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.machine import add_out_argument, command, machine, result_path

RESULTS = Path(__file__).resolve().parent / "results"


# ------------------------------------------------------------------- tracing switch
class _Drop:
    """A span exporter that keeps nothing (the cost measured is the instrumentation's)."""

    def export(self, spans: Sequence[Any]) -> Any:
        from opentelemetry.sdk.trace.export import SpanExportResult

        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        return None

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


def tracing(on: bool) -> None:
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor
    from opentelemetry.util._once import Once

    trace._TRACER_PROVIDER = None  # type: ignore[attr-defined]
    trace._TRACER_PROVIDER_SET_ONCE = Once()  # type: ignore[attr-defined]
    if on:
        provider = TracerProvider()
        provider.add_span_processor(BatchSpanProcessor(_Drop()))  # type: ignore[arg-type]
        trace.set_tracer_provider(provider)


# ------------------------------------------------------------------------- paths
async def per_call(fn: Callable[[], Awaitable[Any]], n: int) -> float:
    """Microseconds per awaited call."""
    started = time.perf_counter()
    for _ in range(n):
        await fn()
    return (time.perf_counter() - started) / n * 1e6


def handler_paths() -> dict[str, Callable[[], Awaitable[Any]]]:
    from marcus_contracts import registry
    from marcus_contracts.events.catalog import CategoryCreated
    from marcus_messaging import HandlerContext
    from marcus_messaging.tracing import traced

    category = uuid.uuid4()
    envelope = registry.envelope(
        CategoryCreated(category_id=category, slug="s", name="n"),
        subject=str(category),
        sequence=1,
        traceparent="00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
    )
    ctx = HandlerContext(
        event=registry.decode(envelope),
        envelope=envelope,
        session=None,  # type: ignore[arg-type]
        guard=None,  # type: ignore[arg-type]
        stream="events.catalog",
        entry_id="1-0",
        deliveries=1,
    )

    async def handler(ctx: HandlerContext) -> None:
        return None

    wrapped = traced(handler, "bench")
    return {"direct": lambda: handler(ctx), "wrapped": lambda: wrapped(ctx)}


def make_app() -> Any:
    from fastapi import APIRouter

    from marcus_web.app import create_service_app
    from marcus_web.settings import ServiceSettings

    router = APIRouter(prefix="/api/v1")

    @router.get("/ping/{item}")
    async def ping(item: str) -> dict[str, str]:
        return {"item": item}

    return create_service_app(
        ServiceSettings(relay_enabled=False),
        service="bench",
        title="bench",
        description="bench",
        routers=[router],
        relay=False,
    )


def request_path(app: Any) -> tuple[Callable[[], Awaitable[Any]], Any]:
    import httpx

    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bench")

    async def call() -> None:
        reply = await client.get("/api/v1/ping/42", headers={"X-Request-ID": "bench-1"})
        assert reply.status_code == 200

    return call, client


def log_line_cost(n: int) -> dict[str, float]:
    from marcus_telemetry import JsonFormatter, bound_request

    record = logging.LogRecord(
        "marcus.bench",
        logging.INFO,
        __file__,
        1,
        "order %s confirmed for %s",
        ("42", "alice"),
        None,
    )
    results = {}
    for name, formatter in (
        ("stdlib", logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s")),
        ("json", JsonFormatter("bench")),
    ):
        with bound_request("req-1"):
            started = time.perf_counter()
            for _ in range(n):
                formatter.format(record)
            results[name] = (time.perf_counter() - started) / n * 1e6
    return results


# -------------------------------------------------------------------------- run
async def run(rounds: int, calls: int, requests: int) -> dict[str, Any]:
    logging.disable(logging.WARNING)
    samples: dict[str, list[float]] = {
        "handler_direct_us": [],
        "handler_wrapped_off_us": [],
        "handler_wrapped_on_us": [],
        "request_off_us": [],
        "request_on_us": [],
        "log_stdlib_us": [],
        "log_json_us": [],
    }
    paths = handler_paths()
    tracing(False)
    app_off = make_app()
    tracing(True)
    app_on = make_app()  # instrumented: the provider is installed at creation
    call_off, client_off = request_path(app_off)
    call_on, client_on = request_path(app_on)
    for _ in range(rounds):
        tracing(False)
        samples["handler_direct_us"].append(await per_call(paths["direct"], calls))
        samples["handler_wrapped_off_us"].append(await per_call(paths["wrapped"], calls))
        samples["request_off_us"].append(await per_call(call_off, requests))
        tracing(True)
        samples["handler_wrapped_on_us"].append(await per_call(paths["wrapped"], calls))
        samples["request_on_us"].append(await per_call(call_on, requests))
        logs = log_line_cost(calls)
        samples["log_stdlib_us"].append(logs["stdlib"])
        samples["log_json_us"].append(logs["json"])
    tracing(False)
    await client_off.aclose()
    await client_on.aclose()
    medians = {name: statistics.median(values) for name, values in samples.items()}
    ratios = {
        "handler_wrapper_off_added_us": medians["handler_wrapped_off_us"]
        - medians["handler_direct_us"],
        "handler_wrapper_on_added_us": medians["handler_wrapped_on_us"]
        - medians["handler_direct_us"],
        "request_on_vs_off": medians["request_on_us"] / medians["request_off_us"],
        "log_json_vs_stdlib": medians["log_json_us"] / medians["log_stdlib_us"],
    }
    return {"medians": medians, "derived": ratios, "samples": samples}


OTEL_PACKAGES = ("opentelemetry-sdk", "opentelemetry-instrumentation-fastapi", "httpx")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.observability")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--calls", type=int, default=20000, help="handler calls / log lines")
    parser.add_argument("--requests", type=int, default=2000, help="HTTP requests per round")
    add_out_argument(parser)
    args = parser.parse_args(argv)
    os.environ.pop("OTEL_EXPORTER_OTLP_ENDPOINT", None)
    result = asyncio.run(run(args.rounds, args.calls, args.requests))
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    report = {
        "bench": "observability",
        "time": stamp,
        "command": command("bench.observability", argv),
        "machine": machine(packages=OTEL_PACKAGES),
        "parameters": vars(args),
        **result,
    }
    out = result_path("observability", args.out)
    out.write_text(json.dumps(report, indent=2) + "\n")
    m, d = result["medians"], result["derived"]
    summary = f"""# Observability overhead ({stamp})

`{report["command"]}` on {report["machine"]["platform"]}, Python {report["machine"]["python"]},
{report["machine"]["cores"]} CPUs (shared, noisy); medians of {args.rounds} interleaved rounds.

| Path | tracing off | tracing on |
|---|---|---|
| consumer handler, direct call | {m["handler_direct_us"]:.2f} µs | |
| consumer handler through the runtime's wrapper | {m["handler_wrapped_off_us"]:.2f} µs (+{d["handler_wrapper_off_added_us"]:.2f}) | {m["handler_wrapped_on_us"]:.2f} µs (+{d["handler_wrapper_on_added_us"]:.2f}) |
| HTTP request through the service middleware (ASGI, no DB) | {m["request_off_us"]:.0f} µs | {m["request_on_us"]:.0f} µs (x{d["request_on_vs_off"]:.2f}) |

One log line: stdlib formatter {m["log_stdlib_us"]:.2f} µs, JSON formatter with ids and
redaction {m["log_json_us"]:.2f} µs (x{d["log_json_vs_stdlib"]:.2f}).

With tracing off, a consumed event pays the wrapper's context-variable binding only; the
relay selects no extra columns and creates no span. Versions: {report["machine"]["packages"]}.
"""
    out.with_suffix(".md").write_text(summary)
    print(summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
