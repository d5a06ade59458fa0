"""Sending over SMTP (aiosmtplib). One connection per message: order e-mails are few,
and a fresh connection never inherits a half-broken session from an SMTP outage.

TLS: STARTTLS is used whenever the server offers it (`SMTP_STARTTLS` unset; true requires
it, false never asks), with the server's certificate verified (`SMTP_CA_FILE` for a
private CA). Credentials are never sent over a plain connection: with `SMTP_USERNAME`
set, a session that is not encrypted after the greeting is closed before AUTH and the
send fails (retried, then dead-lettered, like any refused send)."""

from __future__ import annotations

import ssl
from collections.abc import Awaitable, Callable
from email.message import EmailMessage

import aiosmtplib

from notifier.settings import NotifierSettings

SEND_ERRORS: tuple[type[BaseException], ...] = (aiosmtplib.SMTPException, OSError, TimeoutError)
"""What a failed send raises: refused, reset, timed out, or the server said no."""


class PlainAuthRefused(aiosmtplib.SMTPException):
    """The server offered no TLS, and credentials are not sent in the clear."""


class Mailer:
    def __init__(self, settings: NotifierSettings) -> None:
        if settings.smtp_username is not None and settings.smtp_starttls is False:
            raise ValueError("SMTP_USERNAME needs TLS: leave SMTP_STARTTLS unset or true")
        self._settings = settings
        self._tls = ssl.create_default_context(cafile=settings.smtp_ca_file)

    async def send(self, message: EmailMessage, accepted: Callable[[str], Awaitable[None]]) -> str:
        """Send; raises SEND_ERRORS unless the server accepted the message. Once it did
        (its reply to DATA), `accepted(reply)` runs before anything else, QUIT included:
        the time in which the message is out but not recorded as sent ends there. The
        session then closes; how it does (QUIT refused, connection reset) is ignored,
        since the message was taken. Returns the reply (e.g. "250 OK")."""
        s = self._settings
        client = aiosmtplib.SMTP(
            hostname=s.smtp_host,
            port=s.smtp_port,
            timeout=s.smtp_timeout_s,
            start_tls=s.smtp_starttls,
            tls_context=self._tls,
        )
        await client.connect()
        try:
            if s.smtp_username is not None:
                if client.get_transport_info("sslcontext") is None:
                    raise PlainAuthRefused(
                        f"{s.smtp_host}:{s.smtp_port} offers no STARTTLS: the SMTP password"
                        " is not sent over a plain connection"
                    )
                await client.login(s.smtp_username, s.smtp_password or "")
            _, reply = await client.send_message(message)
        except BaseException:
            client.close()
            raise
        try:
            await accepted(reply)
        finally:
            try:
                await client.quit()
            except SEND_ERRORS:
                client.close()
        return reply
