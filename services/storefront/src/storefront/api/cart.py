"""The cart: lines at today's prices with a notice for every price that moved since the
line was added, quantities, removal; 'Add to cart' from the product pages."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from storefront.forms import form_of, option_ids, quantity
from storefront.pages import CustomerApi, htmx_or_redirect, please_check, render
from storefront.session import check_csrf

router = APIRouter(tags=["cart"])

QUANTITY_RANGE = "Choose a quantity from 1 to 99."


def cart_context(cart: dict[str, Any]) -> dict[str, Any]:
    """The cart and what the customer should notice: moved prices, unsellable lines."""
    moved = [line for line in cart["lines"] if "price" in line.get("changed", [])]
    blocked = [line for line in cart["lines"] if not line.get("available", True)]
    return {"cart": cart, "moved": moved, "blocked": blocked}


@router.get("/cart", response_class=HTMLResponse)
async def cart_page(request: Request, api: CustomerApi) -> HTMLResponse:
    cart = await api.cart()
    return await render(request, "cart/page.html", cart_context(cart) | {"nav": "cart"})


@router.post("/cart/lines", dependencies=[Depends(check_csrf)])
async def add_line(request: Request, api: CustomerApi) -> Response:
    form = await form_of(request)
    product_id = form.get("product_id")
    count = quantity(form)
    if not isinstance(product_id, str) or not product_id or count is None:
        return await please_check(request, QUANTITY_RANGE)
    cart = await api.add_line(product_id, count, option_ids(form))
    added = next(
        (line for line in reversed(cart["lines"]) if line["product_id"] == product_id), None
    )
    return await htmx_or_redirect(
        request, "cart/added.html", {"line": added, "cart": cart}, "/cart"
    )


@router.post("/cart/lines/{line_id}/quantity", dependencies=[Depends(check_csrf)])
async def set_quantity(request: Request, line_id: str, api: CustomerApi) -> Response:
    count = quantity(await form_of(request))
    if count is None:
        return await please_check(request, QUANTITY_RANGE)
    return await _cart_answer(request, await api.set_quantity(line_id, count))


@router.post("/cart/lines/{line_id}/remove", dependencies=[Depends(check_csrf)])
async def remove_line(request: Request, line_id: str, api: CustomerApi) -> Response:
    return await _cart_answer(request, await api.remove_line(line_id))


async def _cart_answer(request: Request, cart: dict[str, Any]) -> Response:
    """htmx: the cart's body again (totals announced); a plain form: back to the cart."""
    return await htmx_or_redirect(request, "cart/body.html", cart_context(cart), "/cart")
