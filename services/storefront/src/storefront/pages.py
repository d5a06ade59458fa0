"""Rendering pages: the Jinja2 environment, the context every page gets, and errors shown
to the customer in words (an HTML page, or a fragment for an htmx request)."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from starlette.exceptions import HTTPException as StarletteHTTPException

from storefront.client import ApiError, ApiUnavailable, PublicApi
from storefront.session import (
    CSRF_HEADER,
    AdminRequired,
    CsrfRejected,
    SignInRequired,
    User,
    csrf_token,
    current_user,
    require_user,
)

TEMPLATES = Jinja2Templates(directory=str(Path(__file__).resolve().parent / "templates"))


def money(value: Any, currency: str = "EUR") -> str:
    """`12.5` -> `€12.50` (the API's amounts are decimal strings)."""
    try:
        amount = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return str(value)
    symbol = {"EUR": "€", "USD": "$", "GBP": "£"}.get(currency, f"{currency} ")
    return f"{symbol}{amount:,.2f}"


REFERENCE = re.compile(r"\s*\[product:[^\]]*\]", re.IGNORECASE)


def without_references(text: str) -> str:
    """The assistant's `[product:<id>]` references are for machines: the cited products
    are shown as cards under the reply."""
    return REFERENCE.sub("", text)


TEMPLATES.env.filters["money"] = money
TEMPLATES.env.filters["without_references"] = without_references
TEMPLATES.env.globals["CSRF_HEADER"] = CSRF_HEADER


def is_htmx(request: Request) -> bool:
    return request.headers.get("HX-Request") == "true"


def api(request: Request) -> PublicApi:
    """The public API as the signed-in user (FastAPI dependency; the token is read by
    `render`'s `current_user` and kept on request.state)."""
    user = getattr(request.state, "user", None)
    return PublicApi(
        request.app.state.http,
        token=user.token if user else None,
        request_id=request.headers.get("X-Request-ID"),
        chat_timeout_s=request.app.state.settings.chat_timeout_s,
    )


async def signed_in_api(request: Request) -> PublicApi:
    """FastAPI dependency: the API as whoever is signed in (anonymous when nobody is)."""
    await current_user(request)
    return api(request)


async def customer_api(request: Request, user: User = Depends(require_user)) -> PublicApi:
    """FastAPI dependency of the pages that need a signed-in user: the API as them (nobody
    signed in: `SignInRequired`, answered with the way to the sign-in page)."""
    return api(request)


CustomerApi = Annotated[PublicApi, Depends(customer_api)]
"""A route's `api` parameter on the pages of a signed-in customer."""

ShortParam = Annotated[str | None, Query(max_length=64)]
"""An optional query parameter of at most 64 characters (an id, a page's cursor)."""


async def render(
    request: Request,
    template: str,
    context: dict[str, Any] | None = None,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
) -> HTMLResponse:
    """A template with what every page needs: the user, the CSRF value, the settings."""
    settings = request.app.state.settings
    full = {
        "request": request,
        "user": await current_user(request),
        "csrf": csrf_token(request),
        "dev_sign_in": settings.dev_sign_in,
        "htmx": is_htmx(request),
        **(context or {}),
    }
    return TEMPLATES.TemplateResponse(
        request, template, full, status_code=status_code, headers=headers
    )


async def fragment(request: Request, template: str, context: dict[str, Any]) -> str:
    """A template rendered to a string (a piece of a streamed answer), with the same
    context `render` gives."""
    full = {
        "request": request,
        "user": await current_user(request),
        "csrf": csrf_token(request),
        **context,
    }
    return TEMPLATES.get_template(template).render(full)


async def error_page(
    request: Request, status: int, title: str, detail: str, retry: bool = False
) -> HTMLResponse:
    """An error in words: the whole page, or (htmx) a fragment into the page's alert area."""
    context = {"status": status, "title": title, "detail": detail, "retry": retry}
    if is_htmx(request):
        headers = {"HX-Retarget": "#alerts", "HX-Reswap": "innerHTML"}
        return await render(request, "partials/alert.html", context, status, headers)
    return await render(request, "error.html", context, status)


async def htmx_or_redirect(
    request: Request, template: str, context: dict[str, Any], target: str
) -> Response:
    """After a form: htmx gets the template (a piece of the page); a plain form, a 303 to
    `target`."""
    if is_htmx(request):
        return await render(request, template, context)
    return RedirectResponse(target, status_code=303)


async def please_check(request: Request, detail: str) -> HTMLResponse:
    """A form the customer should correct (422), in words."""
    return await error_page(request, 422, "Please check the form", detail)


def install_error_pages(app: FastAPI) -> None:
    """API refusals, an unavailable API, sign-in and CSRF errors, 404s: pages in words."""

    async def on_api_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ApiError)
        status = exc.status if exc.status in (400, 404, 409, 410, 412, 422, 429) else 400
        if exc.status in (401,):
            return await on_sign_in(request, exc)
        if exc.status == 403:
            status = 403
        return await error_page(request, status, exc.title, exc.detail)

    async def on_unavailable(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ApiUnavailable)
        response = await error_page(
            request,
            503,
            "The shop is busy",
            "Part of the shop did not answer. Nothing was lost: please try again in a moment.",
            retry=True,
        )
        response.headers["Retry-After"] = exc.retry_after or "2"
        return response

    async def on_sign_in(request: Request, exc: Exception) -> Response:
        target = f"/signin?next={request.url.path}"
        if is_htmx(request):
            return Response(status_code=204, headers={"HX-Redirect": target})
        return RedirectResponse(target, status_code=303)

    async def on_admin(request: Request, exc: Exception) -> Response:
        return await error_page(request, 403, "Admins only", "This page needs the admin role.")

    async def on_csrf(request: Request, exc: Exception) -> Response:
        return await error_page(
            request,
            403,
            "The form has expired",
            "This request did not come from a page of the shop. Reload the page and try again.",
        )

    async def on_http(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        words = {404: ("Not found", "There is no such page in the shop.")}
        title, detail = words.get(exc.status_code, ("Error", str(exc.detail)))
        return await error_page(request, exc.status_code, title, detail)

    app.add_exception_handler(ApiError, on_api_error)
    app.add_exception_handler(ApiUnavailable, on_unavailable)
    app.add_exception_handler(SignInRequired, on_sign_in)
    app.add_exception_handler(AdminRequired, on_admin)
    app.add_exception_handler(CsrfRejected, on_csrf)

    async def on_invalid(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        fields = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'][1:]) or 'input'}: {e['msg']}" for e in exc.errors()
        )
        return await please_check(request, fields)

    app.add_exception_handler(StarletteHTTPException, on_http)
    app.add_exception_handler(RequestValidationError, on_invalid)
