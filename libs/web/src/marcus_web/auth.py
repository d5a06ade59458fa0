"""Bearer-JWT authentication: HS256 with a shared secret in development, JWKS in production.

`sub` is the customer; the `roles` claim (a list, or one space-separated string) grants
`admin`; `email` (optional) is the address the identity provider vouches for. Tokens
signed with another key, expired tokens and `alg: none` are all refused with 401.

- **Claims are input.** A signature proves who issued a token, not that its claims are
  storable: `sub`, `email` and `roles` are validated like any request field (type, length,
  no control characters, NUL or unpaired surrogates; `email` a valid address), and a token
  whose claims are not is refused with 401 and a detail naming the claim.
- **Clock skew.** `exp`, `nbf` and `iat` are checked with `JWT_LEEWAY_S` seconds of leeway
  (default 30): an identity provider's clock a little ahead is not an outage.
- **JWKS off the event loop.** The keys are cached (`JWKS_CACHE_S`); a request whose `kid`
  is in the cache verifies without I/O. A fetch (cache expired, or an unknown `kid`: a
  rotation) runs in a worker thread with a timeout (`JWKS_TIMEOUT_S`), one at a time per
  process, and unknown `kid`s refresh at most once per `JWKS_COOLDOWN_S`. When the
  provider cannot be reached, keys from the expired cache are still used; without them
  the answer is 503.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any

import jwt
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    EmailStr,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
)

from marcus_web.problems import Problem
from marcus_web.settings import ServiceSettings

log = logging.getLogger("marcus.web.auth")

ADMIN = "admin"
MAX_ROLES = 64
_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")


def _printable(value: str) -> str:
    """No C0/C1 control characters (NUL included), DEL or unpaired surrogates."""
    if _UNPRINTABLE.search(value):
        raise ValueError("must not contain control characters, NUL or unpaired surrogates")
    return value


Subject = Annotated[
    str, StringConstraints(min_length=1, max_length=255), AfterValidator(_printable)
]
Role = Annotated[str, StringConstraints(min_length=1, max_length=128), AfterValidator(_printable)]


@dataclass(frozen=True)
class Principal:
    subject: str
    roles: frozenset[str] = field(default_factory=frozenset)
    email: str | None = None
    """The token's `email` claim (validated), when it has one."""
    email_verified: bool | None = None
    """The token's `email_verified` claim (OpenID Connect), when it has one."""

    @property
    def is_admin(self) -> bool:
        return ADMIN in self.roles


class Claims(BaseModel):
    """The claims a service reads, validated as strictly as a request body."""

    model_config = ConfigDict(extra="ignore", strict=True)

    sub: Subject
    roles: list[Role] = Field(default_factory=list, max_length=MAX_ROLES)
    email: EmailStr | None = Field(default=None, max_length=320)
    email_verified: bool | None = None

    @field_validator("roles", mode="before")
    @classmethod
    def _space_separated(cls, value: Any) -> Any:
        return value.split() if isinstance(value, str) else value

    @field_validator("email", mode="before")
    @classmethod
    def _printable_email(cls, value: Any) -> Any:
        return _printable(value) if isinstance(value, str) else value


def principal_from_claims(claims: dict[str, Any]) -> Principal:
    """The caller a token's (verified) claims name; invalid claims are a 401."""
    try:
        valid = Claims.model_validate(claims)
    except ValidationError as exc:
        first = exc.errors()[0]
        name = first["loc"][0] if first["loc"] else "sub"
        why = first["msg"].removeprefix("Value error, ").rstrip(".")
        raise _unauthorized(f"The token's `{name}` claim is not valid: {why}.") from None
    return Principal(
        subject=valid.sub,
        roles=frozenset(valid.roles),
        email=valid.email,
        email_verified=valid.email_verified,
    )


class JwksKeys:
    """An identity provider's signing keys, fetched off the event loop and cached."""

    def __init__(self, url: str, *, timeout_s: float, cache_s: float, cooldown_s: float) -> None:
        self._client = jwt.PyJWKClient(
            url, lifespan=cache_s, timeout=timeout_s, cooldown_duration=cooldown_s
        )
        self._fetching = asyncio.Lock()

    def _cached(self, kid: str, *, stale: bool = False) -> jwt.PyJWK | None:
        cache = self._client.jwk_set_cache
        if cache is None:
            return None
        if stale:
            held = cache.jwk_set_with_timestamp
            keys = held.get_jwk_set() if held is not None else None
        else:
            keys = cache.get()
        if keys is None:
            return None
        for key in keys.keys:
            if key.key_id == kid and key.public_key_use in ("sig", None):
                return key
        return None

    async def key(self, token: str) -> jwt.PyJWK:
        kid = jwt.get_unverified_header(token).get("kid")
        if not isinstance(kid, str):
            raise jwt.InvalidTokenError("its header names no signing key (`kid`)")
        found = self._cached(kid)
        if found is not None:
            return found
        async with self._fetching:  # one fetch at a time; the others wait for its result
            found = self._cached(kid)
            if found is not None:
                return found
            try:
                return await asyncio.to_thread(self._client.get_signing_key, kid)
            except jwt.PyJWKClientConnectionError:
                stale = self._cached(kid, stale=True)
                if stale is None:
                    raise
                log.warning("identity provider unreachable: using its last known keys")
                return stale


VERIFIED_KEPT = 4096
"""Tokens verified with the shared secret remembered per process (`TokenVerifier`)."""


class TokenVerifier:
    """Verifies tokens against a JWKS endpoint when configured, else the shared secret.

    A token verified with the shared secret is remembered until it expires: its signature
    and claims cannot change, and the secret is fixed for the process, so only the expiry
    is checked again (as jwt.decode does, with the leeway); not-before and issued-at,
    passed once, stay passed. Decoding and checking the HMAC again cost every request
    (every admin write) a few percent of its CPU. JWKS keys rotate: those tokens are
    verified every time."""

    def __init__(self, settings: ServiceSettings) -> None:
        self._settings = settings
        self._verified: dict[str, tuple[Principal, float]] = {}
        self._jwks = (
            JwksKeys(
                settings.jwks_url,
                timeout_s=settings.jwks_timeout_s,
                cache_s=settings.jwks_cache_s,
                cooldown_s=settings.jwks_cooldown_s,
            )
            if settings.jwks_url
            else None
        )

    async def verify(self, token: str) -> Principal:
        remembered = self._verified.get(token)
        if remembered is not None:
            principal, expires = remembered
            if expires > time.time() - self._settings.jwt_leeway_s:
                return principal
            del self._verified[token]
        s = self._settings
        key: Any = s.jwt_secret
        algorithms = list(s.jwt_algorithms)
        try:
            if self._jwks is not None:
                key = (await self._jwks.key(token)).key
                algorithms = [a for a in algorithms if not a.startswith("HS")] or ["RS256"]
            claims = jwt.decode(
                token,
                key,
                algorithms=algorithms,
                issuer=s.jwt_issuer,
                audience=s.jwt_audience,
                leeway=s.jwt_leeway_s,
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
        principal = principal_from_claims(claims)
        if self._jwks is None:
            if len(self._verified) >= VERIFIED_KEPT:
                self._verified.clear()
            self._verified[token] = (principal, float(claims["exp"]))
        return principal


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
    email: str | None = None,
    issued_at: int | None = None,
) -> str:
    """A development token (HS256); production tokens come from an identity provider."""
    now = int(time.time()) if issued_at is None else issued_at
    claims: dict[str, Any] = {"sub": subject, "roles": list(roles), "iat": now}
    claims["exp"] = now + ttl_seconds
    if email:
        claims["email"] = email
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
    return await _verifier(request).verify(credentials.credentials)


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
