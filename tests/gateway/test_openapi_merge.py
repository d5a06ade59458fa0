"""Unit tests of the OpenAPI merge (pure logic: no services, no gateway)."""

from __future__ import annotations

import pytest

from scripts.api_docs import merge_openapi


def _doc(path: str, schema_name: str, schema: dict) -> dict:
    return {
        "openapi": "3.1.0",
        "info": {"title": "x", "version": "1", "description": "a service"},
        "paths": {
            path: {
                "get": {
                    "responses": {
                        "200": {
                            "content": {
                                "application/json": {
                                    "schema": {"$ref": f"#/components/schemas/{schema_name}"}
                                }
                            }
                        }
                    }
                }
            },
            "/healthz": {"get": {}},
        },
        "components": {"schemas": {schema_name: schema}},
    }


def test_same_named_schemas_that_differ_are_prefixed_and_refs_follow() -> None:
    page_a = {"type": "object", "properties": {"items": {"type": "array"}}}
    page_b = {"type": "object", "properties": {"results": {"type": "array"}}}
    merged = merge_openapi(
        {
            "catalog": _doc("/api/v1/products", "Page", page_a),
            "orders": _doc("/api/v1/orders", "Page", page_b),
        }
    )
    schemas = merged["components"]["schemas"]
    assert schemas["Page"] == page_a and schemas["OrdersPage"] == page_b
    ref = merged["paths"]["/api/v1/orders"]["get"]["responses"]["200"]["content"][
        "application/json"
    ]["schema"]["$ref"]
    assert ref == "#/components/schemas/OrdersPage"
    assert merged["paths"]["/api/v1/products"]["get"]["x-service"] == "catalog"
    assert "/healthz" not in merged["paths"]


def test_identical_schemas_are_shared() -> None:
    same = {"type": "string"}
    merged = merge_openapi(
        {"catalog": _doc("/api/v1/a", "Id", same), "orders": _doc("/api/v1/b", "Id", same)}
    )
    assert list(merged["components"]["schemas"]) == ["Id"]


def test_a_path_served_by_two_services_is_refused() -> None:
    with pytest.raises(ValueError, match="two services"):
        merge_openapi({"catalog": _doc("/api/v1/x", "A", {}), "orders": _doc("/api/v1/x", "B", {})})


def test_a_route_outside_the_api_prefix_is_refused() -> None:
    with pytest.raises(ValueError, match="outside /api/v1"):
        merge_openapi({"catalog": _doc("/internal/x", "A", {})})
