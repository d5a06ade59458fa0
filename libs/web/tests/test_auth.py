"""Bearer-token verification: HS256 for development, JWKS (RS256) for a real provider."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from marcus_web.auth import TokenVerifier, mint_token
from marcus_web.problems import Problem
from marcus_web.settings import ServiceSettings

SECRET = "web-tests-secret-0123456789abcdefghij"


def verifier(**overrides: object) -> TokenVerifier:
    return TokenVerifier(ServiceSettings(jwt_secret=SECRET, **overrides))  # type: ignore[arg-type]


def rejected(token: str, v: TokenVerifier | None = None) -> Problem:
    with pytest.raises(Problem) as caught:
        (v or verifier()).verify(token)
    assert caught.value.status == 401
    return caught.value


def test_a_valid_development_token() -> None:
    principal = verifier().verify(mint_token("alice", ["admin"], secret=SECRET))
    assert principal.subject == "alice"
    assert principal.is_admin


def test_a_customer_token_is_not_admin() -> None:
    assert not verifier().verify(mint_token("bob", [], secret=SECRET)).is_admin


def test_expired_forged_and_unsigned_tokens_are_refused() -> None:
    expired = mint_token("alice", ["admin"], secret=SECRET, ttl_seconds=-10)
    assert "expired" in (rejected(expired).detail or "")
    rejected(mint_token("alice", ["admin"], secret="another-secret-0123456789abcdefghij"))
    unsigned = jwt.encode(
        {"sub": "alice", "roles": ["admin"], "exp": time.time() + 60}, None, algorithm="none"
    )
    rejected(unsigned)
    rejected("garbage")
    no_expiry = jwt.encode({"sub": "alice", "roles": ["admin"]}, SECRET, algorithm="HS256")
    rejected(no_expiry)


def test_issuer_and_audience_are_checked_when_configured() -> None:
    v = verifier(jwt_issuer="https://id.example", jwt_audience="marcus")
    good = mint_token("a", [], secret=SECRET, issuer="https://id.example", audience="marcus")
    assert v.verify(good).subject == "a"
    rejected(
        mint_token("a", [], secret=SECRET, issuer="https://evil.example", audience="marcus"), v
    )
    rejected(mint_token("a", [], secret=SECRET, issuer="https://id.example", audience="other"), v)


@pytest.fixture
def jwks_server() -> Iterator[tuple[str, rsa.RSAPrivateKey]]:
    """A real JWKS endpoint on a local socket, publishing one RSA public key."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    body = json.dumps({"keys": [{**jwk, "kid": "k1", "use": "sig", "alg": "RS256"}]}).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/.well-known/jwks.json", key
    server.shutdown()


def test_tokens_from_an_identity_provider_via_jwks(jwks_server) -> None:
    url, key = jwks_server
    v = verifier(jwks_url=url, jwt_algorithms=["RS256"])
    claims = {"sub": "carol", "roles": ["admin"], "exp": int(time.time()) + 60}
    token = jwt.encode(claims, key, algorithm="RS256", headers={"kid": "k1"})
    assert v.verify(token).subject == "carol"
    # A development HS256 token is worthless once a real provider is configured.
    rejected(mint_token("carol", ["admin"], secret=SECRET), v)


def test_an_unreachable_identity_provider_is_a_503_not_a_401() -> None:
    v = verifier(jwks_url="http://127.0.0.1:9/jwks.json", jwt_algorithms=["RS256"])
    with pytest.raises(Problem) as caught:
        v.verify(mint_token("a", [], secret=SECRET))
    assert caught.value.status == 503
