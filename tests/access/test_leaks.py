"""No endpoint leaks another customer's data: listings (every page), single orders and
chat sessions, attempts to act on another's order or session (nothing changes), and
tokens forged in more ways than the matrix's columns.

Another customer's order or session is a 404 shaped exactly like one that does not
exist, so a 404 tells nothing about someone else's ids (docs/access.md).
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import httpx
import jwt
import pytest
from jwt.utils import base64url_encode

from marcus_web.auth import mint_token
from services.orders.tests.stack import SECRET
from tests.access.matrix import ADMIN, CUSTOMER_A, CUSTOMER_B
from tests.access.world import Running, Tokens, World, event_counts

pytestmark = pytest.mark.timeout(900)  # the first test starts the stack: 7 processes


async def _listing(client: httpx.AsyncClient, headers: dict[str, str]) -> list[dict[str, Any]]:
    """Every page of GET /orders, one order per page."""
    items: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        params = {"limit": "1"} | ({"cursor": cursor} if cursor else {})
        page = await client.get("/api/v1/orders", params=params, headers=headers)
        assert page.status_code == 200, page.text
        items += page.json()["items"]
        cursor = page.json()["next_cursor"]
        if cursor is None:
            return items


def _without_ids(body: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in body.items() if k not in ("detail", "instance")}


async def test_each_listing_shows_only_its_customers_orders(
    running: Running, tokens: Tokens, world: World
) -> None:
    async with httpx.AsyncClient(base_url=running.services["orders"], timeout=30) as orders:
        a = await _listing(orders, tokens.headers[CUSTOMER_A])
        b = await _listing(orders, tokens.headers[CUSTOMER_B])
        admin = await _listing(orders, tokens.headers[ADMIN])
        assert {o["id"] for o in a} == world.orders_of_a
        assert {o["email"] for o in a} == {tokens.email(tokens.a)}
        assert {o["id"] for o in b} == {world.order_b}
        assert admin == []  # "your orders": the admin's own, not everyone's

        # A's cursor, replayed by B, pages through B's orders only.
        first = await orders.get(
            "/api/v1/orders", params={"limit": "1"}, headers=tokens.headers[CUSTOMER_A]
        )
        cursor = first.json()["next_cursor"]
        replayed = await orders.get(
            "/api/v1/orders", params={"cursor": cursor}, headers=tokens.headers[CUSTOMER_B]
        )
        assert replayed.status_code == 200
        assert {o["id"] for o in replayed.json()["items"]} <= {world.order_b}


async def test_another_customers_order_is_like_one_that_does_not_exist(
    running: Running, tokens: Tokens, world: World
) -> None:
    async with httpx.AsyncClient(base_url=running.services["orders"], timeout=30) as orders:
        for headers, order in (
            (tokens.headers[CUSTOMER_A], world.order_b),
            (tokens.headers[CUSTOMER_B], world.order_a),
        ):
            theirs = await orders.get(f"/api/v1/orders/{order}", headers=headers)
            nobodys = await orders.get(f"/api/v1/orders/{uuid.uuid4()}", headers=headers)
            assert theirs.status_code == nobodys.status_code == 404
            assert _without_ids(theirs.json()) == _without_ids(nobodys.json())
            assert theirs.json()["detail"] == f"order {order} does not exist"

        before = await event_counts(running.engine)
        cancel = await orders.post(
            f"/api/v1/orders/{world.order_b}/cancel", headers=tokens.headers[CUSTOMER_A]
        )
        assert cancel.status_code == 404
        assert await event_counts(running.engine) == before
        b_order = await orders.get(
            f"/api/v1/orders/{world.order_b}", headers=tokens.headers[CUSTOMER_B]
        )
        assert b_order.json()["status"] == "confirmed"


async def test_another_customers_chat_session_is_closed_both_ways(
    running: Running, tokens: Tokens, world: World
) -> None:
    async with httpx.AsyncClient(base_url=running.services["assistant"], timeout=60) as chat:
        for headers, session, owner in (
            (tokens.headers[CUSTOMER_A], world.session_b, tokens.headers[CUSTOMER_B]),
            (tokens.headers[CUSTOMER_B], world.session_a, tokens.headers[CUSTOMER_A]),
        ):
            url = f"/api/v1/chat/sessions/{session}"
            before = (await chat.get(url, headers=owner)).json()
            read = await chat.get(url, headers=headers)
            nobodys = await chat.get(f"/api/v1/chat/sessions/{uuid.uuid4()}", headers=headers)
            assert read.status_code == nobodys.status_code == 404
            assert _without_ids(read.json()) == _without_ids(nobodys.json())
            for accept in ("application/json", "text/event-stream"):
                post = await chat.post(
                    f"{url}/messages", json={"content": "hi"}, headers=headers | {"Accept": accept}
                )
                assert post.status_code == 404, accept
                assert post.headers["content-type"].startswith("application/problem+json")
            assert (await chat.get(url, headers=owner)).json() == before


def _forged(claims: dict[str, Any], **change: Any) -> dict[str, str]:
    return {"Authorization": f"Bearer {jwt.encode(claims | change, SECRET, algorithm='HS256')}"}


async def test_tokens_forged_in_other_ways_are_refused(
    running: Running, tokens: Tokens, world: World
) -> None:
    now = int(time.time())
    claims = {"sub": tokens.a, "roles": ["admin"], "iat": now, "exp": now + 600}
    customer = mint_token(tokens.a, [], secret=SECRET)
    header, _, signature = customer.split(".")
    payload = base64url_encode(json.dumps(claims, separators=(",", ":")).encode()).decode()
    forged = {
        "no exp": {"Authorization": f"Bearer {jwt.encode({'sub': tokens.a}, SECRET)}"},
        "no sub": _forged({"roles": ["admin"], "exp": now + 600}),
        "not yet valid": _forged(claims, nbf=now + 600),
        "HS512": {
            "Authorization": f"Bearer {jwt.encode(claims, SECRET + SECRET, algorithm='HS512')}"
        },
        "admin role pasted into a customer's token": {
            "Authorization": f"Bearer {header}.{payload}.{signature}"
        },
        "Basic scheme": {"Authorization": "Basic YWRtaW46YWRtaW4="},
        "token without scheme": {"Authorization": customer},
    }
    async with httpx.AsyncClient(base_url=running.services["orders"], timeout=30) as orders:
        for name, headers in forged.items():
            answer = await orders.get(f"/api/v1/orders/{world.order_b}", headers=headers)
            assert answer.status_code == 401, f"{name}: {answer.text}"
            assert answer.headers["content-type"].startswith("application/problem+json")
            assert tokens.b not in answer.text
