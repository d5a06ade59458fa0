"""Input at and beyond the limits, over real HTTP to the service processes and through the
gateway: oversized and deeply nested bodies, page sizes beyond the maximum, Unicode edge
cases, SQL injection strings. Each is answered with a clear 4xx (problem+json with a
detail) or handled safely (stored verbatim, returned intact); never a 5xx. After every
refusal nothing changed: the same rows and the same events.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.fuzzing.stack import FuzzStack, bearer

MB = 1024 * 1024
COUNTS = {
    "products": "SELECT count(*) FROM catalog.products",
    "categories": "SELECT count(*) FROM catalog.categories",
    "catalog events": "SELECT count(*) FROM catalog.events",
    "orders": "SELECT count(*) FROM orders.orders",
    "orders events": "SELECT count(*) FROM orders.events",
    "assistant events": "SELECT count(*) FROM assistant.events",
}


def counts(stack: FuzzStack) -> dict[str, int]:
    return stack.counts(COUNTS)


def assert_problem(reply: httpx.Response, *statuses: int) -> dict[str, Any]:
    """A refusal: one of `statuses`, as a problem document that says why."""
    assert reply.status_code in statuses, (reply.status_code, reply.text[:500])
    assert reply.headers["content-type"].startswith("application/problem+json"), reply.headers
    body: dict[str, Any] = reply.json()
    assert body["status"] == reply.status_code
    assert body.get("detail") or body.get("errors"), body
    return body


@pytest.fixture(scope="module")
def catalog(stack: FuzzStack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=stack.urls["catalog"], headers=stack.admin, timeout=30) as http:
        yield http


@pytest.fixture(scope="module")
def category_id(catalog: httpx.Client) -> str:
    created = catalog.post(
        "/api/v1/categories", json={"slug": f"limits-{uuid.uuid4().hex[:8]}", "name": "Limits"}
    )
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


def product(category_id: str, **fields: Any) -> dict[str, Any]:
    return {
        "sku": f"LIM-{uuid.uuid4().hex[:10]}",
        "name": "Limit test",
        "price": "9.99",
        "category_id": category_id,
        "stock": 1,
        **fields,
    }


# --- body size ------------------------------------------------------------------------------


def test_a_body_over_the_limit_is_413_from_the_service_and_changes_nothing(
    stack: FuzzStack, catalog: httpx.Client, category_id: str
) -> None:
    before = counts(stack)
    huge = product(category_id, description="x" * (2 * MB))
    assert_problem(catalog.post("/api/v1/products", json=huge), 413)

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it arrives
        yield b'{"description": "'
        for _ in range(40):
            yield b"y" * 65536
        yield b'"}'

    streamed = catalog.post(
        "/api/v1/products", content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert_problem(streamed, 413)
    assert counts(stack) == before


def test_a_body_over_the_limit_is_413_at_the_gateway(
    stack: FuzzStack, gateway: str, category_id: str
) -> None:
    before = counts(stack)
    with httpx.Client(base_url=gateway, headers=stack.admin, timeout=30) as http:
        reply = http.post("/api/v1/products", json=product(category_id, description="x" * (2 * MB)))
    assert_problem(reply, 413)
    assert counts(stack) == before


# --- nesting --------------------------------------------------------------------------------


@pytest.mark.parametrize("depth", [64, 5_000, 100_000])
def test_deeply_nested_json_is_refused_with_4xx(
    stack: FuzzStack, catalog: httpx.Client, category_id: str, depth: int
) -> None:
    """Attribute values are scalars; nesting deeper than the JSON parser's recursion
    limit is a malformed body (400), never a crash."""
    before = counts(stack)
    nested = "[" * depth + "]" * depth
    body = json.dumps(product(category_id)).replace(
        '"stock": 1', f'"attributes": {{"a": {nested}}}'
    )
    reply = catalog.post(
        "/api/v1/products", content=body, headers={"Content-Type": "application/json"}
    )
    assert_problem(reply, 400, 422)
    chat = httpx.post(
        f"{stack.urls['assistant']}/api/v1/chat/sessions",
        content='{"title": ' + nested + "}",
        headers={**stack.admin, "Content-Type": "application/json"},
        timeout=30,
    )
    assert_problem(chat, 400, 422)
    assert catalog.get("/healthz").status_code == 200
    assert counts(stack) == before


# --- page sizes -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("service", "path", "parameter", "value"),
    [
        ("catalog", "/api/v1/products", "limit", "101"),
        ("catalog", "/api/v1/products", "limit", "0"),
        ("catalog", "/api/v1/products", "limit", str(2**63)),
        ("catalog", "/api/v1/products", "min_price", "1e400"),
        ("orders", "/api/v1/orders", "limit", "1000000"),
        ("assistant", "/api/v1/search?q=tea", "k", "1000000"),
        ("assistant", "/api/v1/search?q=tea", "k", "-1"),
        ("assistant", "/api/v1/recommendations?strategy=popular", "k", str(10**30)),
    ],
)
@pytest.mark.parametrize("via", ["service", "gateway"])
def test_page_sizes_beyond_the_maximum_are_422_naming_the_parameter(
    stack: FuzzStack, service: str, path: str, parameter: str, value: str, via: str
) -> None:
    base = stack.urls[service] if via == "service" else stack.gateway
    if base is None:
        pytest.skip("nginx is not installed")
    separator = "&" if "?" in path else "?"
    reply = httpx.get(
        f"{base}{path}{separator}{parameter}={value}", headers=stack.admin, timeout=30
    )
    body = assert_problem(reply, 422)
    assert any(error["loc"] == ["query", parameter] for error in body["errors"]), body


BIG = [2**63, 2**64, 10**400, -(2**63) - 1]


@pytest.mark.parametrize("number", BIG, ids=["2^63", "2^64", "1e400", "-2^63-1"])
def test_integers_beyond_bigint_are_422_and_change_nothing(
    stack: FuzzStack, catalog: httpx.Client, category_id: str, number: int
) -> None:
    """Counts and quantities that would overflow a PostgreSQL bigint never reach it."""
    before = counts(stack)
    created = catalog.post("/api/v1/products", json=product(category_id, stock=number))
    assert_problem(created, 422)
    existing = catalog.get("/api/v1/products", params={"limit": 1}).json()["items"][0]["id"]
    stock = catalog.put(f"/api/v1/products/{existing}/stock", json={"stock": number})
    assert_problem(stock, 422)
    line = {"product_id": existing, "quantity": number}
    order = httpx.post(
        f"{stack.urls['orders']}/api/v1/orders",
        json={"email": "big@example.com", "lines": [line]},
        headers=stack.admin,
        timeout=30,
    )
    assert_problem(order, 422)
    assert counts(stack) == before


# --- Unicode --------------------------------------------------------------------------------

INTACT = {
    "rtl": "\u05e1\u05e4\u05e8 \u0627\u0644\u0643\u062a\u0627\u0628 \u202eabc\u202c",
    "combining": "e\u0301\u0301\u0301 Z\u0351\u0352\u0353\u0354 \u1100\u1161\u11a8",
    "emoji": "\U0001f6b2\U0001f3fd \U0001f469\u200d\U0001f469\u200d\U0001f467 \U0001f1e9\U0001f1ea",
    "astral": "\U00010348 \U0001d11e \U000e0001",
    "bom and zero width": "\ufeffa\u200bb\u200cc\u200dd\u2060",
}


@pytest.mark.parametrize("text", INTACT.values(), ids=INTACT.keys())
def test_unicode_text_is_stored_and_returned_intact(
    catalog: httpx.Client, category_id: str, text: str
) -> None:
    created = catalog.post(
        "/api/v1/products",
        json=product(category_id, name=f"x{text}x", description=text, attributes={"t": text}),
    )
    assert created.status_code == 201, created.text
    got = catalog.get(f"/api/v1/products/{created.json()['id']}").json()
    assert (got["name"], got["description"], got["attributes"]["t"]) == (f"x{text}x", text, text)


LOOSE_NUMBERS = {"string": "1", "true": True, "float": 1.0, "string float": "1.0"}


@pytest.mark.parametrize("loose", LOOSE_NUMBERS.values(), ids=LOOSE_NUMBERS.keys())
def test_finding_3_loose_integers_are_422_and_change_nothing(
    stack: FuzzStack, catalog: httpx.Client, category_id: str, loose: Any
) -> None:
    """Issue 19, finding 3: a quantity of `"1"` or `true` used to be read as 1."""
    created = catalog.post("/api/v1/products", json=product(category_id, stock=5))
    assert created.status_code == 201, created.text
    product_id = created.json()["id"]
    before = counts(stack)
    order = {"lines": [{"product_id": product_id, "quantity": loose}]}
    placed = httpx.post(
        f"{stack.urls['orders']}/api/v1/orders",
        json={"email": "loose@example.com", **order},
        headers=bearer("fuzz-loose"),
        timeout=30,
    )
    body = assert_problem(placed, 422)
    assert any(e["loc"][-1] == "quantity" for e in body["errors"]), body
    for method, path, document, field in [
        ("POST", "/api/v1/products", product(category_id, stock=loose), "stock"),
        ("PUT", f"/api/v1/products/{product_id}/stock", {"stock": loose}, "stock"),
        ("PATCH", f"/api/v1/products/{product_id}", {"name": "x", "version": loose}, "version"),
    ]:
        body = assert_problem(catalog.request(method, path, json=document), 422)
        assert any(e["loc"][-1] == field for e in body["errors"]), (path, body)
    assert counts(stack) == before
    assert catalog.get(f"/api/v1/products/{product_id}").json()["stock"] == 5


# Raw JSON, because json.dumps would not write a lone surrogate the way a client can.
REFUSED = {
    "NUL": "a\\u0000b",
    "lone high surrogate": "a\\ud800b",
    "lone low surrogate": "a\\udfffb",
    "reversed pair": "\\ude00\\ud83d",
}


ESC = "@ESCAPED@"


def raw(document: dict[str, Any], escaped: str) -> str:
    """`document` as JSON with `escaped` written verbatim where ESC stands."""
    return json.dumps(document).replace(ESC, escaped)


@pytest.mark.parametrize("escaped", REFUSED.values(), ids=REFUSED.keys())
def test_text_that_postgres_cannot_store_is_422_everywhere_and_changes_nothing(
    stack: FuzzStack, catalog: httpx.Client, category_id: str, escaped: str
) -> None:
    before = counts(stack)
    body = raw(product(category_id, name=ESC), escaped)
    json_headers = {**stack.admin, "Content-Type": "application/json"}
    assert_problem(catalog.post("/api/v1/products", content=body, headers=json_headers), 422)
    if stack.gateway:
        through = httpx.post(
            f"{stack.gateway}/api/v1/products", content=body, headers=json_headers, timeout=30
        )
        assert_problem(through, 422)
    category = raw({"slug": "nul-test", "name": "x", "description": ESC}, escaped)
    assert_problem(catalog.post("/api/v1/categories", content=category, headers=json_headers), 422)
    session = httpx.post(
        f"{stack.urls['assistant']}/api/v1/chat/sessions",
        content=raw({"title": ESC}, escaped),
        headers=json_headers,
        timeout=30,
    )
    assert_problem(session, 422)
    line = {"product_id": str(uuid.uuid4()), "quantity": 1}
    order = raw({"email": f"a{ESC}@example.com", "lines": [line]}, escaped)
    placed = httpx.post(
        f"{stack.urls['orders']}/api/v1/orders", content=order, headers=json_headers, timeout=30
    )
    assert_problem(placed, 422)
    decoded = json.loads(f'"{escaped}"')
    for service, path, name in [
        ("catalog", "/api/v1/products", "q"),
        ("catalog", "/api/v1/products", "category"),
        ("assistant", "/api/v1/search", "q"),
    ]:
        reply = httpx.get(
            f"{stack.urls[service]}{path}?{_percent({name: decoded})}",
            headers=stack.admin,
            timeout=30,
        )
        if "\x00" in decoded:
            assert_problem(reply, 422)
        else:  # not UTF-8 in a URL: read as U+FFFD (Starlette), which is safe to search for
            assert reply.status_code == 200, reply.text
    assert counts(stack) == before


# Media types are case-insensitive, and FastAPI parses every one of these as JSON.
MIXED_CASE_JSON = ["application/JSON", "Application/Json", "application/merge-patch+JSON"]


@pytest.mark.parametrize("content_type", MIXED_CASE_JSON)
def test_finding_1_mixed_case_json_content_type_with_nul_is_422_and_changes_nothing(
    stack: FuzzStack, catalog: httpx.Client, content_type: str
) -> None:
    """Issue 19, finding 1: `application/JSON` with a NUL used to reach PostgreSQL (500)."""
    customer = {**bearer("fuzz-mixed-case"), "Content-Type": content_type}
    admin = {**stack.admin, "Content-Type": content_type}
    assistant = httpx.Client(base_url=stack.urls["assistant"], timeout=30)
    with assistant:
        session = assistant.post(
            "/api/v1/chat/sessions", json={"title": "mixed case"}, headers=bearer("fuzz-mixed-case")
        )
        assert session.status_code == 201, session.text
        before = counts(stack)
        for escaped in ("a\\u0000b", "a\\ud800b"):
            title = raw({"title": ESC}, escaped)
            assert_problem(
                assistant.post("/api/v1/chat/sessions", content=title, headers=customer), 422
            )
            message = raw({"content": ESC}, escaped)
            url = f"/api/v1/chat/sessions/{session.json()['id']}/messages"
            assert_problem(assistant.post(url, content=message, headers=customer), 422)
            category = raw({"slug": f"mixed-{uuid.uuid4().hex[:8]}", "name": ESC}, escaped)
            assert_problem(catalog.post("/api/v1/categories", content=category, headers=admin), 422)
            if stack.gateway:
                through = httpx.post(
                    f"{stack.gateway}/api/v1/categories",
                    content=category,
                    headers=admin,
                    timeout=30,
                )
                assert_problem(through, 422)
    assert counts(stack) == before


def _percent(params: dict[str, str]) -> str:
    """Query string with the text's code units as UTF-8 (surrogates too, as a client may)."""
    from urllib.parse import quote

    return "&".join(
        f"{key}={quote(value.encode('utf-8', 'surrogatepass'))}" for key, value in params.items()
    )


# --- SQL injection --------------------------------------------------------------------------

INJECTIONS = [
    "'; DROP TABLE catalog.products; --",
    '" OR 1=1 --',
    "x' UNION SELECT id, sku, name FROM catalog.products --",
    "%' OR '%'='",
    "\\'; SELECT pg_sleep(0); --",
    "_%",
]


@pytest.mark.parametrize("text", INJECTIONS)
def test_sql_injection_strings_are_data(
    stack: FuzzStack, catalog: httpx.Client, category_id: str, text: str
) -> None:
    """Stored verbatim, found only as text, and no other row is touched or returned."""
    products_before = stack.count("SELECT count(*) FROM catalog.products")
    created = catalog.post(
        "/api/v1/products", json=product(category_id, name=text, description=text)
    )
    assert created.status_code == 201, created.text
    assert created.json()["name"] == text.strip()
    assert stack.count("SELECT count(*) FROM catalog.products") == products_before + 1
    found = catalog.get("/api/v1/products", params={"q": text, "limit": 100})
    assert found.status_code == 200, found.text
    names = [item["name"] for item in found.json()["items"]]
    assert text.strip() in names
    assert all(
        text.strip() in name or text.strip() in item_text(item)
        for item, name in zip(found.json()["items"], names, strict=True)
    )
    by_category = catalog.get("/api/v1/products", params={"category": text})
    assert by_category.status_code in (200, 422), by_category.text
    if by_category.status_code == 200:
        assert by_category.json()["items"] == []
    search = httpx.get(f"{stack.urls['assistant']}/api/v1/search", params={"q": text}, timeout=30)
    assert search.status_code == 200, search.text


def item_text(item: dict[str, Any]) -> str:
    return f"{item['name']} {item['description']} {item['sku']}"
