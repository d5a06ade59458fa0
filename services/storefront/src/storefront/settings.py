"""Storefront settings: the shared service settings (JWT, deployment, logging) plus where
the public API is and who the demo sign-in offers."""

from __future__ import annotations

from pydantic import BaseModel, Field

from marcus_web.settings import ServiceSettings

SERVICE = "storefront"


class SampleUser(BaseModel):
    """A demo account the sign-in page offers (development tokens only)."""

    subject: str
    name: str
    email: str
    roles: list[str] = Field(default_factory=list)


SAMPLE_USERS = [
    SampleUser(subject="alice", name="Alice Martin", email="alice@example.com"),
    SampleUser(subject="bob", name="Bob Keller", email="bob@example.com"),
    SampleUser(subject="carol", name="Carol Diaz", email="carol@example.com"),
    SampleUser(subject="dev-admin", name="Shop admin", email="admin@example.com", roles=["admin"]),
]
"""`alice` is the customer `make seed` gives a cart; `dev-admin` is `make token`'s default."""


class StorefrontSettings(ServiceSettings):
    port: int = 8007

    public_api_url: str = "http://127.0.0.1:8000"
    """The gateway: every page is built from the public API, as any client would."""
    api_timeout_s: float = Field(default=10.0, gt=0)
    chat_timeout_s: float = Field(default=120.0, gt=0)
    """A chat reply streams for as long as the model writes (the gateway allows 300 s)."""

    cookie_secure: bool = False
    """Send the session cookie over HTTPS only; set it wherever the shop is served over TLS."""
    token_ttl_s: int = Field(default=8 * 3600, ge=60)
    """Lifetime of a demo sign-in's development token."""
    sample_users: list[SampleUser] = Field(default_factory=lambda: list(SAMPLE_USERS))

    @property
    def dev_sign_in(self) -> bool:
        """Development tokens are minted only where the development secret is allowed."""
        return self.deployment == "development" and not self.jwks_url
