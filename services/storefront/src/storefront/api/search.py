"""Search by meaning: the query as typed, the constraints the API read from it (price
cap, category, stock) shown so the customer sees why these results, and the results."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse

from storefront.client import PublicApi
from storefront.pages import render, signed_in_api

router = APIRouter(tags=["search"])


@router.get("/search", response_class=HTMLResponse)
async def search_page(
    request: Request,
    q: str = Query(default="", max_length=500),
    api: PublicApi = Depends(signed_in_api),
) -> HTMLResponse:
    query = q.strip()
    found = await api.search(query, k=12) if query else None
    return await render(
        request,
        "search/page.html",
        {"query": query, "found": found, "nav": "shop"},
    )
