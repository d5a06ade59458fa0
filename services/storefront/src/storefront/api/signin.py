"""Demo sign-in: pick a sample customer; the storefront mints a development token.

Only where the development JWT secret is allowed (`DEPLOYMENT=development`, no
JWKS_URL): elsewhere the page says sign-in needs the identity provider and the mint
endpoint answers 404, so no deployment can hand out tokens by a button.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from marcus_web.auth import mint_token
from storefront.pages import error_page, render
from storefront.session import SESSION_COOKIE, check_csrf
from storefront.settings import StorefrontSettings

router = APIRouter(tags=["signin"])


def _safe_next(target: str | None) -> str:
    """Only a path of this site (never `//elsewhere` or a URL): no open redirect."""
    if target and target.startswith("/") and not target.startswith("//"):
        return target
    return "/"


@router.get("/signin", response_class=HTMLResponse)
async def signin_page(request: Request, next: str = "/") -> HTMLResponse:
    settings: StorefrontSettings = request.app.state.settings
    return await render(
        request,
        "signin/page.html",
        {"accounts": settings.sample_users, "next": _safe_next(next), "nav": "signin"},
    )


@router.post("/signin", dependencies=[Depends(check_csrf)])
async def sign_in(request: Request) -> Response:
    settings: StorefrontSettings = request.app.state.settings
    if not settings.dev_sign_in:
        return await error_page(
            request, 404, "Not found", "Sign-in needs the identity provider here."
        )
    form = await request.form()
    subject = str(form.get("subject") or "")
    account = next((a for a in settings.sample_users if a.subject == subject), None)
    if account is None:
        return await error_page(
            request, 422, "Unknown account", "Pick one of the sample accounts listed."
        )
    token = mint_token(
        account.subject,
        account.roles,
        secret=settings.jwt_secret,
        ttl_seconds=settings.token_ttl_s,
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
        email=account.email,
    )
    response = RedirectResponse(_safe_next(str(form.get("next") or "/")), status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=settings.token_ttl_s,
        httponly=True,
        samesite="lax",
        secure=settings.cookie_secure,
        path="/",
    )
    return response


@router.post("/signout", dependencies=[Depends(check_csrf)])
async def sign_out(request: Request) -> Response:
    response = RedirectResponse("/", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response
