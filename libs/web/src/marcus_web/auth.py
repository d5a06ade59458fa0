"""Bearer-JWT authentication: HS256 with a shared secret in development, JWKS in production.

`sub` is the customer; the `roles` claim (a list) grants `admin`. Tokens signed with
another key, expired tokens and `alg: none` are all refused with 401.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any

import jwt
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from marcus_web.problems import Problem
from marcus_web.settings import ServiceSettings

ADMIN = "admin"


@dataclass(frozen=True)
class Principal:
    subject: str
    roles: frozenset[str] = field(default_factory=frozenset)

    @property
    def is_admin(self) -> bool:
        return ADMIN in self.roles


class TokenVerifier:
    """Verifies tokens against a JWKS endpoint when configured, else the shared secret."""

    def __init__(self, settings: ServiceSettings) -> None:
        self._settings = settings
        self._jwks = jwt.PyJWKClient(settings.jwks_url) if settings.jwks_url else None

    def verify(self, token: str) -> Principal:
        s = self._settings
        key: Any = s.jwt_secret
        algorithms = list(s.jwt_algorithms)
        try:
            if self._jwks is not None:
                key = self._jwks.get_signing_key_from_jwt(token).key
                algorithms = [a for a in algorithms if not a.startswith("HS")] or ["RS256"]
            claims = jwt.decode(
                token,
                key,
                algorithms=algorithms,
                issuer=s.jwt_issuer,
                audience=s.jwt_audience,
                options={"require": ["sub", "exp"], "verify_aud": s.jwt_audience is not None},
            )
        except jwt.ExpiredSignatureError:
            raise _unauthorized("The token has expired.") from None
        except jwt.PyJWKClientConnectionError:
            raise Problem(
                503,
                "Service Unavailable",
                "The identity provider's keys cannot be fetched; retry later.",
                headers={"Retry-After": "5"},
            ) from None
        except jwt.PyJWTError as exc:
            raise _unauthorized(f"The token is not valid: {exc}.") from None
        roles = claims.get("roles", [])
        if isinstance(roles, str):
            roles = roles.split()
        return Principal(subject=str(claims["sub"]), roles=frozenset(map(str, roles)))


def _unauthorized(detail: str) -> Problem:
    return Problem(
        401, "Unauthorized", detail, headers={"WWW-Authenticate": 'Bearer error="invalid_token"'}
    )


def mint_token(
    subject: str,
    roles: Sequence[str] = (),
    *,
    secret: str,
    ttl_seconds: int = 3600,
    issuer: str | None = None,
    audience: str | None = None,
) -> str:
    """A development token (HS256); production tokens come from an identity provider."""
    now = int(time.time())
    claims: dict[str, Any] = {"sub": subject, "roles": list(roles), "iat": now}
    claims["exp"] = now + ttl_seconds
    if issuer:
        claims["iss"] = issuer
    if audience:
        claims["aud"] = audience
    return jwt.encode(claims, secret, algorithm="HS256")


_bearer = HTTPBearer(auto_error=False)


def _verifier(request: Request) -> TokenVerifier:
    verifier: TokenVerifier = request.app.state.token_verifier
    return verifier


async def optional_principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal | None:
    if credentials is None:
        return None
    return _verifier(request).verify(credentials.credentials)


async def current_principal(
    principal: Annotated[Principal | None, Depends(optional_principal)],
) -> Principal:
    if principal is None:
        raise Problem(
            401,
            "Unauthorized",
            "This endpoint needs a bearer token.",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return principal


async def admin_principal(
    principal: Annotated[Principal, Depends(current_principal)],
) -> Principal:
    if not principal.is_admin:
        raise Problem(403, "Forbidden", "This endpoint needs the 'admin' role.")
    return principal


Admin = Annotated[Principal, Depends(admin_principal)]
Customer = Annotated[Principal, Depends(current_principal)]
