"""Who may call what: every endpoint x every kind of caller -> the expected status.

The matrix is data. `tests/access/test_matrix.py` sends each cell as a real request to
the services (and, for every cell that changes nothing, through the gateway too), and
checks that every endpoint the services' OpenAPI documents list has a row here. The
table in docs/access.md is rendered from it (`python -m tests.access.matrix --write`)
and a test compares the two, so the documentation cannot drift from what is tested.

Path parameters name customer A's resources (A's order, A's chat session), or the
catalog's and the admin APIs' own; customer B is the other customer. Forged tokens
(expired, signed with another key, `alg: none`) all claim the admin role for customer
A: they must be refused whatever they claim.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ANONYMOUS = "anonymous"
CUSTOMER_A = "customer_a"
CUSTOMER_B = "customer_b"
ADMIN = "admin"
EXPIRED = "expired"
OTHER_KEY = "other_key"
ALG_NONE = "alg_none"
BEARER_ONLY = "bearer_only"
GARBAGE = "garbage"

PRINCIPALS: dict[str, str] = {
    ANONYMOUS: "anonymous",
    CUSTOMER_A: "customer A",
    CUSTOMER_B: "customer B",
    ADMIN: "admin",
    EXPIRED: "expired",
    OTHER_KEY: "other key",
    ALG_NONE: "alg none",
    BEARER_ONLY: '"Bearer"',
    GARBAGE: "garbage",
}
"""Column order and headings. `expired`, `other_key`, `alg_none`: admin-claiming tokens
that must not verify; `bearer_only`: `Authorization: Bearer` with no token; `garbage`:
`Authorization: Bearer not-a-jwt`."""

UNVERIFIABLE = (EXPIRED, OTHER_KEY, ALG_NONE, BEARER_ONLY, GARBAGE)

Expected = dict[str, int]
Endpoint = tuple[str, str]


def public(status: int = 200) -> Expected:
    """No token needed, and none is read: a bad one is ignored, not refused."""
    return dict.fromkeys(PRINCIPALS, status)


def signed_in(a: int, b: int, admin: int) -> Expected:
    """Any verified token; `a`/`b`/`admin`: what each gets for customer A's resource."""
    return (
        {ANONYMOUS: 401, CUSTOMER_A: a, CUSTOMER_B: b, ADMIN: admin}
        | dict.fromkeys(UNVERIFIABLE, 401)
    )  # fmt: skip


def admin_only(status: int) -> Expected:
    """The admin role: customers 403, no or a bad token 401."""
    return signed_in(403, 403, status)


PRODUCT = "/api/v1/products/{product_id}"

API: dict[Endpoint, Expected] = {
    # catalog: reads and quotes are public, writes are the admin's
    ("GET", "/api/v1/categories"): public(),
    ("POST", "/api/v1/categories"): admin_only(201),
    ("GET", "/api/v1/categories/{category_id}"): public(),
    ("PATCH", "/api/v1/categories/{category_id}"): admin_only(200),
    ("GET", "/api/v1/products"): public(),
    ("POST", "/api/v1/products"): admin_only(201),
    ("GET", PRODUCT): public(),
    ("PATCH", PRODUCT): admin_only(200),
    ("DELETE", PRODUCT): admin_only(204),
    ("PUT", f"{PRODUCT}/stock"): admin_only(200),
    ("POST", f"{PRODUCT}/parts"): admin_only(201),
    ("PATCH", f"{PRODUCT}/parts/{{part_id}}"): admin_only(200),
    ("DELETE", f"{PRODUCT}/parts/{{part_id}}"): admin_only(204),
    ("POST", f"{PRODUCT}/parts/{{part_id}}/options"): admin_only(201),
    ("PATCH", f"{PRODUCT}/options/{{option_id}}"): admin_only(200),
    ("DELETE", f"{PRODUCT}/options/{{option_id}}"): admin_only(204),
    ("POST", f"{PRODUCT}/incompatibilities"): admin_only(201),
    ("PATCH", f"{PRODUCT}/incompatibilities/{{rule_id}}"): admin_only(200),
    ("DELETE", f"{PRODUCT}/incompatibilities/{{rule_id}}"): admin_only(204),
    ("POST", f"{PRODUCT}/price-rules"): admin_only(201),
    ("PATCH", f"{PRODUCT}/price-rules/{{rule_id}}"): admin_only(200),
    ("DELETE", f"{PRODUCT}/price-rules/{{rule_id}}"): admin_only(204),
    ("POST", f"{PRODUCT}/quote"): public(),
    # orders: a customer's own; another customer's order is 404 (not theirs to know of)
    ("POST", "/api/v1/orders"): signed_in(201, 201, 201),
    ("GET", "/api/v1/orders"): signed_in(200, 200, 200),
    ("GET", "/api/v1/orders/{order_id}"): signed_in(200, 404, 200),
    ("POST", "/api/v1/orders/{order_id}/cancel"): signed_in(200, 404, 200),
    ("POST", "/api/v1/orders/{order_id}/ship"): admin_only(200),
    ("POST", "/api/v1/orders/{order_id}/deliver"): admin_only(200),
    # the cart: always the caller's own (no cart id in any path); another customer's line
    # is 404. Checkout (in this order: after the line changes above it) places customer
    # A's cart; B's and the admin's carts are empty when their refusals are sent: 409.
    ("GET", "/api/v1/cart"): signed_in(200, 200, 200),
    ("POST", "/api/v1/cart/lines"): signed_in(201, 201, 201),
    ("PATCH", "/api/v1/cart/lines/{line_id}"): signed_in(200, 404, 404),
    ("DELETE", "/api/v1/cart/lines/{line_id}"): signed_in(200, 404, 404),
    ("PUT", "/api/v1/cart/reminders"): signed_in(200, 200, 200),
    ("POST", "/api/v1/cart/checkout"): signed_in(201, 409, 409),
    ("DELETE", "/api/v1/cart"): signed_in(200, 200, 200),
    # assistant: search and recommendations public; chat sessions their owner's only
    ("GET", "/api/v1/search"): public(),
    ("GET", "/api/v1/recommendations"): public(),
    ("POST", "/api/v1/chat/sessions"): signed_in(201, 201, 201),
    ("GET", "/api/v1/chat/sessions/{session_id}"): signed_in(200, 404, 404),
    ("POST", "/api/v1/chat/sessions/{session_id}/messages"): signed_in(200, 404, 404),
    # A's proposed checkout, expired when its row is sent (A: 410, nothing bought); the
    # confirmed checkout is services/assistant/tests/e2e/test_chat_actions_e2e.py
    ("POST", "/api/v1/chat/sessions/{session_id}/actions/{action_id}/confirm"): signed_in(
        410, 404, 404
    ),
    # the caller's own sessions; deleting A's session (last of the chat rows: the writes
    # run after every read) is A's alone
    ("GET", "/api/v1/chat/sessions"): signed_in(200, 200, 200),
    ("DELETE", "/api/v1/chat/sessions/{session_id}"): signed_in(204, 404, 404),
    # indexer and scheduler: admin APIs
    ("GET", "/api/v1/admin/index"): admin_only(200),
    ("POST", "/api/v1/admin/index/rebuild"): admin_only(202),
    ("GET", "/api/v1/admin/index/rebuilds"): admin_only(200),
    ("GET", "/api/v1/admin/index/rebuilds/{run_id}"): admin_only(200),
    ("GET", "/api/v1/admin/jobs"): admin_only(200),
    ("GET", "/api/v1/admin/jobs/{name}/runs"): admin_only(200),
    ("POST", "/api/v1/admin/jobs/{name}/run"): admin_only(202),
}

OPERATED = ("catalog", "orders", "assistant", "indexer", "scheduler", "notifier")
"""The services with a consumer group: each serves the operations API (marcus_web.admin)."""


def operations_rows(service: str) -> dict[Endpoint, Expected]:
    """A service's operations API: admin only. `{entry_id}`: a dead letter of its own
    group's DLQ (the replay's answers a failed replay: the letter's event is not one the
    group can decode, so it stays; the DELETE discards another)."""
    base = f"/api/v1/admin/{service}"
    return {
        ("GET", f"{base}/consumers"): admin_only(200),
        ("GET", f"{base}/dead-letters"): admin_only(200),
        ("POST", f"{base}/dead-letters/{{entry_id}}/replay"): admin_only(200),
        ("DELETE", f"{base}/dead-letters/{{entry_id}}"): admin_only(204),
        ("GET", f"{base}/health"): admin_only(200),
    }


for _service in OPERATED:
    API |= operations_rows(_service)
API[("GET", "/api/v1/admin/notifier/emails")] = admin_only(200)

PROBES: dict[Endpoint, Expected] = {
    ("GET", "/healthz"): public(),
    ("GET", "/readyz"): public(),
    ("GET", "/metrics"): public(),
    ("GET", "/openapi.json"): public(),
    ("GET", "/docs"): public(),
    ("GET", "/redoc"): public(),
}
"""On every service's own port (catalog, orders, assistant, indexer, scheduler,
notifier): for orchestrators and Prometheus on the internal network. The gateway routes
none of them (see GATEWAY)."""

MATRIX: dict[Endpoint, Expected] = API | PROBES

GATEWAY: dict[Endpoint, int] = {
    ("GET", "/gateway/healthz"): 200,
    ("GET", "/api/v1/openapi.json"): 200,
    ("GET", "/api/v1/asyncapi.json"): 200,
    ("GET", "/api/v1/docs"): 200,
    ("GET", "/healthz"): 404,
    ("GET", "/readyz"): 404,
    ("GET", "/metrics"): 404,
    ("GET", "/openapi.json"): 404,
    ("GET", "/docs"): 404,
    ("GET", "/api/v1/metrics"): 404,
    ("GET", "/api/v1/admin/metrics"): 404,
    ("GET", "/api/v1/orders/..%2F..%2F..%2Fmetrics"): 404,
    ("GET", "/api/v1/admin/index/..%2F..%2F..%2F..%2Freadyz"): 404,
}
"""What the gateway itself answers to anyone (no token): its own health and the API
documents are public; the services' probes and metrics are not reachable through it."""


START = "<!-- access-matrix:start -->"
END = "<!-- access-matrix:end -->"
DOC = Path(__file__).resolve().parents[2] / "docs" / "access.md"


def render() -> str:
    """The Markdown tables docs/access.md holds between its markers."""
    heads = list(PRINCIPALS.values())
    lines = [
        "| Endpoint | " + " | ".join(heads) + " |",
        "|---|" + "---|" * len(heads),
    ]
    for (method, path), expected in MATRIX.items():
        cells = " | ".join(str(expected[p]) for p in PRINCIPALS)
        lines.append(f"| `{method} {path}` | {cells} |")
    lines += ["", "Through the gateway (any caller):", "", "| Path | Status |", "|---|---|"]
    for (method, path), status in GATEWAY.items():
        lines.append(f"| `{method} {path}` | {status} |")
    return "\n".join(lines)


def documented(text: str) -> str:
    """The part of docs/access.md between the markers."""
    return text.split(START, 1)[1].split(END, 1)[0].strip()


def write(doc: Path = DOC) -> None:
    text = doc.read_text()
    head, rest = text.split(START, 1)
    tail = rest.split(END, 1)[1]
    doc.write_text(f"{head}{START}\n{render()}\n{END}{tail}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Print (or --write into the doc) the matrix.")
    parser.add_argument("--write", action="store_true", help="update docs/access.md")
    args = parser.parse_args(argv)
    if args.write:
        write()
    else:
        sys.stdout.write(render() + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
