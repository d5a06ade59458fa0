"""A service started as a process exports its spans over OTLP/HTTP when
OTEL_EXPORTER_OTLP_ENDPOINT is set: the request's span continues the caller's
traceparent and the relay's publish span is its child, as a collector (Jaeger) gets them.

The collector here is a plain HTTP server that keeps what the real exporter POSTs to
/v1/traces and decodes it with OpenTelemetry's own protobuf definitions.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from marcus_eventstore.migrations import upgrade
from tests.support.auth import admin_headers
from tests.support.servers import free_port, wait_for

pytestmark = pytest.mark.fault  # starts a service process

SECRET = "otlp-tests-secret-0123456789abcdef"
TRACE_ID = "5b8efff798038103d269b633813fc60c"
CALLER_SPAN = "eee19b7ec3c1b174"


class Collector:
    def __init__(self) -> None:
        self.requests: list[ExportTraceServiceRequest] = []
        collector = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if self.path == "/v1/traces":
                    message = ExportTraceServiceRequest()
                    message.ParseFromString(body)
                    collector.requests.append(message)
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def spans(self) -> list[tuple[str, object]]:
        """(service.name, span) of everything received."""
        found = []
        for request in self.requests:
            for resource_spans in request.resource_spans:
                attributes = {
                    a.key: a.value.string_value for a in resource_spans.resource.attributes
                }
                for scope_spans in resource_spans.scope_spans:
                    found.extend((attributes.get("service.name"), s) for s in scope_spans.spans)
        return found


@pytest.fixture
def collector() -> Iterator[Collector]:
    server = Collector()
    thread = threading.Thread(target=server.server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.server.shutdown()
        server.server.server_close()


async def _ready(url: str) -> bool:
    try:
        async with httpx.AsyncClient() as client:
            return (await client.get(f"{url}/readyz")).status_code == 200
    except httpx.TransportError:
        return False


async def test_a_service_process_exports_its_spans_over_otlp(
    database_url, redis_url, stream_prefix, collector: Collector
) -> None:
    upgrade("catalog", database_url)
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "STREAM_PREFIX": stream_prefix,
        "JWT_SECRET": SECRET,
        "RELAY_POLL_INTERVAL": "0.2",
        "CONSUMER_ENABLED": "false",
        "SAGA_ENABLED": "false",
        "OTEL_EXPORTER_OTLP_ENDPOINT": collector.url,
        "OTEL_BSP_SCHEDULE_DELAY": "200",  # export every 200 ms instead of 5 s
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "catalog", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        await wait_for(lambda: _ready(url), within=60, what="catalog ready")
        async with httpx.AsyncClient(base_url=url) as client:
            reply = await client.post(
                "/api/v1/categories",
                json={"slug": "otlp", "name": "OTLP"},
                headers={
                    **admin_headers(secret=SECRET),
                    "traceparent": f"00-{TRACE_ID}-{CALLER_SPAN}-01",
                },
            )
        assert reply.status_code == 201, reply.text

        def exported() -> tuple[object, object] | None:
            spans = collector.spans()
            requests = [s for _, s in spans if s.name == "POST /api/v1/categories"]
            publishes = [s for _, s in spans if s.name.startswith("publish ")]
            return (requests[0], publishes[0]) if requests and publishes else None

        request, publish = await wait_for(exported, within=30, what="spans at the collector")
        assert {name for name, _ in collector.spans()} == {"catalog"}
        assert request.trace_id.hex() == TRACE_ID
        assert request.parent_span_id.hex() == CALLER_SPAN
        assert publish.trace_id.hex() == TRACE_ID
        assert publish.parent_span_id == request.span_id
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(20)
