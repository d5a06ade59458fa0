"""The combined OpenAPI and the AsyncAPI document, built from the code and served by
the gateway: every service's routes and every event stream, group and type are in them."""

from __future__ import annotations

import json
from typing import Any

import httpx

from marcus_contracts import registry, source_of
from scripts import api_docs as builder
from tests.gateway.conftest import Gateway


def _refs(node: Any) -> set[str]:
    if isinstance(node, dict):
        found = {node["$ref"]} if isinstance(node.get("$ref"), str) else set()
        return found.union(*(_refs(value) for value in node.values()))
    if isinstance(node, list):
        return set().union(*(_refs(item) for item in node))
    return set()


async def test_the_gateway_serves_one_openapi_with_every_service_route(
    gateway: Gateway, client: httpx.AsyncClient
) -> None:
    reply = await client.get("/api/v1/openapi.json")
    assert reply.status_code == 200 and reply.headers["content-type"] == "application/json"
    merged = reply.json()
    assert merged["openapi"].startswith("3.1") and merged["info"]["title"] == "Marcus API"
    expected = {}
    for service in ("catalog", "orders", "assistant", "indexer", "scheduler", "notifier"):
        own = builder.service_openapi(service)
        for path, operations in own["paths"].items():
            if path.startswith("/api/v1"):
                expected[path] = (service, set(operations))
    assert set(merged["paths"]) == set(expected)
    for path, (service, methods) in expected.items():
        assert set(merged["paths"][path]) == methods, path
        for operation in merged["paths"][path].values():
            assert operation["x-service"] == service
    schemas = merged["components"]["schemas"]
    for ref in _refs(merged):
        assert ref.removeprefix("#/components/schemas/") in schemas, ref
    assert "HTTPBearer" in merged["components"]["securitySchemes"]

    # Every documented path is routed by the gateway (no "no service routes this path");
    # the rate-limited ones (search, chat) are exercised in test_gateway.py.
    for path in merged["paths"]:
        if path.startswith(("/api/v1/search", "/api/v1/chat")):
            continue
        concrete = path.replace("{", "").replace("}", "")
        probe = await client.request("OPTIONS", concrete)
        assert "no service routes this path" not in probe.text, path

    docs = await client.get("/api/v1/docs")
    assert docs.status_code == 200 and "swagger-ui" in docs.text
    assert "/api/v1/openapi.json" in docs.text


async def test_the_asyncapi_document_covers_every_stream_group_and_event(
    client: httpx.AsyncClient,
) -> None:
    reply = await client.get("/api/v1/asyncapi.json")
    assert reply.status_code == 200
    spec = reply.json()
    assert spec["asyncapi"] == "3.0.0"
    channels = spec["channels"]
    sources = {source_of(t) for t in registry.types()}
    for source in sources:
        assert f"events.{source}:publish" in channels
    # the consumer groups the services really run, and their dead-letter streams
    for stream, group in [
        ("events.catalog", "indexer"),
        ("events.catalog", "orders"),
        ("events.orders", "catalog"),
        ("events.orders", "notifier"),
        ("events.scheduler", "indexer"),
        ("events.indexer", "scheduler"),
    ]:
        assert f"{stream}:{group}" in channels, (stream, group)
        assert f"dlq.{group}:publish" in channels
    text = json.dumps(spec)
    for event_type in registry.types():
        assert f'"const": "{event_type}"' in text or f'"{event_type}"' in text, event_type
    page = await client.get("/api/v1/asyncapi")
    assert page.status_code == 200 and "AsyncApiStandalone" in page.text
