"""Where an order's e-mails go: the address the identity provider vouches for.

A request may name an address (`email`); when the token carries a verified one, another
address is refused unless the service allows it (`ALLOW_OTHER_EMAIL`), so a stolen or
shared token cannot send order mail to any inbox (issue 19, finding 10). A token without
an address needs one in the request.
"""

from __future__ import annotations

from fastapi import Request

from marcus_web.auth import Principal
from marcus_web.problems import Problem
from orders.settings import OrdersSettings


def verified_email(principal: Principal) -> str | None:
    """The token's `email` claim, unless the token says it is not verified."""
    email: str | None = getattr(principal, "email", None)
    if not email or getattr(principal, "email_verified", None) is False:
        return None
    return email


def order_email(request: Request, principal: Principal, requested: str | None) -> str:
    settings: OrdersSettings = request.app.state.settings
    verified = verified_email(principal)
    if requested is None:
        if verified is None:
            raise _refused("Your token carries no verified e-mail address: give `email`.")
        return verified
    if verified is None or requested.casefold() == verified.casefold():
        return verified or requested
    if settings.allow_other_email:
        return requested
    raise _refused(
        "Order e-mails go to your account's verified address; this service does not send"
        " them to another one. Leave `email` out, or give that address."
    )


def _refused(message: str) -> Problem:
    return Problem(
        422,
        "Unprocessable Content",
        message,
        errors=[{"loc": ["body", "email"], "msg": message, "type": "email_not_allowed"}],
    )
