"""A concrete request for every matrix row: which service answers it, the real ids its
path parameters take from the world, and a valid body (so that what decides the
status is who is calling, never a malformed request)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from tests.access.matrix import API, OPERATED, PRODUCT, Endpoint
from tests.access.world import World

READ_ONLY = {("POST", f"{PRODUCT}/quote")}
"""POSTs that change nothing: refused or accepted, they run with the reads."""


@dataclass
class Call:
    service: str
    path: str
    json: Any = None
    params: dict[str, str] = field(default_factory=dict)

    def url(self, base: str) -> str:
        return f"{base}{self.path}"


def service_of(path: str) -> str:
    parts = path.split("/")
    if path.startswith("/api/v1/admin/") and parts[4] in OPERATED:
        return parts[4]
    if path.startswith(("/api/v1/categories", "/api/v1/products")):
        return "catalog"
    if path.startswith(("/api/v1/orders", "/api/v1/cart")):
        return "orders"
    if path.startswith(("/api/v1/search", "/api/v1/recommendations", "/api/v1/chat")):
        return "assistant"
    if path.startswith("/api/v1/admin/index"):
        return "indexer"
    if path.startswith("/api/v1/admin/jobs"):
        return "scheduler"
    raise KeyError(f"no service for {path}")


def _params(endpoint: Endpoint, w: World) -> dict[str, str]:
    """Path parameter -> the real id this row is sent with."""
    method, path = endpoint
    configurator = path.startswith(f"{PRODUCT}/") and not path.endswith("/stock")
    deleting = method == "DELETE"
    product = w.kit_id if configurator else w.product_id
    if path == PRODUCT and deleting:
        product = w.victim_product_id
    rule = w.rule_id
    if "/price-rules/" in path:
        rule = w.victim_price_rule_id if deleting else w.price_rule_id
    elif deleting:
        rule = w.victim_rule_id
    order = w.order_a
    if path.endswith("/cancel"):
        order = w.order_a_cancel
    elif path.endswith(("/ship", "/deliver")):
        order = w.order_a_ship
    letters = w.dead_letters.get(service_of(path), ("", ""))
    return {
        "entry_id": letters[1] if deleting else letters[0],
        "category_id": w.category_id,
        "product_id": product,
        "part_id": w.victim_part_id if deleting else w.part_id,
        "option_id": w.options["Doomed"] if deleting else w.options["Beta"],
        "rule_id": rule,
        "order_id": order,
        "session_id": w.session_a,
        "action_id": w.action_a,
        "run_id": w.run_id,
        "name": w.job,
        "line_id": w.line_a_victim if deleting else w.line_a,
    }


def _body(endpoint: Endpoint, w: World) -> Any:
    unique = uuid.uuid4().hex[:8]
    o = w.options
    bodies: dict[Endpoint, Any] = {
        ("POST", "/api/v1/categories"): {"slug": f"new-{unique}", "name": "New"},
        ("PATCH", "/api/v1/categories/{category_id}"): {"name": "Access kits"},
        ("POST", "/api/v1/products"): {
            "sku": f"NEW-{unique}",
            "name": "New lamp",
            "price": "3.00",
            "currency": "EUR",
            "category_id": w.category_id,
            "stock": 1,
        },
        ("PATCH", PRODUCT): {"name": "Access lamp, renamed"},
        ("PUT", f"{PRODUCT}/stock"): {"stock": 900, "reason": "count"},
        ("POST", f"{PRODUCT}/parts"): {"name": f"Part {unique}", "required": False},
        ("PATCH", f"{PRODUCT}/parts/{{part_id}}"): {"description": "The frame"},
        ("POST", f"{PRODUCT}/parts/{{part_id}}/options"): {
            "name": f"Gamma {unique}",
            "price": "1.00",
        },
        ("PATCH", f"{PRODUCT}/options/{{option_id}}"): {"price": "11.00"},
        ("POST", f"{PRODUCT}/incompatibilities"): {
            "option_ids": [o["Alpha"], o["Blue"]],
            "message": "Alpha vs Blue",
        },
        ("PATCH", f"{PRODUCT}/incompatibilities/{{rule_id}}"): {"message": "Not together"},
        ("POST", f"{PRODUCT}/price-rules"): {
            "option_id": o["Red"],
            "when_option_id": o["Beta"],
            "price": "4.00",
        },
        ("PATCH", f"{PRODUCT}/price-rules/{{rule_id}}"): {"price": "6.00"},
        ("POST", f"{PRODUCT}/quote"): {"options": [o["Beta"], o["Red"]], "quantity": 1},
        ("POST", "/api/v1/orders"): {
            "email": "buyer@example.com",
            "lines": [{"product_id": w.product_id, "quantity": 1}],
        },
        ("POST", "/api/v1/cart/lines"): {"product_id": w.cart_product_id, "quantity": 1},
        ("PATCH", "/api/v1/cart/lines/{line_id}"): {"quantity": 2},
        ("PUT", "/api/v1/cart/reminders"): {"enabled": False},
        ("POST", "/api/v1/cart/checkout"): {
            "email": "buyer@example.com",
            "expected_total": w.checkout_total,
            "address": {
                "name": "A. Customer",
                "lines": ["1 Access Road"],
                "city": "Porto",
                "postal_code": "4000-001",
                "country": "PT",
            },
        },
        ("POST", "/api/v1/chat/sessions"): {"title": "More lamps"},
        ("POST", "/api/v1/chat/sessions/{session_id}/messages"): {"content": "a lamp please"},
    }
    return bodies.get(endpoint)


QUERIES: dict[Endpoint, dict[str, str]] = {
    ("GET", "/api/v1/search"): {"q": "lamp"},
    ("GET", "/api/v1/recommendations"): {"strategy": "popular"},
}


def call(endpoint: Endpoint, world: World) -> Call:
    """The request this row is sent as."""
    assert endpoint in API, endpoint
    _, template = endpoint
    path = template.format(**_params(endpoint, world))
    return Call(
        service=service_of(template),
        path=path,
        json=_body(endpoint, world),
        params=QUERIES.get(endpoint, {}),
    )


def changes_state(endpoint: Endpoint, status: int) -> bool:
    """An accepted write: sent after every refusal and read, in matrix order."""
    method, _ = endpoint
    return method != "GET" and endpoint not in READ_ONLY and 200 <= status < 300
