"""Browsing: the home page (categories), product lists with filters, the product page
with similar items and 'bought together'."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

from fastapi import APIRouter, Depends, Query, Request
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
    min_price: Decimal | None = Query(default=None, ge=0),
    max_price: Decimal | None = Query(default=None, ge=0),
    in_stock: bool | None = None,
    cursor: str | None = Query(default=None, max_length=64),
    api: PublicApi = Depends(signed_in_api),
) -> HTMLResponse:
    filters: dict[str, Any] = {
        "category": category,
        "q": q,
        "min_price": min_price,
        "max_price": max_price,
        "in_stock": "true" if in_stock else None,
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
