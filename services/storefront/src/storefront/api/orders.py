"""Orders: the customer's list, and one order whose status updates on the page (htmx
polls the status fragment while the stock saga has not decided; it stops once it has)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from storefront.client import PublicApi
from storefront.pages import is_htmx, render, signed_in_api
from storefront.session import User, check_csrf, require_user

router = APIRouter(tags=["orders"])

SETTLED = frozenset({"confirmed", "rejected", "cancelled", "shipped", "delivered"})
"""Statuses after which nothing changes by itself soon: the page stops polling."""


@router.get("/orders", response_class=HTMLResponse)
async def order_list(
    request: Request,
    cursor: str | None = Query(default=None, max_length=64),
    user: User = Depends(require_user),
    api: PublicApi = Depends(signed_in_api),
) -> HTMLResponse:
    page = await api.orders(cursor)
    return await render(
        request,
        "orders/list.html",
        {"orders": page["items"], "next_cursor": page.get("next_cursor"), "nav": "orders"},
    )


@router.get("/orders/{order_id}", response_class=HTMLResponse)
async def order_page(
    request: Request,
    order_id: str,
    placed: bool = False,
    user: User = Depends(require_user),
    api: PublicApi = Depends(signed_in_api),
) -> HTMLResponse:
    order = await api.order(order_id)
    template = "orders/status.html" if is_htmx(request) else "orders/page.html"
    return await render(
        request,
        template,
        {"order": order, "placed": placed, "settled": SETTLED, "nav": "orders"},
    )


@router.post("/orders/{order_id}/cancel", dependencies=[Depends(check_csrf)])
async def cancel(
    request: Request,
    order_id: str,
    user: User = Depends(require_user),
    api: PublicApi = Depends(signed_in_api),
) -> Response:
    order = await api.cancel_order(order_id)
    if is_htmx(request):
        return await render(request, "orders/status.html", {"order": order, "settled": SETTLED})
    return RedirectResponse(f"/orders/{order_id}", status_code=303)
