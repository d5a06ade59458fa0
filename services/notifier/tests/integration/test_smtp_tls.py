"""Issue 19, finding 9: the notifier uses STARTTLS whenever the SMTP server offers it, and
never sends its credentials over a plain connection. Real SMTP servers (aiosmtpd) on local
sockets, with and without STARTTLS, with a certificate from a CA made for the test."""

from __future__ import annotations

import datetime as dt
import ipaddress
import ssl
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from notifier.settings import NotifierSettings
from notifier.smtp import SEND_ERRORS, Mailer, PlainAuthRefused
from tests.support.servers import free_port


@dataclass
class Server:
    port: int
    ca_file: str
    received: list[tuple[bool, str]] = field(default_factory=list)
    """(was the session encrypted, the message's subject) per message accepted."""
    logins: list[tuple[bool, str]] = field(default_factory=list)
    """(was the session encrypted, the user) per AUTH attempt the server saw."""


def _certificates(folder: Path) -> tuple[Path, Path, Path]:
    """A CA and a server certificate for 127.0.0.1 signed by it (PEM files)."""
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "marcus test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    paths = folder / "ca.pem", folder / "server.pem", folder / "server.key"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return paths


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    return _certificates(tmp_path_factory.mktemp("smtp-tls"))


def _server(certificates: tuple[Path, Path, Path], *, starttls: bool) -> Iterator[Server]:
    ca, cert, key = certificates
    server = Server(port=free_port(), ca_file=str(ca))

    class Handler:
        async def handle_DATA(self, smtp: Any, session: Any, envelope: Any) -> str:
            subject = envelope.content.decode(errors="replace").split("Subject: ")[1]
            server.received.append((session.ssl is not None, subject.splitlines()[0]))
            return "250 OK"

    def authenticate(smtp: Any, session: Any, envelope: Any, mechanism: str, auth: Any) -> Any:
        assert isinstance(auth, LoginPassword)
        server.logins.append((session.ssl is not None, auth.login.decode()))
        return AuthResult(success=auth.password == b"smtp-pw")

    tls: ssl.SSLContext | None = None
    if starttls:
        tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls.load_cert_chain(str(cert), str(key))
    controller = Controller(
        Handler(),
        hostname="127.0.0.1",
        port=server.port,
        tls_context=tls,
        authenticator=authenticate,
        auth_require_tls=False,  # a careless server: the client must refuse by itself
    )
    controller.start()
    try:
        yield server
    finally:
        controller.stop()


@pytest.fixture
def tls_server(certificates: tuple[Path, Path, Path]) -> Iterator[Server]:
    yield from _server(certificates, starttls=True)


@pytest.fixture
def plain_server(certificates: tuple[Path, Path, Path]) -> Iterator[Server]:
    yield from _server(certificates, starttls=False)


def _message(subject: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = "orders@marcus.example"
    message["To"] = "alice@example.com"
    message["Subject"] = subject
    message.set_content("Your order is confirmed.")
    return message


def _settings(server: Server, **overrides: Any) -> NotifierSettings:
    return NotifierSettings(
        smtp_host="127.0.0.1",
        smtp_port=server.port,
        smtp_timeout_s=10,
        smtp_ca_file=server.ca_file,
        **overrides,
    )


async def _send(settings: NotifierSettings, subject: str) -> list[str]:
    replies: list[str] = []

    async def accepted(reply: str) -> None:
        replies.append(reply)

    await Mailer(settings).send(_message(subject), accepted)
    return replies


async def test_finding_9_starttls_is_used_by_default_when_the_server_offers_it(
    tls_server: Server,
) -> None:
    assert NotifierSettings().smtp_starttls is None  # the default: whenever offered
    await _send(_settings(tls_server), "plain settings")
    await _send(
        _settings(tls_server, smtp_username="notifier", smtp_password="smtp-pw"), "with auth"
    )
    assert tls_server.received == [(True, "plain settings"), (True, "with auth")]
    assert tls_server.logins == [(True, "notifier")]


async def test_finding_9_auth_is_never_sent_over_a_plain_connection(plain_server: Server) -> None:
    settings = _settings(plain_server, smtp_username="notifier", smtp_password="smtp-pw")
    with pytest.raises(PlainAuthRefused, match="offers no STARTTLS"):
        await _send(settings, "must not go")
    assert plain_server.logins == []
    assert plain_server.received == []
    with pytest.raises(ValueError, match="SMTP_USERNAME needs TLS"):
        Mailer(settings.model_copy(update={"smtp_starttls": False}))
    # Without credentials a server without TLS still gets its mail (the local catcher).
    await _send(_settings(plain_server), "no credentials")
    assert plain_server.received == [(False, "no credentials")]


async def test_finding_9_a_certificate_nobody_vouches_for_is_refused(tls_server: Server) -> None:
    settings = _settings(tls_server).model_copy(update={"smtp_ca_file": None})
    with pytest.raises(SEND_ERRORS):  # CERTIFICATE_VERIFY_FAILED: retried, then dead-lettered
        await _send(settings, "unverified")
    assert tls_server.received == []
