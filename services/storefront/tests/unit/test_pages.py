"""The storefront in process, in front of a scripted public API (an ASGI app standing in
for the gateway): sign-in rules, CSRF, and API answers shown to the customer in words.
The real stack, in a real browser, is tests/browser."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from marcus_web.auth import mint_token
from storefront.main import create_app
from storefront.session import CSRF_COOKIE, CSRF_HEADER, SESSION_COOKIE
from storefront.settings import StorefrontSettings
from storefront.vendor import FILES, check

SECRET = "storefront-tests-secret-0123456789abcdef"
CART = {
    "id": "c1",
    "lines": [
        {
            "line_id": "l1",
            "product_id": "p1",
            "sku": "BIK-009",
            "name": "Bike Lamp",
            "kind": "simple",
            "options": [],
            "quantity": 1,
            "added_unit_price": "20.00",
            "unit_price": "25.00",
            "line_total": "25.00",
            "available": True,
            "problems": [],
            "changed": ["price"],
            "note": "",
        }
    ],
    "total": "25.00",
    "currency": "EUR",
    "reminders": True,
    "version": 2,
}


def problem(status: int, detail: str, **extra: Any) -> JSONResponse:
    body = {"type": "about:blank", "title": "Problem", "status": status, "detail": detail}
    return JSONResponse(body | extra, status_code=status, media_type="application/problem+json")


class FakeGateway:
    """The public API's answers, as each test scripts them; every request is recorded."""

    def __init__(self) -> None:
        self.checkout: JSONResponse | None = None
        self.seen: list[tuple[str, str, dict[str, str]]] = []
        self.app = FastAPI()

        @self.app.middleware("http")
        async def record(request: Request, call_next: Any) -> Any:
            self.seen.append((request.method, request.url.path, dict(request.headers)))
            return await call_next(request)

        @self.app.get("/api/v1/products/{product_id}")
        async def product(product_id: str) -> JSONResponse:
            return problem(404, f"product {product_id} not found")

        @self.app.get("/api/v1/cart")
        async def cart() -> dict[str, Any]:
            return CART

        @self.app.post("/api/v1/cart/checkout")
        async def checkout() -> JSONResponse:
            assert self.checkout is not None
            return self.checkout

        @self.app.get("/gateway/healthz")
        async def healthz() -> dict[str, str]:
            return {"status": "ok"}


def settings(**overrides: Any) -> StorefrontSettings:
    values: dict[str, Any] = {"jwt_secret": SECRET, "public_api_url": "http://gateway"}
    return StorefrontSettings(**(values | overrides))


@pytest.fixture
def gateway() -> FakeGateway:
    return FakeGateway()


async def browser_for(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://shop")


@pytest.fixture
async def shop(gateway: FakeGateway) -> AsyncIterator[httpx.AsyncClient]:
    """A development storefront whose API is the fake gateway."""
    app = create_app(settings(deployment="development"))
    app.state.http = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=gateway.app), base_url="http://gateway"
    )
    async with await browser_for(app) as client:
        await client.get("/signin")  # the CSRF cookie, as a first visit sets it
        yield client
    await app.state.http.aclose()


def csrf(client: httpx.AsyncClient) -> str:
    return str(client.cookies[CSRF_COOKIE])


async def signed_in(client: httpx.AsyncClient, subject: str = "alice") -> None:
    answer = await client.post("/signin", data={"subject": subject, "csrf": csrf(client)})
    assert answer.status_code == 303, answer.text


async def test_sign_in_mints_a_development_token_in_an_http_only_lax_cookie(
    shop: httpx.AsyncClient,
) -> None:
    page = await shop.get("/signin")
    assert "Sign in as Alice Martin" in page.text and "(dev-admin, admin)" in page.text
    answer = await shop.post(
        "/signin", data={"subject": "alice", "csrf": csrf(shop), "next": "/cart"}
    )
    assert answer.status_code == 303 and answer.headers["location"] == "/cart"
    cookie = next(h for h in answer.headers.get_list("set-cookie") if h.startswith(SESSION_COOKIE))
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie
    assert "Signed in as <strong>alice</strong>" in (await shop.get("/signin")).text


async def test_sign_in_never_redirects_off_site(shop: httpx.AsyncClient) -> None:
    for target in ("//evil.example/", "https://evil.example/"):
        answer = await shop.post(
            "/signin", data={"subject": "bob", "csrf": csrf(shop), "next": target}
        )
        assert answer.headers["location"] == "/"


async def test_an_unknown_account_is_refused_in_words(shop: httpx.AsyncClient) -> None:
    answer = await shop.post("/signin", data={"subject": "mallory", "csrf": csrf(shop)})
    assert answer.status_code == 422 and "Pick one of the sample accounts" in answer.text
    assert SESSION_COOKIE not in answer.cookies


async def test_outside_development_sign_in_needs_the_identity_provider() -> None:
    app = create_app(settings(deployment="production"))
    async with await browser_for(app) as client:
        page = await client.get("/signin")
        assert "needs the shop's identity provider" in page.text
        assert "Sign in as" not in page.text
        answer = await client.post(
            "/signin", data={"subject": "dev-admin", "csrf": str(client.cookies[CSRF_COOKIE])}
        )
        assert answer.status_code == 404
        assert not any(h.startswith(SESSION_COOKIE) for h in answer.headers.get_list("set-cookie"))


async def test_a_post_without_the_browsers_csrf_value_changes_nothing(
    shop: httpx.AsyncClient, gateway: FakeGateway
) -> None:
    await signed_in(shop)
    gateway.seen.clear()
    for headers, data in (
        ({}, {"product_id": "p1", "quantity": "1"}),
        ({}, {"product_id": "p1", "quantity": "1", "csrf": "forged"}),
        ({CSRF_HEADER: "forged"}, {"product_id": "p1", "quantity": "1"}),
    ):
        answer = await shop.post("/cart/lines", data=data, headers=headers)
        assert answer.status_code == 403 and "Reload the page" in answer.text
    assert not [seen for seen in gateway.seen if seen[0] != "GET"]


async def test_a_forged_session_cookie_is_signed_out(shop: httpx.AsyncClient) -> None:
    forged = mint_token("alice", ["admin"], secret="another-secret-0123456789abcdef0123")
    shop.cookies.set(SESSION_COOKIE, forged)
    answer = await shop.get("/cart")
    assert answer.status_code == 303 and answer.headers["location"] == "/signin?next=/cart"


async def test_the_cart_says_which_prices_moved(shop: httpx.AsyncClient) -> None:
    await signed_in(shop)
    page = await shop.get("/cart")
    assert page.status_code == 200
    assert re.search(r"Bike Lamp: was €20\.00, now €25\.00", page.text)


async def test_calls_carry_the_token_and_the_request_id(
    shop: httpx.AsyncClient, gateway: FakeGateway
) -> None:
    await signed_in(shop)
    gateway.seen.clear()
    await shop.get("/cart", headers={"X-Request-ID": "req-12345678"})
    [(method, path, headers)] = gateway.seen
    assert (method, path) == ("GET", "/api/v1/cart")
    assert headers["authorization"].startswith("Bearer ") and headers["x-request-id"] == (
        "req-12345678"
    )


async def test_an_api_refusal_is_shown_in_its_own_words(shop: httpx.AsyncClient) -> None:
    page = await shop.get("/products/0b0b7f7e-8a34-4d4c-9a0e-7f1d2c3b4a59")
    assert page.status_code == 404
    assert "product 0b0b7f7e-8a34-4d4c-9a0e-7f1d2c3b4a59 not found" in page.text


async def test_checkout_errors_keep_what_was_typed(
    shop: httpx.AsyncClient, gateway: FakeGateway
) -> None:
    await signed_in(shop)
    form = {
        "csrf": csrf(shop),
        "idempotency_key": "key-1",
        "expected_total": "25.00",
        "name": "Alice Martin",
        "line1": "12 Rue des Vignes",
        "city": "Lyon",
        "postal_code": "69001",
        "country": "zz",
    }
    gateway.checkout = problem(
        422,
        "The request is not valid; see `errors` for each field.",
        errors=[{"loc": ["body", "address", "country"], "msg": "ZZ is not a country"}],
    )
    refused = await shop.post("/checkout", data=form)
    assert refused.status_code == 422
    assert "ZZ is not a country" in refused.text and 'aria-invalid="true"' in refused.text
    assert 'value="12 Rue des Vignes"' in refused.text and 'value="key-1"' in refused.text

    gateway.checkout = problem(503, "orders is not answering")
    busy = await shop.post("/checkout", data=form)
    assert busy.status_code == 503 and "Nothing was ordered yet: please try again" in busy.text
    assert 'value="Lyon"' in busy.text and 'value="key-1"' in busy.text  # the same order


def refused(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("connection refused", request=request)


async def test_an_unreachable_api_is_a_503_saying_try_again() -> None:
    app = create_app(settings(deployment="development"))
    await app.state.http.aclose()
    app.state.http = httpx.AsyncClient(
        transport=httpx.MockTransport(refused), base_url="http://gateway"
    )
    async with await browser_for(app) as client:
        page = await client.get("/products")
        assert page.status_code == 503 and page.headers["retry-after"]
        assert "Nothing was lost: please try again" in page.text
        assert (await client.get("/readyz")).status_code == 200  # it serves; pages say why not
    await app.state.http.aclose()


def test_the_vendored_htmx_is_the_recorded_file() -> None:
    assert [check(item) for item in FILES] == [None]
    base = (create_app.__globals__["STATIC"].parent / "templates" / "base.html").read_text()
    assert all(f"/static/vendor/{item.file}" in base for item in FILES)
