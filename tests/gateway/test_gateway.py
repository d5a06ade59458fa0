"""Through the gateway: every service's routes, the Authorization header, request ids,
traceparent, 413 for oversized bodies, 429 beyond the per-client rate limits, and
problem+json 503 when a service is down. nginx and the services are real processes."""

from __future__ import annotations

import asyncio
import json
import re
import signal

import httpx
import pytest
import redis.asyncio as aioredis

from tests.gateway.conftest import Gateway, token
from tests.support.servers import wait_for

pytestmark = pytest.mark.fault  # starts nginx and the services, kills one

ADMIN = token("ops", "admin")
ALICE = token("alice")
PROBLEM = "application/problem+json"


async def _product(client: httpx.AsyncClient, sku: str, **headers: str) -> dict:
    category = await client.post(
        "/api/v1/categories",
        json={"slug": f"cat-{sku.lower()}", "name": f"Category {sku}"},
        headers=ADMIN,
    )
    assert category.status_code == 201, category.text
    created = await client.post(
        "/api/v1/products",
        json={
            "sku": sku,
            "name": f"Trail tent {sku}",
            "description": "A light tent for two hikers.",
            "price": "199.00",
            "currency": "EUR",
            "category_id": category.json()["id"],
            "stock": 5,
        },
        headers=ADMIN | headers,
    )
    assert created.status_code == 201, created.text
    return created.json()


async def _envelopes(redis_url: str, stream: str) -> list[dict]:
    client = aioredis.from_url(redis_url)
    try:
        return [json.loads(fields[b"event"]) for _, fields in await client.xrange(stream)]
    finally:
        await client.aclose()


async def test_every_service_answers_through_the_gateway(
    gateway: Gateway, client: httpx.AsyncClient
) -> None:
    # catalog: public reads, admin writes
    product = await _product(client, "GW-1")
    assert (await client.get(f"/api/v1/products/{product['id']}")).json()["sku"] == "GW-1"
    listed = await client.get("/api/v1/categories")
    assert listed.status_code == 200 and listed.json()["items"]

    # orders: the customer's own list
    orders = await client.get("/api/v1/orders", headers=ALICE)
    assert orders.status_code == 200, orders.text

    # indexer (admin): wait until the product is in the index (search itself is
    # rate-limited, so it is not polled)
    async def indexed() -> bool:
        reply = await client.get("/api/v1/admin/index", headers=ADMIN)
        status = reply.json() if reply.status_code == 200 else {}
        return bool(status.get("documents")) and status["lag"]["total"] == 0

    await wait_for(indexed, within=60, interval=0.5, what="the product indexed")

    # assistant: search finds it, recommendations and chat answer
    reply = await client.get("/api/v1/search", params={"q": "tent for hikers"})
    assert reply.status_code == 200, reply.text
    assert product["id"] in [hit["product_id"] for hit in reply.json()["results"]]
    recommendations = await client.get(
        "/api/v1/recommendations", params={"product_id": product["id"]}
    )
    assert recommendations.status_code == 200, recommendations.text
    session = await client.post("/api/v1/chat/sessions", json={}, headers=ALICE)
    assert session.status_code == 201, session.text
    mine = await client.get(f"/api/v1/chat/sessions/{session.json()['id']}", headers=ALICE)
    assert mine.status_code == 200, mine.text

    # scheduler: admin endpoints
    jobs = await client.get("/api/v1/admin/jobs", headers=ADMIN)
    assert jobs.status_code == 200, jobs.text
    assert {job["name"] for job in jobs.json()["items"]} >= {"index-rebuild"}

    # anything else under the API: problem+json 404
    missing = await client.get("/api/v1/nothing-here")
    assert missing.status_code == 404 and missing.headers["content-type"] == PROBLEM


async def test_the_authorization_header_reaches_the_services(client: httpx.AsyncClient) -> None:
    for path, headers, expected in [
        ("/api/v1/orders", {}, 401),
        ("/api/v1/orders", ALICE, 200),
        ("/api/v1/admin/index", {}, 401),
        ("/api/v1/admin/index", ALICE, 403),
        ("/api/v1/admin/index", ADMIN, 200),
    ]:
        reply = await client.get(path, headers=headers)
        assert reply.status_code == expected, (path, headers.keys(), reply.text)
    refused = await client.post(
        "/api/v1/categories", json={"slug": "nope", "name": "Nope"}, headers=ALICE
    )
    assert refused.status_code == 403 and refused.headers["content-type"] == PROBLEM


async def test_request_id_and_traceparent_are_forwarded(
    gateway: Gateway, client: httpx.AsyncClient, redis_url: str
) -> None:
    trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"
    traceparent = f"00-{trace_id}-00f067aa0ba902b7-01"
    request_id = "req-gateway-test-0001"
    product = await _product(
        client, "GW-2", **{"X-Request-ID": request_id, "traceparent": traceparent}
    )
    envelopes = await _envelopes(redis_url, f"{gateway.prefix}events.catalog")
    [created] = [
        e
        for e in envelopes
        if e["type"] == "catalog.product.created" and e["subject"] == product["id"]
    ]
    # The service saw both headers: the event names the request and continues the trace.
    assert created["correlationid"] == request_id
    assert created["traceparent"] == traceparent

    # The id comes back; without one the gateway makes one (and the service keeps it).
    echoed = await client.get("/api/v1/categories", headers={"X-Request-ID": request_id})
    assert echoed.headers["x-request-id"] == request_id
    made = await client.get("/api/v1/categories")
    assert re.fullmatch(r"[0-9a-f]{32}", made.headers["x-request-id"])

    # The services log JSON, one object per line, naming the service.
    lines = [json.loads(line) for line in gateway.log_lines("catalog") if line.strip()]
    assert lines and all(line["service"] == "catalog" for line in lines)


async def test_oversized_bodies_get_413_and_change_nothing(client: httpx.AsyncClient) -> None:
    before = (await client.get("/api/v1/categories", params={"limit": 200})).json()["items"]
    body = {"slug": "huge", "name": "Huge", "description": "x" * (2 * 1024 * 1024)}
    reply = await client.post("/api/v1/categories", json=body, headers=ADMIN)
    assert reply.status_code == 413
    assert reply.headers["content-type"] == PROBLEM
    assert reply.json()["status"] == 413
    assert reply.headers["x-request-id"]
    after = (await client.get("/api/v1/categories", params={"limit": 200})).json()["items"]
    assert after == before


async def test_search_and_chat_are_rate_limited_per_client(client: httpx.AsyncClient) -> None:
    # Limits here: search 1/min + burst 5, chat 1/min + burst 4 (tests/gateway/conftest.py).
    searches = await asyncio.gather(
        *(client.get("/api/v1/search", params={"q": f"tent {i}"}) for i in range(12))
    )
    statuses = [reply.status_code for reply in searches]
    assert 429 in statuses, statuses
    assert statuses.count(429) >= 12 - 6 - 1  # at most rate + burst pass (+1 per minute)
    limited = next(reply for reply in searches if reply.status_code == 429)
    assert limited.headers["content-type"] == PROBLEM
    assert limited.headers["retry-after"] == "1"
    assert limited.json()["title"] == "Too Many Requests"

    chats = [
        (await client.post("/api/v1/chat/sessions", json={}, headers=ALICE)).status_code
        for _ in range(8)
    ]
    assert 429 in chats, chats
    # Other routes are not limited.
    assert (await client.get("/api/v1/categories")).status_code == 200


async def test_a_service_that_is_down_is_a_503_problem(
    gateway: Gateway, client: httpx.AsyncClient
) -> None:
    scheduler = gateway.procs["scheduler"]
    scheduler.send_signal(signal.SIGKILL)
    scheduler.wait(10)
    reply = await client.get("/api/v1/admin/jobs", headers=ADMIN)
    assert reply.status_code == 503
    assert reply.headers["content-type"] == PROBLEM
    assert reply.headers["retry-after"] == "2"
    # The others still answer.
    assert (await client.get("/api/v1/categories")).status_code == 200
