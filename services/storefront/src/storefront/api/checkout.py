"""Checkout: the cart's lines and the total the customer will pay, a shipping address,
then the order placed at exactly that total.

The expected total travels with the form: if a price moved meanwhile, the orders service
refuses (409) and the page shows the new total to accept. Each form carries its own
Idempotency-Key, so a double click or a retry after "try again" is the same order. When
the shop does not answer, the form comes back with everything typed in it.
"""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from storefront.api.cart import cart_context
from storefront.client import ApiError, ApiUnavailable, PublicApi
from storefront.forms import form_of, text
from storefront.pages import CustomerApi, render
from storefront.session import check_csrf

router = APIRouter(tags=["checkout"])

ADDRESS_FIELDS = ("name", "line1", "line2", "city", "postal_code", "country")


@router.get("/checkout", response_class=HTMLResponse)
async def checkout_page(request: Request, api: CustomerApi) -> HTMLResponse:
    cart = await api.cart()
    return await _page(request, cart, {}, str(uuid.uuid4()))


@router.post("/checkout", dependencies=[Depends(check_csrf)])
async def place_order(request: Request, api: CustomerApi) -> Response:
    form = await form_of(request)
    typed = {name: text(form, name, 200) for name in ADDRESS_FIELDS}
    typed["country"] = typed["country"].upper()
    expected = text(form, "expected_total", 20)
    key = text(form, "idempotency_key", 64) or str(uuid.uuid4())
    address = {
        "name": typed["name"],
        "lines": [line for line in (typed["line1"], typed["line2"]) if line],
        "city": typed["city"],
        "postal_code": typed["postal_code"],
        "country": typed["country"],
    }
    try:
        order = await api.checkout(address, expected, key)
    except ApiUnavailable:
        cart = await _cart_or_none(api)
        problem = "The shop did not answer. Nothing was ordered yet: please try again."
        return await _page(request, cart, typed, key, problem=problem, status=503)
    except ApiError as exc:
        if exc.status == 409 and isinstance(exc.body.get("cart"), dict):
            cart = exc.body["cart"] | {"currency": exc.body.get("currency")}
            problem = f"{exc.detail} Please check the new total and place the order again."
            return await _page(request, cart, typed, key, problem=problem, status=409)
        if exc.status in (409, 422):
            cart = await _cart_or_none(api)
            return await _page(
                request, cart, typed, key, problem=exc.detail, errors=exc.errors, status=exc.status
            )
        raise
    return RedirectResponse(f"/orders/{order['id']}?placed=1", status_code=303)


async def _cart_or_none(api: PublicApi) -> dict[str, Any] | None:
    try:
        return await api.cart()
    except (ApiError, ApiUnavailable):
        return None


async def _page(
    request: Request,
    cart: dict[str, Any] | None,
    typed: dict[str, str],
    key: str,
    *,
    problem: str | None = None,
    errors: list[Any] | None = None,
    status: int = 200,
) -> HTMLResponse:
    context = cart_context(cart) if cart is not None else {"cart": None}
    return await render(
        request,
        "checkout/page.html",
        context
        | {
            "typed": typed,
            "key": key,
            "problem": problem,
            "field_errors": _by_field(errors or []),
            "nav": "cart",
        },
        status_code=status,
    )


def _by_field(errors: list[Any]) -> dict[str, str]:
    """The API's field errors (`body.address.city`) by this form's field names."""
    names = {"lines": "line1"}
    found: dict[str, str] = {}
    for error in errors:
        if not isinstance(error, dict):
            continue
        loc = [str(part) for part in error.get("loc", [])]
        if "address" in loc and loc.index("address") + 1 < len(loc):
            field = loc[loc.index("address") + 1]
            found[names.get(field, field)] = str(error.get("msg", "invalid"))
    return found
