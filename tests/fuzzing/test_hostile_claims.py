"""Hostile claims (issue 19, finding 2): tokens signed with the services' own secret whose
claims are not storable or not of the right type. A signature proves who issued a token,
not that its claims are sane: each is refused with 401 (problem+json naming the claim) by
every service that reads a caller, directly and through the gateway, and nothing is stored.
A token from the future by less than the leeway (finding 4) is accepted.
"""

from __future__ import annotations

import time
from typing import Any

import httpx
import jwt
import pytest

from tests.fuzzing.stack import SECRET, FuzzStack
from tests.fuzzing.test_input_limits import assert_problem, counts

HOSTILE = {
    "NUL in sub": {"sub": "mallory\x00"},
    "escape sequence in sub": {"sub": "mallory\x1b[2J"},
    "lone surrogate in sub": {"sub": "mallory\ud800"},
    "empty sub": {"sub": ""},
    "overlong sub": {"sub": "m" * 1_000},  # over 255; a bigger header is nginx's 400
    "sub as a number": {"sub": 42},
    "sub as a list": {"sub": ["mallory"]},
    "NUL in a role": {"sub": "mallory", "roles": ["admin\x00"]},
    "role as an object": {"sub": "mallory", "roles": [{"name": "admin"}]},
    "NUL in email": {"sub": "mallory", "email": "m\x00@example.com"},
    "email that is not one": {"sub": "mallory", "email": "'; DROP TABLE x; --"},
}

CALLS = [
    ("assistant", "POST", "/api/v1/chat/sessions", {"title": "hostile"}),
    ("orders", "GET", "/api/v1/orders", None),
    ("orders", "POST", "/api/v1/orders", {"lines": [{"product_id": "x", "quantity": 1}]}),
    ("catalog", "POST", "/api/v1/categories", {"slug": "hostile", "name": "Hostile"}),
]


def signed(claims: dict[str, Any], *, issued_at: int | None = None) -> dict[str, str]:
    now = int(time.time()) if issued_at is None else issued_at
    token = jwt.encode({**claims, "iat": now, "exp": now + 300}, SECRET, algorithm="HS256")
    return {"Authorization": f"Bearer {token}"}


@pytest.mark.parametrize("claims", HOSTILE.values(), ids=HOSTILE.keys())
def test_finding_2_hostile_claims_are_401_everywhere_and_store_nothing(
    stack: FuzzStack, claims: dict[str, Any]
) -> None:
    before = counts(stack)
    headers = signed(claims)
    for service, method, path, body in CALLS:
        reply = httpx.request(
            method, f"{stack.urls[service]}{path}", json=body, headers=headers, timeout=30
        )
        problem = assert_problem(reply, 401)
        assert "claim" in problem["detail"] or "Subject" in problem["detail"], problem
        assert reply.headers["www-authenticate"].startswith("Bearer")
        if stack.gateway:
            through = httpx.request(
                method, f"{stack.gateway}{path}", json=body, headers=headers, timeout=30
            )
            assert_problem(through, 401)
    assert counts(stack) == before


def test_finding_4_a_token_issued_two_seconds_ahead_is_accepted(stack: FuzzStack) -> None:
    ahead = signed({"sub": "fuzz-skewed"}, issued_at=int(time.time()) + 2)
    reply = httpx.get(f"{stack.urls['orders']}/api/v1/orders", headers=ahead, timeout=30)
    assert reply.status_code == 200, reply.text
