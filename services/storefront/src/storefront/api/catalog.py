"""Browsing: the home page (categories), product lists with filters, the product page
with similar items and 'bought together'."""

from __future__ import annotations

import asyncio
from decimal import Decimal, InvalidOperation
from typing import Any
from uuid import UUID

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse

from storefront.client import ApiError, ApiUnavailable, PublicApi
from storefront.pages import render, signed_in_api

router = APIRouter(tags=["catalog"])


@router.get("/", response_class=HTMLResponse)
async def home(request: Request, api: PublicApi = Depends(signed_in_api)) -> HTMLResponse:
    categories, popular = await asyncio.gather(
        api.categories(), _quietly(api.recommendations(strategy="popular", k=8))
    )
    return await render(
        request,
        "catalog/home.html",
        {"categories": categories, "popular": (popular or {}).get("results", []), "nav": "shop"},
    )


@router.get("/products", response_class=HTMLResponse)
async def product_list(
    request: Request,
    category: str | None = Query(default=None, max_length=80),
    q: str | None = Query(default=None, max_length=200),
    min_price: str | None = Query(default=None, max_length=20),
    max_price: str | None = Query(default=None, max_length=20),
    in_stock: str | None = Query(default=None, max_length=5),
    cursor: str | None = Query(default=None, max_length=64),
    api: PublicApi = Depends(signed_in_api),
) -> HTMLResponse:
    filters: dict[str, Any] = {
        "category": category or None,
        "q": q or None,
        "min_price": _price(min_price, "Min price"),
        "max_price": _price(max_price, "Max price"),
        "in_stock": "true" if in_stock == "true" else None,
    }
    page, categories = await asyncio.gather(
        api.products(**filters, cursor=cursor, limit=24), api.categories()
    )
    current = next((c for c in categories if category in (c["slug"], c["id"])), None)
    context = {
        "products": page["items"],
        "next_cursor": page.get("next_cursor"),
        "categories": categories,
        "current": current,
        "filters": filters,
        "nav": "shop",
    }
    template = "catalog/product_grid.html" if request.headers.get("HX-Request") else None
    return await render(request, template or "catalog/list.html", context)


async def _quietly(call: Any) -> Any:
    """A part of the page that may be missing (recommendations): None when it fails."""
    try:
        return await call
    except (ApiError, ApiUnavailable):
        return None


@router.get("/products/{product_id}", response_class=HTMLResponse)
async def product_page(
    request: Request, product_id: str, api: PublicApi = Depends(signed_in_api)
) -> HTMLResponse:
    product = await api.product(_uuid(product_id))
    similar, together = await asyncio.gather(
        _quietly(api.recommendations(product_id=product["id"], strategy="similar", k=4)),
        _quietly(api.recommendations(product_id=product["id"], strategy="bought_together", k=4)),
    )
    return await render(
        request,
        "catalog/product.html",
        {
            "product": product,
            "similar": (similar or {}).get("results", []),
            "together": (together or {}).get("results", []),
            "nav": "shop",
        },
    )


def _price(value: str | None, label: str) -> Decimal | None:
    """A price filter as typed: empty is no filter; anything but an amount is a 422."""
    if value is None or not value.strip():
        return None
    try:
        amount = Decimal(value.strip())
    except InvalidOperation:
        amount = Decimal(-1)
    if not amount.is_finite() or amount < 0:
        raise RequestValidationError(
            [{"loc": ("query", label), "msg": "must be an amount of 0 or more", "type": "value"}]
        )
    return amount


def _uuid(value: str) -> str:
    """A product id as the API expects it; anything else is a page that does not exist."""
    try:
        return str(UUID(value))
    except ValueError:
        raise HTTPException(status_code=404) from None
