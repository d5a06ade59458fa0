"""Orders: the customer's list, and one order whose status updates on the page (htmx
polls the status fragment while the stock saga has not decided; it stops once it has)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from storefront.pages import CustomerApi, ShortParam, htmx_or_redirect, is_htmx, render
from storefront.session import check_csrf

router = APIRouter(tags=["orders"])

SETTLED = frozenset({"confirmed", "rejected", "cancelled", "shipped", "delivered"})
"""Statuses after which nothing changes by itself soon: the page stops polling."""


@router.get("/orders", response_class=HTMLResponse)
async def order_list(request: Request, api: CustomerApi, cursor: ShortParam = None) -> HTMLResponse:
    page = await api.orders(cursor)
    return await render(
        request,
        "orders/list.html",
        {"orders": page["items"], "next_cursor": page.get("next_cursor"), "nav": "orders"},
    )


@router.get("/orders/{order_id}", response_class=HTMLResponse)
async def order_page(
    request: Request, order_id: str, api: CustomerApi, placed: bool = False
) -> HTMLResponse:
    order = await api.order(order_id)
    template = "orders/status.html" if is_htmx(request) else "orders/page.html"
    return await render(
        request,
        template,
        {"order": order, "placed": placed, "settled": SETTLED, "nav": "orders"},
    )


@router.post("/orders/{order_id}/cancel", dependencies=[Depends(check_csrf)])
async def cancel(request: Request, order_id: str, api: CustomerApi) -> Response:
    order = await api.cancel_order(order_id)
    context = {"order": order, "settled": SETTLED}
    return await htmx_or_redirect(request, "orders/status.html", context, f"/orders/{order_id}")
