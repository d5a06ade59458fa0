"""Production refuses signing secrets that anyone could know or guess."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from marcus_web.settings import DEV_JWT_SECRET, ServiceSettings

STRONG = "p" * 32


def test_development_accepts_the_published_secret() -> None:
    assert ServiceSettings(deployment="development").jwt_secret == DEV_JWT_SECRET


@pytest.mark.parametrize("secret", [DEV_JWT_SECRET, "short-secret"])
def test_production_refuses_known_or_short_secrets(secret: str) -> None:
    with pytest.raises(ValidationError, match="JWT_SECRET"):
        ServiceSettings(deployment="production", jwt_secret=secret)


def test_production_accepts_a_long_secret_or_jwks() -> None:
    assert ServiceSettings(deployment="production", jwt_secret=STRONG).jwt_secret == STRONG
    jwks = ServiceSettings(deployment="production", jwks_url="https://idp.example/jwks")
    assert jwks.jwks_url == "https://idp.example/jwks"


def test_production_is_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEPLOYMENT", "production")
    monkeypatch.delenv("JWT_SECRET", raising=False)
    monkeypatch.delenv("JWKS_URL", raising=False)
    with pytest.raises(ValidationError, match="development JWT_SECRET"):
        ServiceSettings(_env_file=None)  # type: ignore[call-arg]
