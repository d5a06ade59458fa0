"""Bearer-token verification: HS256 for development, JWKS (RS256) for a real provider."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer, ThreadingHTTPServer

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from marcus_web.auth import Principal, TokenVerifier, mint_token
from marcus_web.problems import Problem
from marcus_web.settings import ServiceSettings

SECRET = "web-tests-secret-0123456789abcdefghij"


def verifier(**overrides: object) -> TokenVerifier:
    return TokenVerifier(ServiceSettings(jwt_secret=SECRET, **overrides))  # type: ignore[arg-type]


def verify(token: str, v: TokenVerifier | None = None) -> Principal:
    """`TokenVerifier.verify` from synchronous code (each call on a loop of its own)."""
    return asyncio.run((v or verifier()).verify(token))


def rejected(token: str, v: TokenVerifier | None = None) -> Problem:
    with pytest.raises(Problem) as caught:
        verify(token, v)
    assert caught.value.status == 401
    return caught.value


def test_a_valid_development_token() -> None:
    principal = verify(mint_token("alice", ["admin"], secret=SECRET))
    assert principal.subject == "alice"
    assert principal.is_admin


def test_a_customer_token_is_not_admin() -> None:
    assert not verify(mint_token("bob", [], secret=SECRET)).is_admin


def test_expired_forged_and_unsigned_tokens_are_refused() -> None:
    expired = mint_token("alice", ["admin"], secret=SECRET, ttl_seconds=-120)
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
    assert verify(good, v).subject == "a"
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
    assert verify(token, v).subject == "carol"
    # A development HS256 token is worthless once a real provider is configured.
    rejected(mint_token("carol", ["admin"], secret=SECRET), v)


def test_an_unreachable_identity_provider_is_a_503_not_a_401() -> None:
    v = verifier(jwks_url="http://127.0.0.1:9/jwks.json", jwt_algorithms=["RS256"])
    with pytest.raises(Problem) as caught:
        verify(jwt.encode({"sub": "a"}, SECRET, algorithm="HS256", headers={"kid": "k9"}), v)
    assert caught.value.status == 503


# --- finding 2 (issue 19): claims are input ---------------------------------------------------

HOSTILE_CLAIMS = {
    "NUL in sub": {"sub": "alice\x00"},
    "control character in sub": {"sub": "alice\x1b[31m"},
    "lone surrogate in sub": {"sub": "alice\ud800"},
    "empty sub": {"sub": ""},
    "overlong sub": {"sub": "a" * 256},
    "number as sub": {"sub": 12345},
    "object as sub": {"sub": {"id": "alice"}},
    "NUL in a role": {"sub": "alice", "roles": ["admin\x00"]},
    "number as a role": {"sub": "alice", "roles": [1]},
    "object as roles": {"sub": "alice", "roles": {"admin": True}},
    "too many roles": {"sub": "alice", "roles": [f"r{i}" for i in range(1000)]},
    "NUL in email": {"sub": "alice", "email": "alice\x00@example.com"},
    "not an email": {"sub": "alice", "email": "alice"},
    "number as email": {"sub": "alice", "email": 7},
    "string as email_verified": {"sub": "alice", "email_verified": "yes"},
}


@pytest.mark.parametrize("claims", HOSTILE_CLAIMS.values(), ids=HOSTILE_CLAIMS.keys())
def test_finding_2_hostile_claims_in_a_validly_signed_token_are_401(claims: dict) -> None:
    token = jwt.encode({**claims, "exp": int(time.time()) + 60}, SECRET, algorithm="HS256")
    problem = rejected(token)
    name = next(iter(k for k in claims if k != "sub"), "sub")
    detail = problem.detail or ""
    # PyJWT checks the type of `sub` itself ("Subject must be a string"); the rest is ours.
    assert f"`{name}` claim is not valid" in detail or "Subject must be" in detail, detail
    assert problem.headers and "invalid_token" in problem.headers["WWW-Authenticate"]


def test_finding_2_valid_claims_are_read_email_included() -> None:
    claims = {
        "sub": "alice-ü 42",
        "roles": "admin support",
        "email": "Alice@Example.com",
        "email_verified": True,
        "exp": int(time.time()) + 60,
    }
    principal = verify(jwt.encode(claims, SECRET, algorithm="HS256"))
    assert principal.subject == "alice-ü 42"
    assert principal.roles == {"admin", "support"}
    assert principal.email == "Alice@example.com"  # the domain is normalised
    assert principal.email_verified is True
    assert verify(mint_token("bob", [], secret=SECRET, email="bob@example.com")).email == (
        "bob@example.com"
    )


# --- finding 4 (issue 19): clock skew and JWKS off the event loop ------------------------------


def test_finding_4_clock_skew_within_the_leeway_is_accepted() -> None:
    now = int(time.time())
    ahead = mint_token("alice", [], secret=SECRET, issued_at=now + 2)  # the IdP's clock is ahead
    assert verify(ahead).subject == "alice"
    just_expired = mint_token("alice", [], secret=SECRET, issued_at=now - 65, ttl_seconds=60)
    assert verify(just_expired).subject == "alice"
    strict = verifier(jwt_leeway_s=0)
    assert "not yet valid" in (rejected(ahead, strict).detail or "")
    far_ahead = mint_token("alice", [], secret=SECRET, issued_at=now + 600)
    assert "not yet valid" in (rejected(far_ahead).detail or "")
    assert "expired" in (
        rejected(mint_token("a", [], secret=SECRET, ttl_seconds=-600)).detail or ""
    )


def test_a_verified_token_is_remembered_until_it_expires(monkeypatch: pytest.MonkeyPatch) -> None:
    """The shared-secret path answers a token it verified from memory, and checks its
    expiry again on every use."""
    v = verifier(jwt_leeway_s=0)
    token = mint_token("alice", ["admin"], secret=SECRET, ttl_seconds=2)
    first = verify(token, v)
    decodes = 0
    decode = jwt.decode

    def counting(*args: object, **kwargs: object) -> object:
        nonlocal decodes
        decodes += 1
        return decode(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(jwt, "decode", counting)
    assert verify(token, v) is first
    assert decodes == 0
    expires = jwt.decode(token, options={"verify_signature": False})["exp"]
    time.sleep(max(0.0, expires - time.time()) + 0.05)
    assert "expired" in (rejected(token, v).detail or "")  # verified again: refused
    assert decodes == 2
    forged = mint_token("alice", ["admin"], secret="another-secret-0123456789abcdefghij")
    rejected(forged, v)
    rejected(forged, v)  # a refused token is never remembered
    assert decodes == 4


class GatedJwks:
    """A JWKS endpoint that answers only once `gate` is set, counting the requests."""

    def __init__(self) -> None:
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key()))
        self.body = json.dumps({"keys": [{**jwk, "kid": "k1", "use": "sig", "alg": "RS256"}]})
        self.gate = threading.Event()
        self.arrived = threading.Event()
        self.requests = 0
        self.answering = True
        self.url = ""

    def token(self, subject: str, kid: str = "k1") -> str:
        claims = {"sub": subject, "exp": int(time.time()) + 60}
        return jwt.encode(claims, self.key, algorithm="RS256", headers={"kid": kid})


@pytest.fixture
def gated_jwks() -> Iterator[GatedJwks]:
    jwks = GatedJwks()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            jwks.requests += 1
            jwks.arrived.set()
            jwks.gate.wait(30)
            if not jwks.answering:
                self.send_response(503)
                self.end_headers()
                return
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(jwks.body.encode())

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    jwks.url = f"http://127.0.0.1:{server.server_port}/jwks.json"
    yield jwks
    jwks.gate.set()
    server.shutdown()


async def test_finding_4_a_jwks_fetch_does_not_block_the_event_loop(gated_jwks: GatedJwks) -> None:
    """While the provider is slow to answer, the loop keeps serving; concurrent requests
    share one fetch; once cached, keys are used without any request."""
    v = verifier(jwks_url=gated_jwks.url, jwt_algorithms=["RS256"])
    waiting = [asyncio.create_task(v.verify(gated_jwks.token(f"c{i}"))) for i in range(5)]
    # Waiting in a worker thread needs the loop to run while the fetch is under way.
    assert await asyncio.to_thread(gated_jwks.arrived.wait, 30)
    ticks = 0
    for _ in range(10):
        await asyncio.sleep(0)
        ticks += 1
    assert ticks == 10 and not any(task.done() for task in waiting)
    gated_jwks.gate.set()
    assert [p.subject for p in await asyncio.gather(*waiting)] == [f"c{i}" for i in range(5)]
    assert gated_jwks.requests == 1  # one fetch for the five
    assert (await v.verify(gated_jwks.token("later"))).subject == "later"
    assert gated_jwks.requests == 1  # cached


async def test_finding_4_a_jwks_fetch_has_a_timeout_and_unknown_kids_a_cooldown(
    gated_jwks: GatedJwks,
) -> None:
    v = verifier(jwks_url=gated_jwks.url, jwt_algorithms=["RS256"], jwks_timeout_s=0.2)
    with pytest.raises(Problem) as caught:
        await v.verify(gated_jwks.token("a"))  # the provider never answers in time
    assert caught.value.status == 503
    gated_jwks.gate.set()
    assert (await v.verify(gated_jwks.token("a"))).subject == "a"
    fetched = gated_jwks.requests
    for _ in range(5):  # a forger's made-up key ids cannot make us hammer the provider
        with pytest.raises(Problem) as caught:
            await v.verify(gated_jwks.token("a", kid="made-up"))
        assert caught.value.status == 401
    assert gated_jwks.requests <= fetched + 1


async def test_finding_4_expired_cached_keys_serve_while_the_provider_is_down(
    gated_jwks: GatedJwks,
) -> None:
    v = verifier(jwks_url=gated_jwks.url, jwt_algorithms=["RS256"], jwks_cache_s=0.05)
    gated_jwks.gate.set()
    assert (await v.verify(gated_jwks.token("a"))).subject == "a"
    gated_jwks.answering = False
    before = gated_jwks.requests
    while gated_jwks.requests == before:  # until the cache has expired and a fetch failed
        assert (await v.verify(gated_jwks.token("a"))).subject == "a"
        await asyncio.sleep(0.02)
