"""The access matrix sent as real HTTP: every endpoint the services' OpenAPI documents
list, as every kind of caller, directly and through the gateway.

Order matters and is the file's order: refusals and reads first (each refused write
checked to have stored no event anywhere), then the same through nginx, then the
accepted writes. A refusal is problem+json with a detail.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.access.calls import call, changes_state
from tests.access.matrix import (
    ADMIN,
    API,
    CUSTOMER_A,
    CUSTOMER_B,
    DOC,
    GATEWAY,
    MATRIX,
    PRINCIPALS,
    PROBES,
    Endpoint,
    documented,
    public,
    render,
)
from tests.access.world import SERVICES, Running, Tokens, World, event_counts

pytestmark = pytest.mark.timeout(900)  # the first test starts the stack: 7 processes

PROBLEM = "application/problem+json"
UNCHANGING = sum(
    not changes_state(endpoint, status) for endpoint, row in API.items() for status in row.values()
)
"""Cells sent with the reads: refusals, reads and quotes."""
OPENAPI_PROBES = {("GET", "/healthz"), ("GET", "/readyz")}
"""The probes FastAPI lists in each service's document (the others are served, unlisted)."""


async def _openapi(url: str) -> dict[str, Any]:
    async with httpx.AsyncClient(timeout=30) as client:
        answer = await client.get(f"{url}/openapi.json")
    assert answer.status_code == 200
    document: dict[str, Any] = answer.json()
    return document


def _operations(document: dict[str, Any]) -> dict[Endpoint, dict[str, Any]]:
    return {
        (method.upper(), path): operation
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if method in ("get", "post", "put", "patch", "delete")
    }


async def test_every_endpoint_has_a_row(running: Running) -> None:
    served: dict[Endpoint, str] = {}
    for service, url in running.services.items():
        operations = _operations(await _openapi(url))
        assert operations.keys() >= OPENAPI_PROBES, service
        for endpoint, operation in operations.items():
            if endpoint in OPENAPI_PROBES:
                continue
            assert endpoint not in served, f"{endpoint} served by {served.get(endpoint)} too"
            served[endpoint] = service
            # The documents say what the matrix says: public rows need no token.
            needs_token = bool(operation.get("security"))
            assert needs_token == (API.get(endpoint) != public()), endpoint
    missing = sorted(set(served) - set(API))
    assert not missing, f"endpoints with no row in tests/access/matrix.py: {missing}"
    stale = sorted(set(API) - set(served))
    assert not stale, f"rows for endpoints no service serves: {stale}"


def test_the_doc_table_is_the_matrix() -> None:
    assert documented(DOC.read_text()) == render(), (
        "docs/access.md is out of date: python -m tests.access.matrix --write"
    )


def _assert_refusal(response: httpx.Response, status: int) -> None:
    assert response.headers["content-type"].startswith(PROBLEM), response.text
    body = response.json()
    assert body["status"] == status and body.get("detail"), body
    if status == 401:
        assert response.headers["www-authenticate"].startswith("Bearer")


def _assert_no_other_customer(
    response: httpx.Response, principal: str, tokens: Tokens, where: str
) -> None:
    """No answer names a customer (id or e-mail) other than the caller, unless the
    caller is the admin. Forged tokens claim customer A: they must not see A either."""
    if principal == ADMIN:
        return
    own = {CUSTOMER_A: tokens.a, CUSTOMER_B: tokens.b}.get(principal)
    for subject in {tokens.a, tokens.b} - {own}:
        assert subject not in response.text, f"{subject} leaked: {where}"


async def _send(
    client: httpx.AsyncClient,
    base: str,
    endpoint: Endpoint,
    principal: str,
    world: World,
    tokens: Tokens,
) -> httpx.Response:
    method, _ = endpoint
    request = call(endpoint, world)
    return await client.request(
        method,
        request.url(base),
        json=request.json,
        params=request.params,
        headers=tokens.headers[principal],
    )


async def _refusals_and_reads(
    running: Running, tokens: Tokens, world: World, base_of: dict[str, str]
) -> int:
    """Sends every cell that must change nothing; returns how many were sent."""
    sent = 0
    async with httpx.AsyncClient(timeout=60) as client:
        for endpoint, expected in API.items():
            method, _ = endpoint
            base = base_of[call(endpoint, world).service]
            for principal, status in expected.items():
                if changes_state(endpoint, status):
                    continue
                before = await event_counts(running.engine) if method != "GET" else None
                response = await _send(client, base, endpoint, principal, world, tokens)
                where = f"{endpoint} as {principal}: {response.text[:300]}"
                assert response.status_code == status, where
                if status >= 400:
                    _assert_refusal(response, status)
                if before is not None:
                    assert await event_counts(running.engine) == before, where
                _assert_no_other_customer(response, principal, tokens, where)
                sent += 1
    return sent


async def test_refusals_and_reads_direct(running: Running, tokens: Tokens, world: World) -> None:
    sent = await _refusals_and_reads(running, tokens, world, running.services)
    assert sent == UNCHANGING


async def test_refusals_and_reads_through_the_gateway(
    running: Running, tokens: Tokens, world: World
) -> None:
    """nginx passes Authorization untouched: every outcome is the same as direct."""
    via_gateway = dict.fromkeys(running.services, running.gateway)
    sent = await _refusals_and_reads(running, tokens, world, via_gateway)
    assert sent == UNCHANGING


@pytest.mark.parametrize("service", SERVICES)
async def test_probes_on_each_service(running: Running, tokens: Tokens, service: str) -> None:
    async with httpx.AsyncClient(base_url=running.services[service], timeout=30) as client:
        for (method, path), expected in PROBES.items():
            for principal, status in expected.items():
                response = await client.request(method, path, headers=tokens.headers[principal])
                assert response.status_code == status, (service, path, principal)
                assert tokens.a not in response.text and tokens.b not in response.text, path


async def test_what_the_gateway_answers_itself(running: Running) -> None:
    async with httpx.AsyncClient(base_url=running.gateway, timeout=30) as client:
        for (method, path), status in GATEWAY.items():
            response = await client.request(method, path)
            assert response.status_code == status, path
            if status >= 400:
                _assert_refusal(response, status)


async def test_accepted_writes(running: Running, tokens: Tokens, world: World) -> None:
    """Last: the writes each caller may make succeed (in matrix order)."""
    async with httpx.AsyncClient(timeout=60) as client:
        for endpoint, expected in API.items():
            base = running.services[call(endpoint, world).service]
            for principal in PRINCIPALS:
                status = expected[principal]
                if not changes_state(endpoint, status):
                    continue
                response = await _send(client, base, endpoint, principal, world, tokens)
                assert response.status_code == status, (
                    f"{endpoint} as {principal}: {response.text[:300]}"
                )


def test_the_matrix_covers_every_principal() -> None:
    for endpoint, expected in MATRIX.items():
        assert list(expected) == list(PRINCIPALS), endpoint


async def test_an_idempotency_key_is_the_customers_own(
    running: Running, tokens: Tokens, world: World
) -> None:
    """B sending A's Idempotency-Key with A's very body gets an order of B's own, never a
    replay of A's (a key is looked up per customer). A write: after the matrix."""
    body = {"email": "same@example.com", "lines": [{"product_id": world.product_id, "quantity": 1}]}
    key = {"Idempotency-Key": f"key-{tokens.a}"}
    async with httpx.AsyncClient(base_url=running.services["orders"], timeout=30) as orders:
        a = await orders.post("/api/v1/orders", json=body, headers=tokens.headers[CUSTOMER_A] | key)
        b = await orders.post("/api/v1/orders", json=body, headers=tokens.headers[CUSTOMER_B] | key)
        again = await orders.post(
            "/api/v1/orders", json=body, headers=tokens.headers[CUSTOMER_A] | key
        )
    assert (a.status_code, b.status_code, again.status_code) == (201, 201, 200)
    assert b.json()["id"] != a.json()["id"] and again.json()["id"] == a.json()["id"]
    assert "idempotent-replayed" not in b.headers
