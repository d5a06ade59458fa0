"""Who is signed in: the bearer token kept in an HttpOnly cookie, and CSRF protection.

The cookie holds the token the public API checks; the storefront verifies it with the
same JWT settings as the services only to know whom to greet (an expired or forged one
counts as signed out). Authority stays with the API: every call sends the token on.

CSRF: the session cookie is `SameSite=Lax` (never sent on a cross-site POST), and every
state-changing request must also echo a per-browser random value (double submit): htmx
sends it as the `X-CSRF-Token` header (`hx-headers` on `<body>`), plain forms as the
hidden `csrf` field. A cross-site page can neither read the value nor set the header.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass, field

from fastapi import Request

from marcus_web.auth import TokenVerifier
from marcus_web.problems import Problem

SESSION_COOKIE = "marcus_session"
CSRF_COOKIE = "marcus_csrf"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass(frozen=True)
class User:
    """The signed-in customer (or admin), as their token says."""

    subject: str
    token: str
    roles: frozenset[str] = field(default_factory=frozenset)
    email: str | None = None

    @property
    def is_admin(self) -> bool:
        return "admin" in self.roles


class SignInRequired(Exception):
    """The page needs a signed-in user; answered with a redirect to /signin."""


class CsrfRejected(Exception):
    """A state-changing request without the browser's CSRF value: 403."""


async def current_user(request: Request) -> User | None:
    """The signed-in user, or None (no cookie, or a token that no longer verifies)."""
    if hasattr(request.state, "user"):
        cached: User | None = request.state.user
        return cached
    user = None
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        verifier: TokenVerifier = request.app.state.token_verifier
        try:
            principal = await verifier.verify(token)
        except Problem:
            principal = None
        if principal is not None:
            user = User(principal.subject, token, principal.roles, principal.email)
    request.state.user = user
    return user


async def require_user(request: Request) -> User:
    """FastAPI dependency of the pages that need a signed-in user."""
    user = await current_user(request)
    if user is None:
        raise SignInRequired()
    return user


class AdminRequired(Exception):
    """A signed-in customer opened an admin page: 403 (the API would refuse it too)."""


async def require_admin(request: Request) -> User:
    """FastAPI dependency of the admin pages: a signed-in user with the admin role."""
    user = await require_user(request)
    if not user.is_admin:
        raise AdminRequired()
    return user


def csrf_token(request: Request) -> str:
    """This browser's CSRF value (storefront.csrf sets a new browser's cookie)."""
    return str(request.cookies.get(CSRF_COOKIE) or getattr(request.state, "new_csrf", ""))


async def check_csrf(request: Request) -> None:
    """FastAPI dependency of every state-changing route (the routers declare it)."""
    if request.method in SAFE_METHODS:
        return
    expected = request.cookies.get(CSRF_COOKIE)
    sent = request.headers.get(CSRF_HEADER)
    if sent is None and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        form = await request.form()
        value = form.get(CSRF_FIELD)
        sent = value if isinstance(value, str) else None
    if not expected or not sent or not hmac.compare_digest(expected, sent):
        raise CsrfRejected()
