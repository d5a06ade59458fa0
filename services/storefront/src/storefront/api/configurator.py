"""The configurator: pick a configurable product's options part by part; every change
asks the catalog for a quote (htmx), which prices the build or names each rule the
selection breaks, as the customer picks. The catalog's quote is the only pricing there is:
the page never computes a price itself."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from storefront.api.catalog import _uuid
from storefront.client import ApiError, PublicApi
from storefront.forms import form_of, option_ids
from storefront.pages import render, signed_in_api
from storefront.session import check_csrf

router = APIRouter(tags=["configurator"])

MAX_PAGES = 10
"""The product list is paged (100 a page); the configurable ones are found among them."""


@router.get("/configure", response_class=HTMLResponse)
async def configurable_list(
    request: Request, api: PublicApi = Depends(signed_in_api)
) -> HTMLResponse:
    found: list[dict[str, Any]] = []
    cursor = None
    for _ in range(MAX_PAGES):
        page = await api.products(limit=100, cursor=cursor)
        found += [p for p in page["items"] if p.get("kind") == "configurable"]
        cursor = page.get("next_cursor")
        if not cursor:
            break
    return await render(request, "configurator/list.html", {"products": found, "nav": "configure"})


@router.get("/configure/{product_id}", response_class=HTMLResponse)
async def configurator(
    request: Request, product_id: str, api: PublicApi = Depends(signed_in_api)
) -> HTMLResponse:
    product = await api.product(_uuid(product_id))
    parts = sorted(product.get("parts") or [], key=lambda p: p.get("position", 0))
    return await render(
        request,
        "configurator/page.html",
        {"product": product, "parts": parts, "quote": None, "nav": "configure"},
    )


@router.post(
    "/configure/{product_id}/quote",
    response_class=HTMLResponse,
    dependencies=[Depends(check_csrf)],
)
async def live_quote(
    request: Request, product_id: str, api: PublicApi = Depends(signed_in_api)
) -> Response:
    product = await api.product(_uuid(product_id))
    chosen = option_ids(await form_of(request))
    return await render(
        request, "configurator/quote.html", await quote_context(api, product, chosen)
    )


async def quote_context(
    api: PublicApi, product: dict[str, Any], chosen: list[str]
) -> dict[str, Any]:
    """The quote of a selection, or the rules it breaks and the parts still to choose."""
    parts = product.get("parts") or []
    picked_parts = {
        o["part_id"] for part in parts for o in part.get("options", []) if o["id"] in chosen
    }
    missing = [p["name"] for p in parts if p.get("required") and p["id"] not in picked_parts]
    context: dict[str, Any] = {
        "product": product,
        "chosen": chosen,
        "missing": missing,
        "quote": None,
        "broken": [],
    }
    try:
        context["quote"] = await api.quote(product["id"], chosen)
    except ApiError as exc:
        if exc.status != 422:
            raise
        violations = [e for e in exc.errors if isinstance(e, dict)]
        # A part not chosen yet is not a broken rule: the page lists it as still to choose.
        context["broken"] = [
            str(e.get("msg")) for e in violations if e.get("type") != "required_part"
        ]
        if not violations:
            context["broken"] = [exc.detail]
    return context
