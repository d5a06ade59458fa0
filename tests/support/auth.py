"""Bearer headers for tests: one way to mint an admin's, a customer's or any subject's
token, instead of a `mint_token(...)` line copied into every suite.

Every helper takes the JWT secret of the services under test; `SECRET` is the default
the root conftest's `jwt_secret` fixture hands out (a suite that runs its services with
another secret overrides that fixture, or passes `secret=`). `marcus_web` is imported
when a token is minted, not when this module is, so unit tests stay cheap.
"""

from __future__ import annotations

SECRET = "marcus-tests-secret-0123456789abcdef"
"""JWT secret of services started by tests unless a suite picks its own (>= 32 bytes)."""

ADMIN = "ops"
CUSTOMER = "alice"


def bearer(
    subject: str, *roles: str, secret: str = SECRET, email: str | None = None
) -> dict[str, str]:
    """`Authorization: Bearer <token>` for `subject` with `roles` (HS256, one hour)."""
    from marcus_web.auth import mint_token

    token = mint_token(subject, list(roles), secret=secret, email=email)
    return {"Authorization": f"Bearer {token}"}


def admin_headers(secret: str = SECRET, subject: str = ADMIN) -> dict[str, str]:
    """An operator's headers: the `admin` role, which every admin route asks for."""
    return bearer(subject, "admin", secret=secret)


def customer_headers(
    subject: str = CUSTOMER, secret: str = SECRET, email: str | None = None
) -> dict[str, str]:
    """A customer's headers: no role, `subject` is the customer the service sees."""
    return bearer(subject, secret=secret, email=email)
