"""Load the sample catalog (scripts/seed_data/catalog.json) through the catalog's HTTP API,
then the configurable products (scripts/seed_data/configurable.json): their parts,
options, incompatibility and price rules, and their preconfigured variants; then gives
the sample customer (`alice`) a cart through the orders API.

    uv run python scripts/seed.py [--url http://127.0.0.1:8001] [--data FILE]
                                  [--configurable FILE] [--token JWT]
                                  [--orders-url http://127.0.0.1:8002] [--no-cart]

Idempotent: a category slug or product SKU that already exists (409) is skipped, and so
are parts, options and rules a configurable product already has (matched by name, or by
the options a rule names), so it can run again after a partial load. Writes are authorised with an admin token minted locally
with the same JWT settings as the services (JWT_SECRET etc., from the environment or .env),
unless --token is given. Exits 1 when the catalog is not reachable or a write fails.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import httpx

DATA_FILE = Path(__file__).resolve().parent / "seed_data" / "catalog.json"
CONFIGURABLE_FILE = DATA_FILE.with_name("configurable.json")
DEFAULT_URL = os.environ.get("CATALOG_URL", "http://127.0.0.1:8001")
ORDERS_URL = os.environ.get("ORDERS_URL", "http://127.0.0.1:8002")
SAMPLE_CUSTOMER = "alice"
SAMPLE_EMAIL = "alice@example.com"
SAMPLE_CART = (("BIK-009", 1), ("GIFT-GREEN-CHEST", 1))
"""What the sample customer's cart holds after `make seed`: a simple product and a
preconfigured one (sku, quantity)."""
CART_WAIT_S = 30.0
"""How long the orders service may take to learn the seeded products (from events)."""
RETRIES = 3


class SeedError(Exception):
    """A failure that stops the seed, reported in one clear message."""


@dataclass
class Counts:
    """What happened to each kind of record."""

    created: int = 0
    existing: int = 0
    failed: list[str] = field(default_factory=list)

    def line(self, kind: str) -> str:
        return (
            f"{kind:<14} {self.created:>4} created, {self.existing:>4} already there, "
            f"{len(self.failed):>3} failed"
        )


def load_catalog(path: Path = DATA_FILE) -> dict[str, Any]:
    """Read and sanity-check the data file (the same rules tests/test_seed_data.py asserts)."""
    data = json.loads(path.read_text())
    categories = data["categories"]
    products = data["products"]
    slugs = [c["slug"] for c in categories]
    skus = [p["sku"] for p in products]
    problems = []
    if len(set(slugs)) != len(slugs):
        problems.append("duplicate category slugs")
    if len(set(skus)) != len(skus):
        problems.append("duplicate product SKUs")
    for product in products:
        if product["category"] not in slugs:
            problems.append(f"{product['sku']}: unknown category {product['category']!r}")
        try:
            price = Decimal(product["price"])
        except InvalidOperation:
            problems.append(f"{product['sku']}: price {product['price']!r} is not a decimal")
            continue
        if price <= 0 or price.as_tuple().exponent != -2:
            problems.append(f"{product['sku']}: price {product['price']!r} needs two decimals")
    if problems:
        raise SeedError(f"{path} is invalid:\n  " + "\n  ".join(problems))
    return dict(data)


def option_ref(spec: dict[str, Any], ref: str) -> tuple[str, str]:
    """`"Part/Option"` -> (part, option), checked against the product's parts."""
    part, _, option = ref.partition("/")
    names = {p["name"]: {o["name"] for o in p["options"]} for p in spec["parts"]}
    if option not in names.get(part, set()):
        raise SeedError(f"{spec['sku']}: {ref!r} names no option of the product")
    return part, option


def load_configurable(path: Path, slugs: set[str]) -> list[dict[str, Any]]:
    """Read and sanity-check the configurable products (tests/test_seed_data.py too)."""
    specs: list[dict[str, Any]] = json.loads(path.read_text())["configurable"]
    for spec in specs:
        if spec["category"] not in slugs:
            raise SeedError(f"{spec['sku']}: unknown category {spec['category']!r}")
        for rule in spec["incompatibilities"]:
            for ref in rule["options"]:
                option_ref(spec, ref)
        for rule in spec["price_rules"]:
            option_ref(spec, rule["option"])
            option_ref(spec, rule["when"])
        for preset in spec["preconfigured"]:
            for ref in preset["options"]:
                option_ref(spec, ref)
    return specs


def admin_token() -> str:
    """An admin JWT signed with the services' own settings (JWT_SECRET from env or .env)."""
    from marcus_web.auth import mint_token
    from marcus_web.settings import ServiceSettings

    settings = ServiceSettings()
    if not any(alg.upper().startswith("HS") for alg in settings.jwt_algorithms):
        raise SeedError(
            "the services do not accept locally signed (HS*) tokens "
            f"(JWT_ALGORITHMS={settings.jwt_algorithms}); pass --token <admin JWT>"
        )
    return mint_token(
        "seed-script",
        ["admin"],
        secret=settings.jwt_secret,
        ttl_seconds=3600,
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
    )


def customer_token(subject: str, email: str) -> str:
    """A customer JWT signed with the services' own settings (development only)."""
    from marcus_web.auth import mint_token
    from marcus_web.settings import ServiceSettings

    settings = ServiceSettings()
    return mint_token(
        subject,
        ["customer"],
        secret=settings.jwt_secret,
        ttl_seconds=3600,
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
        email=email,
    )


def request(client: httpx.Client, method: str, path: str, **kwargs: Any) -> httpx.Response:
    """One request, retried a few times on connection errors and 502/503/504."""
    for attempt in range(1, RETRIES + 1):
        try:
            response = client.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            if attempt == RETRIES:
                raise SeedError(f"{method} {client.base_url}{path} failed: {exc}") from exc
        else:
            if response.status_code not in (502, 503, 504) or attempt == RETRIES:
                return response
        time.sleep(0.5 * attempt)
    raise AssertionError("unreachable")


def problem(response: httpx.Response) -> str:
    """`status title: detail` of a problem+json answer (or the raw body)."""
    try:
        body = response.json()
    except ValueError:
        return f"{response.status_code} {response.text[:200]}"
    if isinstance(body, dict):
        detail = body.get("detail") or body.get("errors") or ""
        return f"{response.status_code} {body.get('title', '')}: {detail}".strip()
    return f"{response.status_code} {body}"


def check_reachable(client: httpx.Client) -> None:
    """Fail clearly when the catalog is down or not ready."""
    try:
        response = client.get("/readyz")
        if response.status_code == 404:  # through the gateway: /readyz is not routed
            response = client.get("/api/v1/categories")
    except httpx.TransportError as exc:
        raise SeedError(
            f"the catalog is not reachable at {client.base_url} ({exc.__class__.__name__}).\n"
            "  Start the stack with `make up` (or pass --url / set CATALOG_URL)."
        ) from exc
    if response.status_code != 200:
        raise SeedError(
            f"the catalog at {client.base_url} is not ready: {problem(response)}\n"
            "  Check `make status` and `make logs`."
        )


def fail_on_auth(response: httpx.Response) -> None:
    if response.status_code in (401, 403):
        raise SeedError(
            f"the catalog refused the token: {problem(response)}\n"
            "  Does JWT_SECRET (env or .env) match the one the catalog runs with?"
        )


def seed_categories(client: httpx.Client, categories: list[dict[str, Any]]) -> dict[str, str]:
    """Create the categories; returns slug -> id for all of them (new and existing)."""
    counts = Counts()
    for category in categories:
        response = request(client, "POST", "/api/v1/categories", json=category)
        fail_on_auth(response)
        if response.status_code == 201:
            counts.created += 1
        elif response.status_code == 409:
            counts.existing += 1
        else:
            counts.failed.append(f"{category['slug']}: {problem(response)}")
    listing = request(client, "GET", "/api/v1/categories")
    if listing.status_code != 200:
        raise SeedError(f"GET /api/v1/categories: {problem(listing)}")
    body = listing.json()
    items = body["items"] if isinstance(body, dict) else body
    ids = {item["slug"]: str(item["id"]) for item in items}
    print(counts.line("categories"))
    for failure in counts.failed:
        print(f"  failed: {failure}")
    missing = [c["slug"] for c in categories if c["slug"] not in ids]
    if missing:
        raise SeedError(f"categories missing after seeding: {', '.join(missing)}")
    return ids


def seed_products(
    client: httpx.Client, products: list[dict[str, Any]], category_ids: dict[str, str]
) -> Counts:
    """Create the products, skipping SKUs that already exist."""
    counts = Counts()
    for index, product in enumerate(products, start=1):
        body = {k: v for k, v in product.items() if k != "category"}
        body["category_id"] = category_ids[product["category"]]
        response = request(client, "POST", "/api/v1/products", json=body)
        fail_on_auth(response)
        if response.status_code == 201:
            counts.created += 1
        elif response.status_code == 409:
            counts.existing += 1
        else:
            counts.failed.append(f"{product['sku']}: {problem(response)}")
        if index % 50 == 0 or index == len(products):
            print(f"  products {index}/{len(products)}", flush=True)
    print(counts.line("products"))
    for failure in counts.failed:
        print(f"  failed: {failure}")
    return counts


def _created_or_existing(response: httpx.Response, what: str, counts: Counts) -> bool:
    fail_on_auth(response)
    if response.status_code == 201:
        counts.created += 1
        return True
    if response.status_code == 409:
        counts.existing += 1
        return False
    counts.failed.append(f"{what}: {problem(response)}")
    return False


def _product_id(client: httpx.Client, sku: str) -> str | None:
    page = request(client, "GET", "/api/v1/products", params={"q": sku, "limit": 100})
    if page.status_code != 200:
        raise SeedError(f"GET /api/v1/products?q={sku}: {problem(page)}")
    return next((str(p["id"]) for p in page.json()["items"] if p["sku"] == sku), None)


def seed_configurable(
    client: httpx.Client, specs: list[dict[str, Any]], category_ids: dict[str, str]
) -> Counts:
    """Each configurable product, its parts, options and rules, then its preconfigured
    variants (the catalog refuses any that breaks a rule: 422)."""
    products, items, presets = Counts(), Counts(), Counts()
    for spec in specs:
        sku = spec["sku"]
        body = {k: spec[k] for k in ("sku", "name", "description", "price", "currency")}
        body |= {
            "category_id": category_ids[spec["category"]],
            "attributes": spec.get("attributes", {}),
            "kind": "configurable",
        }
        _created_or_existing(request(client, "POST", "/api/v1/products", json=body), sku, products)
        product_id = _product_id(client, sku)
        if product_id is None:
            products.failed.append(f"{sku}: not found after creating it")
            continue
        base = f"/api/v1/products/{product_id}"
        detail = request(client, "GET", base).json()
        parts = {p["name"]: p for p in detail.get("parts") or []}
        ids: dict[tuple[str, str], str] = {}
        for part_spec in spec["parts"]:
            part = parts.get(part_spec["name"])
            if part is None:
                fields = {k: part_spec[k] for k in ("name", "description", "required")}
                response = request(client, "POST", f"{base}/parts", json=fields)
                if not _created_or_existing(response, f"{sku} / {part_spec['name']}", items):
                    continue
                part = response.json()
            else:
                items.existing += 1
            known = {o["name"]: o["id"] for o in part["options"]}
            for option in part_spec["options"]:
                if option["name"] in known:
                    items.existing += 1
                else:
                    response = request(
                        client, "POST", f"{base}/parts/{part['id']}/options", json=option
                    )
                    if _created_or_existing(response, f"{sku} / {option['name']}", items):
                        known[option["name"]] = response.json()["id"]
                if option["name"] in known:
                    ids[(part_spec["name"], option["name"])] = str(known[option["name"]])
        detail = request(client, "GET", base).json()
        pairs = {frozenset(r["option_ids"]) for r in detail.get("incompatibilities") or []}
        for rule in spec["incompatibilities"]:
            option_ids = [ids[option_ref(spec, ref)] for ref in rule["options"]]
            if frozenset(option_ids) in pairs:
                items.existing += 1
                continue
            response = request(
                client,
                "POST",
                f"{base}/incompatibilities",
                json={"option_ids": option_ids, "message": rule["message"]},
            )
            _created_or_existing(response, f"{sku} / incompatibility {rule['options']}", items)
        conditions = {
            (r["option_id"], r["when_option_id"]) for r in detail.get("price_rules") or []
        }
        for rule in spec["price_rules"]:
            pair = (ids[option_ref(spec, rule["option"])], ids[option_ref(spec, rule["when"])])
            if pair in conditions:
                items.existing += 1
                continue
            response = request(
                client,
                "POST",
                f"{base}/price-rules",
                json={"option_id": pair[0], "when_option_id": pair[1], "price": rule["price"]},
            )
            _created_or_existing(response, f"{sku} / price rule {rule['option']}", items)
        for preset in spec["preconfigured"]:
            fields = {k: preset[k] for k in ("sku", "name", "description", "price")}
            fields |= {
                "currency": spec["currency"],
                "category_id": category_ids[spec["category"]],
                "attributes": preset.get("attributes", {}),
                "kind": "preconfigured",
                "base_product_id": product_id,
                "options": [ids[option_ref(spec, ref)] for ref in preset["options"]],
            }
            response = request(client, "POST", "/api/v1/products", json=fields)
            _created_or_existing(response, preset["sku"], presets)
    for kind, counts in (
        ("configurable", products),
        ("parts etc.", items),
        ("preconfigured", presets),
    ):
        print(counts.line(kind))
        for failure in counts.failed:
            print(f"  failed: {failure}")
    merged = Counts(failed=products.failed + items.failed + presets.failed)
    return merged


def product_id_by_sku(catalog: httpx.Client, sku: str) -> str:
    response = request(catalog, "GET", "/api/v1/products", params={"q": sku, "limit": 20})
    for item in response.json().get("items", []):
        if item["sku"] == sku:
            return str(item["id"])
    raise SeedError(f"product {sku} is not in the catalog")


def seed_cart(catalog: httpx.Client, orders: httpx.Client) -> str:
    """Give the sample customer a cart (once: a cart with lines is left as it is). The
    orders service learns products from the catalog's events, so a line it does not know
    yet is retried until `CART_WAIT_S`."""
    if request(orders, "GET", "/api/v1/cart").json().get("lines"):
        return f"cart of {SAMPLE_CUSTOMER}: has lines already, left as it is"
    for sku, quantity in SAMPLE_CART:
        body = {"product_id": product_id_by_sku(catalog, sku), "quantity": quantity}
        deadline = time.monotonic() + CART_WAIT_S
        while True:
            response = request(orders, "POST", "/api/v1/cart/lines", json=body)
            if response.status_code in (200, 201):
                break
            if response.status_code != 422 or time.monotonic() > deadline:
                raise SeedError(f"adding {sku} to the sample cart: {problem(response)}")
            time.sleep(0.5)
    total = request(orders, "GET", "/api/v1/cart").json().get("total")
    return f"cart of {SAMPLE_CUSTOMER}: {len(SAMPLE_CART)} lines, total {total}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Load the sample catalog through the API.")
    parser.add_argument("--url", default=DEFAULT_URL, help="catalog (or gateway) base URL")
    parser.add_argument("--data", type=Path, default=DATA_FILE, help="catalog JSON file")
    parser.add_argument(
        "--configurable",
        type=Path,
        default=CONFIGURABLE_FILE,
        help="configurable products JSON file",
    )
    parser.add_argument(
        "--orders-url", default=ORDERS_URL, help="orders (or gateway) base URL, for the cart"
    )
    parser.add_argument(
        "--no-cart", action="store_true", help="load the catalog only (no orders service)"
    )
    parser.add_argument("--token", default=os.environ.get("TOKEN"), help="admin JWT to use")
    parser.add_argument("--timeout", type=float, default=10.0, help="per request, seconds")
    args = parser.parse_args(argv)
    try:
        data = load_catalog(args.data)
        configurable = load_configurable(args.configurable, {c["slug"] for c in data["categories"]})
        token = args.token or admin_token()
        headers = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=args.url, headers=headers, timeout=args.timeout) as client:
            check_reachable(client)
            print(
                f"Seeding {len(data['categories'])} categories and "
                f"{len(data['products'])} products into {args.url}"
            )
            started = time.monotonic()
            category_ids = seed_categories(client, data["categories"])
            products = seed_products(client, data["products"], category_ids)
            configured = seed_configurable(client, configurable, category_ids)
            if not args.no_cart:
                customer = {
                    "Authorization": f"Bearer {customer_token(SAMPLE_CUSTOMER, SAMPLE_EMAIL)}"
                }
                with httpx.Client(
                    base_url=args.orders_url, headers=customer, timeout=args.timeout
                ) as orders:
                    print(seed_cart(client, orders))
        print(f"Done in {time.monotonic() - started:.1f}s.")
    except SeedError as exc:
        print(f"seed: {exc}", file=sys.stderr)
        return 1
    return 1 if products.failed or configured.failed else 0


if __name__ == "__main__":
    sys.exit(main())
